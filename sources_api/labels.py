"""`/labels`: fraud labels from the analysts' case queue, with the time each became known.

The scoring API posts a label when an analyst closes a case (`POST /labels`, a write: it
needs the X-API-Key when one is configured); the pipeline's feeder reads them all
(`GET /labels`). Storage and the idempotence rule live in `lakehouse.sources.labels`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from lakehouse.sources.labels import read_labels, record_labels
from lakehouse.text_fields import SINGLE_LINE, JsonBody, RequestDatetime
from sources_api.db import EngineDep, WriteAccess

labels_router = APIRouter(tags=["labels"])
MAX_LABELS = 10_000


class LabelIn(JsonBody):
    """One outcome of a review: was the transaction fraud, and since when is it known."""

    model_config = ConfigDict(extra="forbid")

    transaction_id: int = Field(..., ge=0, le=2**62)
    is_fraud: bool
    source: Literal["analyst_review"] = "analyst_review"
    reviewer: str | None = Field(None, max_length=64, pattern=SINGLE_LINE)
    label_known_at: RequestDatetime | None = Field(
        None, description="When the label became known (default: when it is received)."
    )


class LabelPublic(BaseModel):
    transaction_id: int
    is_fraud: bool
    source: str
    reviewer: str | None
    label_known_at: datetime
    recorded_at: datetime


class LabelsPublic(BaseModel):
    data: list[LabelPublic]
    count: int


class LabelsRecordedPublic(BaseModel):
    received: int
    inserted: int
    updated: int = Field(..., description="Labels that changed (the new one replaces the old).")
    unchanged: int = Field(..., description="Labels already recorded as they are: kept as is.")


@labels_router.post(
    "/labels", status_code=201, response_model=LabelsRecordedPublic, dependencies=[WriteAccess]
)
def post_labels(
    labels: Annotated[list[LabelIn], Body(max_length=MAX_LABELS)], engine: EngineDep
) -> LabelsRecordedPublic:
    """Record analysts' labels; sending the same label again changes nothing."""
    now = datetime.now(UTC)
    rows = [
        {**label.model_dump(), "label_known_at": label.label_known_at or now} for label in labels
    ]
    return LabelsRecordedPublic(**record_labels(engine, rows).__dict__)


@labels_router.get("/labels", response_model=LabelsPublic)
def get_labels(engine: EngineDep) -> LabelsPublic:
    """Every analyst label, oldest known first."""
    rows = read_labels(engine)
    return LabelsPublic(data=[LabelPublic(**r) for r in rows], count=len(rows))
