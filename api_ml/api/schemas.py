"""Request and response bodies of the scoring API (`POST /predict`, `/predict/batch`, ...).

A client posts the seed's eleven fields (`TransactionRequest`); the optional identifiers
(`card_id`, `client_id`, `merchant_id`, `mcc`, `timestamp`, ...) switch scoring to the full
model. Pydantic checks types and the ranges the dataset defines (credit score 300..850,
money never negative); the vocabularies (brands, types, states) are checked afterwards in
`normalise.py` against what the loaded model was trained on. Responses keep the seed's
`fraud_probability`, `is_fraud`, `confidence` first; every other field is additive.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_BATCH = 1000
# Amounts beyond this are not card transactions; rejecting them keeps the model in range.
MAX_AMOUNT = 1_000_000.0
MAX_MONEY = 100_000_000.0
MAX_ID = 2**62

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


class TransactionBase(BaseModel):
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
    card_brand: str = Field(
        ..., max_length=40, description="Visa, Mastercard, Amex, Discover (any case)."
    )
    card_type: str = Field(
        ...,
        max_length=40,
        description="Debit, Credit or Debit (Prepaid) (any case; 'prepaid' too).",
    )
    merchant_state: str = Field(
        ..., max_length=60, description="US state code, ONLINE, or a country the model knows."
    )
    use_chip: str | bool = Field(
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


class TransactionRequest(TransactionBase):
    """Seed payload plus the optional fields that select the full (behavioural) model."""

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
    timestamp: datetime | None = Field(
        None, description="When the transaction happened (default: now, UTC)."
    )
    merchant_city: str | None = Field(None, max_length=80)
    zip: str | None = Field(None, max_length=12)
    errors: str | None = Field(
        None, max_length=200, description="Comma-joined error list, e.g. 'Bad PIN'."
    )

    def wants_full_model(self) -> bool:
        """Any optional identifier means the client knows the card: use the full model."""
        return any(getattr(self, name) is not None for name in OPTIONAL_FIELDS)


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
# The full model cannot run without these: they key the card's and client's history.
FULL_MODEL_REQUIRED = ("card_id", "client_id", "merchant_id", "mcc")


class Reason(BaseModel):
    feature: str
    contribution: float


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


class ModelInfoResponse(BaseModel):
    models: dict[str, ModelPublic | None]
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="Flavour -> why it is not being served."
    )
    online_state: dict[str, object] | None = None


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"]
    models: dict[str, str]
    unavailable: dict[str, str] = Field(default_factory=dict)


class ReloadResponse(BaseModel):
    changed: bool
    models: dict[str, str]
    unavailable: dict[str, str] = Field(default_factory=dict)
