"""Request and response bodies of the scoring API (`POST /predict`, `/predict/batch`, ...).

A client posts the seed's eleven fields (`TransactionRequest`); the optional identifiers
(`card_id`, `client_id`, `merchant_id`, `mcc`, `timestamp`, ...) switch scoring to the full
model. Pydantic checks types and the ranges the dataset defines (credit score 300..850,
money never negative); the vocabularies (brands, types, states) are checked afterwards in
`normalise.py` against what the loaded model was trained on. Responses keep the seed's
`fraud_probability`, `is_fraud`, `confidence` first; every other field is additive.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from operator import itemgetter
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from api_ml.api.spelling import (
    CARD_BRAND_PATTERN,
    CARD_TYPE_PATTERN,
    MERCHANT_STATE_PATTERN,
    USE_CHIP_PATTERN,
)
from lakehouse.formats import CARD_BRANDS, CARD_TYPES, USE_CHIP_VALUES
from lakehouse.text_fields import JsonBody, RequestDatetime

MAX_BATCH = 1000
# Amounts beyond this are not card transactions; rejecting them keeps the model in range.
MAX_AMOUNT = 1_000_000.0
MAX_MONEY = 100_000_000.0
# Identifiers stay exact in any JSON parser (53-bit doubles), the OpenAPI bounds included.
MAX_ID = 2**53 - 1
# How many accepted spellings each vocabulary field remembers (see `_spelled_as`).
SPELLINGS_KEPT = 4096

Flavour = Literal["basic", "full"]
Confidence = Literal["Haute", "Moyenne"]
# The seed README's curl example: the documented request, and the tests' default payload.
SEED_EXAMPLE: dict[str, object] = {
    "amount": 123.45,
    "card_brand": "VISA",
    "card_type": "CREDIT",
    "merchant_state": "NY",
    "use_chip": "True",
    "credit_limit": 5000,
    "per_capita_income": 35000,
    "yearly_income": 42000,
    "total_debt": 1000,
    "credit_score": 700,
    "num_credit_cards": 2,
}


def _spelled_as(pattern: str, allowed: list[str], hint: str) -> Callable[[str], str]:
    """A validator accepting what `pattern` (also the OpenAPI pattern) matches.

    The values it accepted are remembered (up to `SPELLINGS_KEPT`): the patterns are long
    alternations (every US state in every spelling), ~1 µs a search, and a batch repeats a
    handful of spellings.
    """
    compiled = re.compile(pattern)
    accepted: set[str] = set()

    def check(value: str) -> str:
        if value in accepted:
            return value
        if not compiled.search(value):
            raise PydanticCustomError(
                "value_not_allowed",
                "{value} is not allowed ({hint}); allowed: {shown}",
                {"value": repr(value[:40]), "hint": hint, "shown": ", ".join(allowed),
                 "allowed": allowed},
            )  # fmt: skip
        if len(accepted) < SPELLINGS_KEPT:  # bounded: clients may send endless spellings
            accepted.add(value)
        return value

    return check


def _vocabulary(pattern: str, allowed: list[str], hint: str, max_length: int) -> Any:
    """A text field whose accepted spellings the OpenAPI document states as a pattern."""
    return Annotated[
        str,
        Field(max_length=max_length, json_schema_extra={"pattern": pattern}),
        AfterValidator(_spelled_as(pattern, allowed, hint)),
    ]


ANY_SPELLING = "any case, accents, spaces or dashes"
CardBrand = _vocabulary(CARD_BRAND_PATTERN, list(CARD_BRANDS), ANY_SPELLING, 40)
CardType = _vocabulary(CARD_TYPE_PATTERN, list(CARD_TYPES), ANY_SPELLING + "; 'prepaid'", 40)
UseChip = Annotated[
    _vocabulary(USE_CHIP_PATTERN, ["True", "False", *USE_CHIP_VALUES], ANY_SPELLING, 40),
    # JSON true/false mean what the seed's "True"/"False" strings mean: one field, one error.
    BeforeValidator(lambda value: str(value) if isinstance(value, bool) else value),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "maxLength": 40, "pattern": USE_CHIP_PATTERN},
                   {"type": "boolean"}]}
    ),
]  # fmt: skip
MerchantState = _vocabulary(
    MERCHANT_STATE_PATTERN,
    ["<US state code>", "ONLINE", "<a foreign country name>"],
    "a 2-letter code must be a US state's",
    60,
)


class TransactionBase(JsonBody):
    """The seed's payload, unchanged: every field the seed's curl example sends."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [SEED_EXAMPLE]},
    )

    amount: float = Field(
        ...,
        ge=-MAX_AMOUNT,
        le=MAX_AMOUNT,
        allow_inf_nan=False,
        description="Transaction amount in dollars; negative for a refund.",
    )
    card_brand: CardBrand = Field(
        ..., description="Visa, Mastercard, Amex, Discover (any case and accents)."
    )
    card_type: CardType = Field(
        ...,
        description="Debit, Credit or Debit (Prepaid): any case and accents (the seed's "
        "'Crédit', 'Débit'); 'prepaid' too.",
    )
    merchant_state: MerchantState = Field(
        ..., description="US state code, ONLINE, or a foreign country (the model: abroad)."
    )
    use_chip: UseChip = Field(
        ...,
        description="'True'/'False' (seed) or the dataset's Swipe/Chip/Online Transaction.",
    )
    credit_limit: float = Field(..., ge=0, le=MAX_MONEY, allow_inf_nan=False)
    per_capita_income: float = Field(..., ge=0, le=MAX_MONEY, allow_inf_nan=False)
    yearly_income: float = Field(..., ge=0, le=MAX_MONEY, allow_inf_nan=False)
    total_debt: float = Field(..., ge=0, le=MAX_MONEY, allow_inf_nan=False)
    credit_score: float | None = Field(
        ..., ge=300, le=850, allow_inf_nan=False, description="300..850, or null if unknown."
    )
    num_credit_cards: int | None = Field(..., ge=0, le=50, description="0..50, or null if unknown.")


