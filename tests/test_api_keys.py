"""One API-key behaviour on every service (`lakehouse.api_keys`), over real HTTP.

Each service runs with LAKEHOUSE_API_KEY and LAKEHOUSE_READ_API_KEY set, on empty local
stores (the answers past the key check may be 503: nothing is published or trained — what
matters is that the check itself answers the same everywhere): 401 without the header, 403
with a wrong key, 403 (not 500, issue 14) with a header that is not ASCII, and the key check
passed with the right one. The read-only key reads, never writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.fastapi_app import create_app as create_api
from api_ml.api.main import create_app as create_api_ml
from lakehouse.client_keys import client_headers
from lakehouse.config import Settings, get_settings
from sources_api.api import create_app as create_sources_api

WRITE_KEY, READ_KEY = "the-write-key", "the-read-key"
WRONG = ["nope", "clé".encode(), "✓✓".encode(), b"\xff\xfe"]


def _sources_api(settings: Settings) -> FastAPI:
    app = create_sources_api()
    app.dependency_overrides[get_settings] = lambda: settings
    return app


# service -> (app factory, method, path of a protected route, access level)
SERVICES: dict[str, tuple[Callable[[Settings], FastAPI], str, str, str]] = {
    "sources_api": (_sources_api, "GET", "/files/cards_data.csv", "read"),
    "sources_api-write": (_sources_api, "POST", "/transactions", "write"),
    "api": (create_api, "GET", "/summary", "read"),
    "api_ml": (create_api_ml, "POST", "/model/reload", "write"),
}


@pytest.fixture
def keyed_settings(isolated_settings: Path) -> Settings:
    (isolated_settings / "raw").mkdir(parents=True)
    (isolated_settings / "raw" / "cards_data.csv").write_text("id,client_id\n1,2\n")
    return Settings(
        data_dir=isolated_settings, api_key=WRITE_KEY, read_api_key=READ_KEY, model_poll_seconds=0
    )


@pytest.fixture(params=list(SERVICES))
def service(
    request: pytest.FixtureRequest, keyed_settings: Settings, live_server: Any
) -> Iterator[tuple[str, str, str, str]]:
    factory, method, path, access = SERVICES[request.param]
    with live_server(factory(keyed_settings)) as base:
        yield base, method, path, access


def test_every_service_checks_the_key_the_same_way(service: tuple[str, str, str, str]) -> None:
    base, method, path, access = service
    with httpx.Client(base_url=base, timeout=60) as http:
        missing = http.request(method, path, json=[])
        assert missing.status_code == 401, missing.text
        assert "X-API-Key" in missing.json()["error"]
        for wrong in WRONG:
            answer = http.request(method, path, json=[], headers={"X-API-Key": wrong})
            assert answer.status_code == 403, (wrong, answer.text)
        right = http.request(method, path, json=[], headers={"X-API-Key": WRITE_KEY})
        assert right.status_code not in {401, 403, 500}, right.text
        read_only = http.request(method, path, json=[], headers={"X-API-Key": READ_KEY})
        if access == "read":
            assert read_only.status_code not in {401, 403, 500}, read_only.text
        else:
            assert read_only.status_code == 403
        assert http.get("/health").status_code in {200, 503}  # probes need no key


def test_clients_send_the_least_powerful_key() -> None:
    both = Settings(api_key=WRITE_KEY, read_api_key=READ_KEY)
    assert client_headers(both, "read") == {"X-API-Key": READ_KEY}
    assert client_headers(both, "write") == {"X-API-Key": WRITE_KEY}
    assert client_headers(Settings(api_key=WRITE_KEY), "read") == {"X-API-Key": WRITE_KEY}
    assert client_headers(Settings(), "read") == {}
    assert client_headers(Settings(api_key=""), "write") == {}


def test_a_read_key_alone_is_refused() -> None:
    """Reads protected but writes open would be a trap: the settings refuse it."""
    with pytest.raises(ValueError, match="LAKEHOUSE_READ_API_KEY is set without LAKEHOUSE_API_KEY"):
        Settings(read_api_key=READ_KEY)
