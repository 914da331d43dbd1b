"""Schemathesis over the scoring API's own OpenAPI spec: no generated request gets a 5xx.

Valid and invalid payloads (a bounded number of each) for every operation, over real HTTP,
with both models loaded. The schemathesis pytest plugin does not run under pytest 9, so the
operations are driven through its Python API with hypothesis directly.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from testkit import run_schemathesis

from api_ml.api.main import create_app

EXAMPLES_PER_MODE = 30


def _check(operation: Any, mode: GenerationMode, base_url: str) -> None:
    run_schemathesis(operation, mode, base_url, [not_a_server_error], EXAMPLES_PER_MODE)


def test_no_generated_request_gets_a_server_error(api_settings, live_server) -> None:  # type: ignore[no-untyped-def]
    with live_server(create_app(api_settings)) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        paths = {operation.path for operation in operations}
        assert {"/predict", "/predict/batch", "/model/info", "/health", "/model/reload"} <= paths
        for operation in operations:
            _check(operation, GenerationMode.POSITIVE, url)
            if operation.path.startswith("/predict"):  # the operations that take a body
                _check(operation, GenerationMode.NEGATIVE, url)
