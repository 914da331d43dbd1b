"""`LAKEHOUSE_MAX_BODY_BYTES` on the scoring API, over real HTTP (`observability.body_limit`).

Neither uvicorn nor Starlette bounds a body, and the lean `/predict` paths read theirs whole:
an oversized body is answered 413 with the error model, announced or streamed (chunked, no
Content-Length), on the lean paths and through FastAPI's route alike, and the next request
is served as usual.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from api_ml_lake import seed_payload

from api_ml.api.main import create_app

LIMIT = 4096


def _chunked(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 1024):
        yield body[start : start + 1024]


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8"]  # lean, route
)
def test_an_oversized_body_is_413_and_the_next_request_is_served(
    api_settings, live_server, path: str, content_type: str
) -> None:  # type: ignore[no-untyped-def]
    settings = api_settings.model_copy(update={"max_body_bytes": LIMIT})
    body = seed_payload() if path == "/predict" else [seed_payload()]
    oversized = json.dumps([seed_payload()] * 40 if path.endswith("batch") else {
        **seed_payload(), "padding": "x" * 2 * LIMIT})  # fmt: skip
    assert len(oversized) > LIMIT
    headers = {"content-type": content_type}
    with live_server(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as http:
        for content in (oversized.encode(), _chunked(oversized.encode())):
            answer = http.post(path, content=content, headers=headers)
            assert answer.status_code == 413, answer.text
            error = answer.json()
            assert error["status"] == 413 and "LAKEHOUSE_MAX_BODY_BYTES" in error["error"]
            assert http.post(path, json=body).status_code == 200
        assert 'status="413"' in http.get("/metrics").text
