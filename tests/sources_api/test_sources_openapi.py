"""Schemathesis over sources_api's own OpenAPI spec, with every check it has.

Valid and invalid requests (a bounded number of each) for every operation, over real HTTP,
on a SQLite and on a PostgreSQL source DB, with the API key on so the write endpoints are
exercised both with and without it. Every answer must pass all of schemathesis' checks: no
5xx, every status code, content type, header and body (errors included) as the spec
declares, valid input accepted, invalid input refused.

One exception, on the two batch uploads only: "schema-valid data is accepted"
(`positive_data_acceptance`). A batch is judged by the rules of the source file format
(`lakehouse.formats`: the text of each column, real calendar dates, ids unique within the
batch, an ONLINE city with an empty state), and a CSV upload is an opaque file to OpenAPI:
no JSON schema can state those rules, so a schema-valid batch may rightly get 422 with the
row and column. Every other check, the 422 body's shape included, holds on those routes too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from testkit import run_schemathesis, sqlite_or_postgres

from lakehouse.config import get_settings
from sources_api.api import create_app

EXAMPLES_PER_MODE = 20


@pytest.fixture(params=["sqlite", "postgresql"])
def source_db(request: pytest.FixtureRequest, isolated_settings: Path) -> str:
    return sqlite_or_postgres(request, isolated_settings, "source.db")


def test_every_operation_passes_every_check(
    source_db: str, isolated_settings: Path, live_server, monkeypatch
) -> None:
    monkeypatch.setenv("LAKEHOUSE_API_KEY", "fuzz-key")
    monkeypatch.setenv("LAKEHOUSE_SOURCE_DB_URL", source_db)
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
            is_upload = operation.method.upper() == "POST"
            excluded = [positive_data_acceptance] if is_upload else None
            for headers in ({"X-API-Key": "fuzz-key"}, {}):
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)[: 1 + is_upload]:
                    run_schemathesis(operation, mode, url, EXAMPLES_PER_MODE, headers, excluded)
