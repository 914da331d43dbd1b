"""Schemathesis over sources_api's own OpenAPI spec: no generated request gets a 5xx.

Valid-looking and invalid requests (a bounded number of each) for every operation, over real
HTTP against a real SQLite source DB, with the API key on so the write endpoints are exercised
both with and without it. Driven through schemathesis' Python API with hypothesis, as the
pytest plugin does not run under pytest 9.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

from lakehouse.config import get_settings
from sources_api.api import create_app

EXAMPLES_PER_MODE = 25


def _check(operation: Any, mode: GenerationMode, base_url: str, headers: dict[str, str]) -> None:
    @settings(max_examples=EXAMPLES_PER_MODE, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=[not_a_server_error])

    check()


def test_no_generated_request_gets_a_server_error(
    isolated_settings: Path, live_server, monkeypatch
) -> None:
    monkeypatch.setenv("LAKEHOUSE_API_KEY", "fuzz-key")
    get_settings.cache_clear()
    raw = isolated_settings / "raw"
    raw.mkdir(parents=True)
    (raw / "mcc_codes.json").write_text('{"5812": "Eating Places and Restaurants"}')
    with live_server(create_app()) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        paths = {operation.path for operation in operations}
        assert {"/files", "/files/{name}", "/transactions", "/transactions/csv"} <= paths
        for operation in operations:
            for headers in ({"X-API-Key": "fuzz-key"}, {}):
                _check(operation, GenerationMode.POSITIVE, url, headers)
                if operation.method.upper() == "POST":
                    _check(operation, GenerationMode.NEGATIVE, url, headers)
