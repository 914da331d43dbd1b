"""The scoring API's `/docs` and `/redoc` load over real HTTP with no external URL."""

from __future__ import annotations

import httpx
from testkit import assert_docs_load_offline

from api_ml.api.main import create_app
from lakehouse.config import Settings


def test_docs_pages_and_their_assets_load_offline(api_settings: Settings, live_server) -> None:  # type: ignore[no-untyped-def]
    with (
        live_server(create_app(api_settings)) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        assert_docs_load_offline(http)
