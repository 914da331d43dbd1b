"""The datamarts API while its PostgreSQL restarts or goes away: 503 with the reason, recovery.

A private PostgreSQL server (tests/pgkit.py; the machine's shared server is never touched)
holds the published datamarts, and the API serves them over real HTTP.

- Restart between two requests: the pooled connections die, and pool pre-ping replaces them
  before a query sees them, so the next request is a plain 200.
- Server down: 503, naming the analytics database. Never a 500.
- Server back: 200 again, with no restart of the API.
"""

from __future__ import annotations

from typing import Any

import httpx
import pyarrow as pa
import pytest
from api_pipeline_marts import publish_with_pipeline
from pgkit import private_postgres

pytestmark = pytest.mark.postgres


def test_restart_and_outage_of_postgres_under_the_api(
    pipeline_marts: dict[str, pa.Table], serve_api: Any
) -> None:
    with private_postgres() as pg:
        publish_with_pipeline(pg.url, pipeline_marts)
        with serve_api(pg.url) as base, httpx.Client(base_url=base, timeout=30) as http:
            assert http.get("/client_features").status_code == 200
            pg.restart()
            assert http.get("/client_features").status_code == 200  # pre-ping: no error at all

            pg.stop()
            for path in ("/client_features", "/health", "/summary"):
                down = http.get(path)
                assert down.status_code == 503, (path, down.text)
                assert down.json()["error"].startswith("analytics database unavailable")

            pg.start()
            assert http.get("/client_features").status_code == 200
            assert http.get("/health").status_code == 200
