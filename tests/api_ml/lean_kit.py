"""What the lean-path tests share: one POST answered by two services, compared as text.

`test_lean_predict.py` and `test_lean_batch.py` send the same request to a service whose lean
path answers it and to one whose FastAPI route does, and compare status, content type, body
and the `/metrics` series of the route.
"""

from __future__ import annotations

import re

import httpx

# Case ids of requests without a transaction id are random per service: masked.
RANDOM_CASE_ID = r'"case_id":"req-[^"]*"'


def send(
    http: httpx.Client,
    path: str,
    query: str,
    body: bytes | None,
    content_type: str,
    masked: str = RANDOM_CASE_ID,
) -> tuple:
    """Status, content type and body (what `masked` matches replaced) of one POST."""
    headers = {} if body is None else {"content-type": content_type}
    response = http.post(f"{path}{query}", content=body or b"", headers=headers)
    text = re.sub(masked, '"case_id":"<case>"', response.text)
    return response.status_code, response.headers.get("content-type"), text


def route_series(http: httpx.Client, route: str) -> list[str]:
    """The `/metrics` lines that count `route`'s requests, scores and decisions."""
    text = http.get("/metrics").text
    return sorted(
        line
        for line in text.splitlines()
        if (
            (f'route="{route}"' in line and line.startswith("http_requests_total"))
            or line.startswith(("api_ml_decisions_total", "api_ml_fraud_probability_count"))
        )
    )
