"""Request and response bodies of the case API (`/auth/token`, `/cases...`, `/audit`).

The schema families follow the platform's pattern: `CasePublic` (one case in a list),
`CasesPublic{data, count}`, `CaseDetail` (one case with everything an analyst needs to
decide). Vocabularies (states, outcomes, roles, sorts) come from `lakehouse.cases`, defined
once there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lakehouse.cases.workflow import Outcome, Role, State
from lakehouse.text_fields import MULTI_LINE, SINGLE_LINE, JsonBody

Sort = Literal["expected_loss", "oldest", "newest", "probability"]


class LoginRequest(JsonBody):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(..., min_length=1, max_length=64, pattern=SINGLE_LINE)
    password: str = Field(..., min_length=1, max_length=256)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    username: str
    role: Role


class ActorPublic(BaseModel):
    username: str
    role: Role


class CasePublic(BaseModel):
    case_id: str
    transaction_id: int | None
    card_id: int | None
    client_id: int | None
    amount: float
    fraud_probability: float
    expected_loss: float
    decision: Literal["review", "decline"]
    decision_rule: str
    reasons: list[dict[str, Any]]
    model_name: str
    model_version: str
    flavour: str
    scored_at: datetime
    created_at: datetime
    state: State
    owner: str | None
    assigned_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    updated_at: datetime


class CasesPublic(BaseModel):
    data: list[CasePublic]
    count: int = Field(..., description="Cases matching the filters (all pages).")
    by_state: dict[str, int] = Field(..., description="Every case in the store, by state.")
    oldest_active_age_seconds: float | None = Field(
        ..., description="Age of the oldest open/assigned/escalated case; null when none."
    )


class NotePublic(BaseModel):
    id: int
    author: str
    text: str
    created_at: datetime


class CaseDetail(CasePublic):
    features: dict[str, float | None]
    request: dict[str, Any]
    notes: list[NotePublic]
    card_cases: list[CasePublic] = Field(..., description="The card's latest cases.")
    card_transactions: list[dict[str, Any]] = Field(
        ..., description="The card's latest transactions in the lake, newest first."
    )
    history_unavailable: str | None = Field(
        None, description="Why the card's transactions could not be read, if so."
    )


class AssignRequest(JsonBody):
    model_config = ConfigDict(extra="forbid")

    assignee: str | None = Field(
        None, max_length=64, pattern=SINGLE_LINE,
        description="Who takes the case (default: yourself; leads only).",
    )


class DecisionRequest(JsonBody):
    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    note: str | None = Field(None, min_length=1, max_length=4000, pattern=MULTI_LINE)


class NoteRequest(JsonBody):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(..., min_length=1, max_length=4000, pattern=MULTI_LINE)


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    case_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPublic(BaseModel):
    data: list[AuditEntry]
    count: int
