"""Schemathesis over the scoring API's own OpenAPI spec, with every check it has.

Valid and invalid payloads (a bounded number of each) for every operation, over real HTTP,
with both models loaded. Every answer must pass all of schemathesis' checks: no 5xx, every
status code, content type, header and body (errors included) as the spec declares, valid
input accepted — the spec's patterns state exactly which spellings of a brand, card type,
`use_chip` and merchant state are accepted — and invalid input refused. The scoring API's
databases are the monitoring store (feature samples, shadow scores) and the case store; the run
is made with the monitoring store on SQLite and on PostgreSQL (the case store on PostgreSQL is
covered by test_case_api.py). The case API's routes run with a lead's bearer token.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from schemathesis.generation.modes import GenerationMode
from test_case_api import PASSWORD, case_settings
from testkit import run_schemathesis

from api_ml.api.main import create_app
from lakehouse.config import get_settings

EXAMPLES_PER_MODE = 10


@pytest.fixture(params=["sqlite", "postgresql"])
def monitor_db(request: pytest.FixtureRequest, api_settings, monkeypatch) -> str:  # type: ignore[no-untyped-def]
    # Every scored transaction is sampled, so the store is written to, not just configured.
    monkeypatch.setenv("LAKEHOUSE_SKEW_SAMPLE_RATE", "1")
    if request.param == "postgresql":
        monkeypatch.setenv("LAKEHOUSE_MONITOR_DB_URL", request.getfixturevalue("pg_url"))
    get_settings.cache_clear()
    return request.param


def test_every_operation_passes_every_check(monitor_db: str, live_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = case_settings(get_settings(), tmp_path, f"sqlite:///{tmp_path / 'analytics.db'}")
    with live_server(create_app(settings)) as url:
        login = httpx.post(f"{url}/auth/token", json={"username": "lena", "password": PASSWORD})
        lead = {"Authorization": f"Bearer {login.json()['access_token']}"}
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        paths = {operation.path for operation in operations}
        assert {"/predict", "/predict/batch", "/model/info", "/health", "/model/reload"} <= paths
        assert {"/cases", "/cases/{case_id}/decision", "/auth/token", "/audit"} <= paths
        for operation in operations:
            # The case routes run as a lead, so their bodies reach the store, not just a 401.
            case_route = operation.path.startswith(("/cases", "/audit", "/auth/me"))
            headers = lead if case_route else None
            run_schemathesis(operation, GenerationMode.POSITIVE, url, EXAMPLES_PER_MODE, headers)
            if len(operation.body):  # the operations that take a body
                run_schemathesis(
                    operation, GenerationMode.NEGATIVE, url, EXAMPLES_PER_MODE, headers
                )
