"""Request bodies take JSON scalars of their declared type only (lakehouse.text_fields.JsonBody).

Pydantic's lax mode would read `true` as 1, "12" as 12, 1 as `true` and a number as seconds
since 1970 for a date-time; the OpenAPI documents declare none of that, so every request model
of the three services refuses it with the field's name, and keeps JSON's own equivalences
(22.0 is an integer, 3 is a number, a date-time is a string).
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from api_ml.api.case_schemas import AssignRequest, DecisionRequest, LoginRequest, NoteRequest
from api_ml.api.schemas import SEED_EXAMPLE, LabelRequest, TransactionRequest
from lakehouse.text_fields import JsonBody
from sources_api.labels import LabelIn
from sources_api.schemas import TransactionIn

SOURCE_ROW = TransactionIn.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]
LABEL = {"transaction_id": 7, "label": 1, "known_at": "2020-01-02T00:00:00"}
SOURCE_LABEL = {"transaction_id": 7, "is_fraud": True, "label_known_at": "2020-01-02T00:00:00"}

REFUSED: list[tuple[type[BaseModel], dict[str, Any], str, object]] = [
    (TransactionRequest, SEED_EXAMPLE, "num_credit_cards", True),
    (TransactionRequest, SEED_EXAMPLE, "num_credit_cards", "2"),
    (TransactionRequest, SEED_EXAMPLE, "amount", True),
    (TransactionRequest, SEED_EXAMPLE, "amount", "12.5"),
    (TransactionRequest, SEED_EXAMPLE, "credit_score", False),
    (TransactionRequest, SEED_EXAMPLE, "card_id", True),
    (TransactionRequest, SEED_EXAMPLE, "timestamp", 1_600_000_000),
    (LabelRequest, LABEL, "label", True),
    (LabelRequest, LABEL, "transaction_id", "7"),
    (LabelRequest, LABEL, "known_at", 1_600_000_000),
    (TransactionIn, SOURCE_ROW, "id", True),
    (TransactionIn, SOURCE_ROW, "mcc", False),
    (TransactionIn, SOURCE_ROW, "zip", True),
    (LabelIn, SOURCE_LABEL, "is_fraud", 1),
    (LabelIn, SOURCE_LABEL, "is_fraud", "true"),
    (LabelIn, SOURCE_LABEL, "transaction_id", True),
    (LabelIn, SOURCE_LABEL, "label_known_at", 1_600_000_000),
]

ACCEPTED: list[tuple[type[BaseModel], dict[str, Any], str, object]] = [
    (TransactionRequest, SEED_EXAMPLE, "num_credit_cards", 22.0),  # JSON: an integer
    (TransactionRequest, SEED_EXAMPLE, "amount", 12),  # an integer is a number
    (TransactionRequest, SEED_EXAMPLE, "use_chip", "True"),  # the seed's spelling
    (LabelRequest, LABEL, "label", 0),
    (TransactionIn, SOURCE_ROW, "id", "7475327"),  # the CSV's text form
    (TransactionIn, SOURCE_ROW, "zip", 58523.0),
    (LabelIn, SOURCE_LABEL, "label_known_at", "2020-01-02T00:00:00Z"),
]


@pytest.mark.parametrize(("model", "body", "field", "value"), REFUSED)
def test_a_value_of_another_json_type_is_refused_naming_the_field(
    model: type[BaseModel], body: dict[str, Any], field: str, value: object
) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate({**body, field: value})
    assert [error["loc"] for error in refused.value.errors()] == [(field,)]


@pytest.mark.parametrize(("model", "body", "field", "value"), ACCEPTED)
def test_json_equivalent_values_are_accepted(
    model: type[BaseModel], body: dict[str, Any], field: str, value: object
) -> None:
    model.model_validate({**body, field: value})


@pytest.mark.parametrize(
    "model",
    [TransactionRequest, LabelRequest, LoginRequest, AssignRequest, DecisionRequest,
     NoteRequest, TransactionIn, LabelIn],
)
def test_every_request_body_is_a_json_body(model: type[BaseModel]) -> None:
    assert issubclass(model, JsonBody)
