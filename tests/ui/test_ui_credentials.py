"""The UI never hands a visitor the choice of where the API key goes (issue 14).

The service URLs are deployment settings: the sidebar shows them, with no input to change
them. The key goes only where a protected route is called — the datamarts API's reads — and
nowhere else. Three recording HTTP servers on loopback stand in for the services, so every
header the UI sends is seen.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from api_ml.ui.client import LakehouseClient
from lakehouse.config import get_settings

APP = str(Path(__file__).resolve().parents[2] / "api_ml" / "ui" / "streamlit_app.py")
KEY = "ui-test-api-key"
URL_SETTINGS = {
    "api": "LAKEHOUSE_API_URL",
    "api_ml": "LAKEHOUSE_API_ML_URL",
    "sources_api": "LAKEHOUSE_SOURCES_API_URL",
}


class _Recorder(BaseHTTPRequestHandler):
    """Answers every request with a small JSON body and records its path and key header."""

    seen: list[tuple[str, str | None]]

    def _answer(self) -> None:
        self.seen.append((self.path, self.headers.get("X-API-Key")))
        body = json.dumps(
            {"status": "ok", "data": [], "count": 0, "models": {}, "unavailable": {}}
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list]]:
    for name in list(os.environ):
        if name.startswith("LAKEHOUSE_") or name == "MLFLOW_TRACKING_URI":
            monkeypatch.delenv(name)
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LAKEHOUSE_API_KEY", KEY)
    seen: dict[str, list] = {}
    servers = []
    for service, setting in URL_SETTINGS.items():
        handler = type(f"Recorder_{service}", (_Recorder,), {"seen": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        seen[service] = handler.seen
        monkeypatch.setenv(setting, f"http://127.0.0.1:{server.server_port}")
    get_settings.cache_clear()
    yield seen
    for server in servers:
        server.shutdown()
        server.server_close()
    get_settings.cache_clear()


def test_the_sidebar_shows_the_configured_urls_and_offers_no_input(recorders) -> None:  # type: ignore[no-untyped-def]
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.sidebar.text_input, "a visitor must not be able to redirect the services"
    shown = " ".join(m.value for m in at.sidebar.markdown)
    for setting in URL_SETTINGS.values():
        assert os.environ[setting] in shown and setting in shown
    assert all(requests for requests in recorders.values())  # the health checks went out
    assert not [key for requests in recorders.values() for _, key in requests if key]


def test_the_key_goes_only_to_the_protected_reads(recorders) -> None:  # type: ignore[no-untyped-def]
    client = LakehouseClient.from_settings()
    client.health()
    client.model_info()
    client.predict({"amount": 1.0})
    client.source_stats()
    client.summary()
    client.datamart("client_features", limit=5)
    assert {key for _, key in recorders["api_ml"] + recorders["sources_api"]} == {None}
    by_path = dict(recorders["api"])
    assert by_path["/health"] is None
    assert by_path["/summary?top=10&min_labeled=20"] == KEY
    assert by_path["/client_features?limit=5"] == KEY
