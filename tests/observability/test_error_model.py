"""One error model per service, declared for every status: checked on all three apps at once.

Each app is built as `lakehouse serve` builds it and served over real HTTP on loopback. Every
operation of each OpenAPI document must declare the shared `ErrorPublic` body for 503, for 422
when it takes parameters or a body, and for 400 when it takes a body. An undecodable body
(bytes that are not UTF-8) must get that 400, in that shape, on every route that takes JSON.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from lakehouse.config import Settings

REF = "#/components/schemas/ErrorPublic"


def _apps(tmp: Path) -> dict[str, FastAPI]:
    from api.fastapi_app import create_app as create_api
    from api_ml.api.main import create_app as create_api_ml
    from sources_api.api import create_app as create_sources_api

    settings = Settings(data_dir=tmp, model_poll_seconds=0)
    return {
        "sources_api": create_sources_api(),
        "api": create_api(settings),
        "api_ml": create_api_ml(settings),
    }


@pytest.fixture
def apps(isolated_settings: Path) -> dict[str, FastAPI]:
    return _apps(isolated_settings)


def test_every_operation_declares_its_error_statuses(apps: dict[str, FastAPI]) -> None:
    for service, app in apps.items():
        document = app.openapi()
        assert "HTTPValidationError" not in document["components"]["schemas"], service
        for path, item in document["paths"].items():
            for method, operation in item.items():
                responses = operation["responses"]
                expected = {"503"}
                if operation.get("parameters") or operation.get("requestBody"):
                    expected.add("422")
                if operation.get("requestBody"):
                    expected.add("400")
                where = f"{service} {method.upper()} {path}"
                assert expected <= set(responses), (where, sorted(responses))
                for status, response in responses.items():
                    if int(status) >= 400:
                        schema = response["content"]["application/json"]["schema"]
                        assert schema == {"$ref": REF}, (where, status)


@pytest.mark.parametrize(
    ("service", "path"),
    [("api_ml", "/predict"), ("api_ml", "/predict/batch"), ("sources_api", "/transactions")],
)
def test_an_undecodable_body_gets_the_declared_400(
    apps: dict[str, FastAPI], service: str, path: str, live_server
) -> None:  # type: ignore[no-untyped-def]
    with live_server(apps[service]) as url:
        response = httpx.post(
            f"{url}{path}",
            content=b'{"amount": "\xff\xfe"}',
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error", "status", "detail", "truncated"} and body["status"] == 400
