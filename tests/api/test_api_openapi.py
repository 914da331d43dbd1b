"""Property-based run of the API's own OpenAPI spec with schemathesis, over real HTTP.

For every operation of the spec, schemathesis generates valid and invalid requests (a
bounded number of each) against the API serving published datamarts, on SQLite and on
PostgreSQL, and runs every check schemathesis has: no answer is a 5xx, every status code,
content type and body — errors included — is the one the spec declares, valid input is
accepted and invalid input refused.

The schemathesis pytest plugin does not run under pytest 9 (it reads a removed node
attribute), so the operations are driven through its Python API with hypothesis directly.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.generation.modes import GenerationMode
from testkit import run_schemathesis

EXAMPLES_PER_MODE = 25


def _check_operation(operation: Any, mode: GenerationMode, base_url: str) -> None:
    run_schemathesis(operation, mode, base_url, EXAMPLES_PER_MODE)


def test_openapi_spec_holds_for_every_operation(api_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    # /health, /summary, and a list + a by-key route for each of the five datamarts.
    assert len(operations) == 12
    for operation in operations:
        _check_operation(operation, GenerationMode.POSITIVE, api_url)
        # An operation without parameters (/health) has no invalid request to generate.
        if operation.definition.raw.get("parameters"):
            _check_operation(operation, GenerationMode.NEGATIVE, api_url)
