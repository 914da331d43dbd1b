"""`/docs` and `/redoc` of sources_api and the datamarts API load over real HTTP, offline.

Each app is started on loopback with an empty data folder (the docs pages must not depend on
published datamarts); the pages must name no `http(s)://` address, and every script,
stylesheet and icon they reference must load from the service itself. The scoring API's
pages are checked in `tests/api_ml/test_docs_offline.py`, with its models loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from testkit import assert_docs_load_offline

from api.fastapi_app import create_app as create_api
from lakehouse.config import get_settings
from sources_api.api import create_app as create_sources_api

APPS: dict[str, Callable[[], FastAPI]] = {
    "sources_api": create_sources_api,
    "api": lambda: create_api(get_settings()),
}


@pytest.mark.parametrize("service", sorted(APPS))
def test_docs_pages_and_their_assets_load_offline(
    service: str,
    isolated_settings: Path,
    live_server,  # type: ignore[no-untyped-def]
) -> None:
    with live_server(APPS[service]()) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert_docs_load_offline(http)
