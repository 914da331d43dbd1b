"""Schemathesis over the scoring API's own OpenAPI spec, with every check it has.

Valid and invalid payloads (a bounded number of each) for every operation, over real HTTP,
with both models loaded. Every answer must pass all of schemathesis' checks: no 5xx, every
status code, content type, header and body (errors included) as the spec declares, valid
input accepted — the spec's patterns state exactly which spellings of a brand, card type,
`use_chip` and merchant state are accepted — and invalid input refused. The scoring API
has no database of its own (models come from the MLflow store), so there is no PostgreSQL
variant; sources_api and the datamarts API run theirs on both databases.
"""

from __future__ import annotations

import schemathesis
from schemathesis.generation.modes import GenerationMode
from testkit import run_schemathesis

from api_ml.api.main import create_app

EXAMPLES_PER_MODE = 15


def test_every_operation_passes_every_check(api_settings, live_server) -> None:  # type: ignore[no-untyped-def]
    with live_server(create_app(api_settings)) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        paths = {operation.path for operation in operations}
        assert {"/predict", "/predict/batch", "/model/info", "/health", "/model/reload"} <= paths
        for operation in operations:
            run_schemathesis(operation, GenerationMode.POSITIVE, url, EXAMPLES_PER_MODE)
            if operation.path.startswith("/predict"):  # the operations that take a body
                run_schemathesis(operation, GenerationMode.NEGATIVE, url, EXAMPLES_PER_MODE)