# The seed's eleven fields, in its order: what every copy of a seed payload carries.
SEED_FIELDS: tuple[str, ...] = tuple(TransactionBase.model_fields)


def _one_model_or_the_other(schema: dict[str, Any]) -> None:
    """State in the document what `wants_full_model` and the full model demand.

    Either no optional field is given (basic model), or the four identifiers that key the
    card's and client's history all are (full model).
    """
    schema["examples"] = [SEED_EXAMPLE]
    schema["anyOf"] = [
        {"properties": {name: {"type": "null"} for name in OPTIONAL_FIELDS}},
        {
            "required": list(FULL_MODEL_REQUIRED),
            # The non-null alternative of each identifier, with its bounds.
            "properties": {
                name: schema["properties"][name]["anyOf"][0] for name in FULL_MODEL_REQUIRED
            },
        },
    ]


class TransactionRequest(TransactionBase):
    """Seed payload plus the optional fields that select the full (behavioural) model."""

    model_config = ConfigDict(json_schema_extra=_one_model_or_the_other)

    transaction_id: int | None = Field(
        None,
        ge=0,
        le=MAX_ID,
        description="Re-score a transaction the lake already holds: its stored copy is "
        "replaced by this one instead of counting twice in the card's history.",
    )
    card_id: int | None = Field(None, ge=0, le=MAX_ID)
    client_id: int | None = Field(None, ge=0, le=MAX_ID)
    merchant_id: int | None = Field(None, ge=0, le=MAX_ID)
    mcc: int | None = Field(None, ge=0, le=9999, description="ISO 18245 merchant category code.")
    timestamp: RequestDatetime | None = Field(
        None, description="When the transaction happened (default: now, UTC)."
    )
    merchant_city: str | None = Field(None, max_length=80)
    zip: str | None = Field(None, max_length=12)
    errors: str | None = Field(
        None, max_length=200, description="Comma-joined error list, e.g. 'Bad PIN'."
    )

    def wants_full_model(self) -> bool:
        """Any optional identifier means the client knows the card: use the full model.

        Returns:
            True when any of `OPTIONAL_FIELDS` is set.
        """
        # The fields as stored (`extra="forbid"`: `__dict__` holds exactly them), read in one
        # call: a batch asks this of every row.
        return _OPTIONAL_VALUES(self.__dict__) != _NONE_GIVEN


OPTIONAL_FIELDS = (
    "transaction_id",
    "card_id",
    "client_id",
    "merchant_id",
    "mcc",
    "timestamp",
    "merchant_city",
    "zip",
    "errors",
)
_OPTIONAL_VALUES = itemgetter(*OPTIONAL_FIELDS)
_NONE_GIVEN = (None,) * len(OPTIONAL_FIELDS)
# The full model cannot run without these: they key the card's and client's history.
FULL_MODEL_REQUIRED = ("card_id", "client_id", "merchant_id", "mcc")


class Reason(BaseModel):
    feature: str
    contribution: float


class OnlineInfo(BaseModel):
    """What the online feature state knew when the transaction was scored (full model)."""

    card_known: bool = Field(..., description="The card had earlier events in the state.")
    client_known: bool = Field(..., description="The client had earlier events in the state.")
    within_horizon: bool = Field(
        ...,
        description="The transaction is recent enough for its features to equal its gold "
        "`ml_features` row; false: older than the state's horizon (`/model/info` exact_from), "
        "windows may miss events the state no longer holds.",
    )
    degraded: bool = Field(
        False, description="The online store was unreachable: features from empty state."
    )


class PredictionResponse(BaseModel):
    """The seed's three fields first; the rest tells which model answered and why."""

    fraud_probability: float
    is_fraud: bool
    confidence: Confidence = Field(
        ..., description="Seed label: 'Haute' when the score is far from the threshold."
    )
    confidence_score: float = Field(
        ..., description="Distance from the threshold, 0 (on it) .. 1 (certain)."
    )
    model_name: str
    model_version: str
    flavour: Flavour
    threshold: float
    reasons: list[Reason] = Field(default_factory=list)
    features: dict[str, float | None] | None = Field(
        None, description="The model inputs, only with `?include_features=true`."
    )
    decision: Literal["approve", "review", "decline"] | None = Field(
        None, description="The model's cost policy applied to this transaction (docs/cases.md)."
    )
    decision_rule: str | None = Field(None, description="The policy rule that fired, in words.")
    expected_loss: float | None = Field(None, description="P(fraud) x amount, in dollars.")
    case_id: str | None = Field(
        None, description="The analysts' case opened for a review or decline."
    )
    online: OnlineInfo | None = Field(None, description="Full model: what the state knew.")


class BatchResponse(BaseModel):
    data: list[PredictionResponse]
    count: int


class ModelPublic(BaseModel):
    name: str
    version: str
    flavour: Flavour
    threshold: float
    metrics: dict[str, float]
    data_versions: dict[str, int]
    feature_set_version: str
    feature_columns: list[str]
    run_id: str
    trained_at: str
    loaded_at: str
    vocabulary: dict[str, list[str]] = Field(
        default_factory=dict, description="Values the model accepts per categorical field."
    )
    compiled_trees: bool = Field(
        False,
        description="Its scores come from its trees compiled to machine code (the same numbers); "
        "false: LightGBM's own predictor (LAKEHOUSE_COMPILED_TREES=false, or the compiled "
        "trees were refused at load, see the service log).",
    )


class ModelInfoResponse(BaseModel):
    models: dict[str, ModelPublic | None]
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="Flavour -> why it is not being served."
    )
    online_state: dict[str, object] | None = None
    source_feed: dict[str, object] | None = Field(
        None,
        description="The source feed: polls, events and labels added, lag since its last poll.",
    )


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"]
    models: dict[str, str]
    unavailable: dict[str, str] = Field(default_factory=dict)


class ReloadResponse(BaseModel):
    changed: bool
    models: dict[str, str]
    unavailable: dict[str, str] = Field(default_factory=dict)


class LabelRequest(JsonBody):
    """A label that became known (an analyst's decision, a late label file)."""

    model_config = ConfigDict(extra="forbid")

    transaction_id: int = Field(..., ge=0, le=MAX_ID)
    label: Literal[0, 1] = Field(..., description="1 fraud, 0 legitimate.")
    known_at: RequestDatetime = Field(
        ...,
        description="When it became known (silver label_known_at).",
    )
    merchant_id: int | None = Field(
        None, ge=0, le=MAX_ID, description="Needed when the transaction is outside the state."
    )
    mcc: int | None = Field(None, ge=0, le=9999)


class LabelResponse(BaseModel):
    counted: bool = Field(
        ...,
        description="False: the transaction is unknown to the state and no merchant/MCC "
        "was given; the next reload from the lake counts the label.",
    )
    usable_from_day: str = Field(..., description="First day (UTC) whose transactions use it.")
