"""Response schemas of the datamarts API, with the datamarts' original column names.

Rows come out of the analytics DB (see `api.datamarts`) and leave as JSON through these
models. Each datamart has the family `XBase` (the columns), `XPublic` (one row as served)
and `XsPublic` (a page: `data`, `count` of all matching rows, `limit`, `offset`). Counts are
integers; amounts and rates are floats, and a rate is null when no row of the group is
labeled (an unlabeled transaction is unknown, not legitimate).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from lakehouse.observability.errors import ErrorPublic

# SQL BIGINT range: larger values cannot be bound as query parameters by either database.
INT64_MAX = 2**63 - 1


def _as_utc(moment: datetime) -> datetime:
    # The publish log stores UTC; SQLite returns it without an offset, and RFC 3339 needs one.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]

RowT = TypeVar("RowT", bound=BaseModel)


class Page(BaseModel, Generic[RowT]):
    """One page of a datamart: the rows, and how many rows match the filters in total."""

    data: list[RowT]
    count: int = Field(description="Rows matching the filters, across all pages.")
    limit: int
    offset: int


class _Row(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# Field descriptions shared by the datamarts that count labels (rates over labeled rows).
TX_COUNT = Field(description="Purchases (amount > 0).")
FRAUD_COUNT = Field(description="Purchases labeled fraud.")
LABELED_COUNT = Field(description="Purchases with a label (fraud or legitimate).")
FRAUD_RATE = Field(description="fraud_count / labeled_count; null when none is labeled.")
DROP_RATE = Field(description="drop_count / labeled_count; null when none is labeled.")


# dm_client_features: one row per client.
class ClientFeatureBase(_Row):
    client_id: int
    tx_count: int = TX_COUNT
    avg_amount: float | None
    std_amount: float | None
    fraud_count: int = FRAUD_COUNT
    drop_count: int
    labeled_count: int = LABELED_COUNT
    refund_count: int
    unique_merchants: int
    fraud_rate: float | None = FRAUD_RATE
    drop_rate: float | None = DROP_RATE


class ClientFeaturePublic(ClientFeatureBase):
    pass


class ClientFeaturesPublic(Page[ClientFeaturePublic]):
    pass


# dm_card_features: one row per card.
class CardFeatureBase(_Row):
    tx_card_id: int
    card_type: str | None
    tx_count: int = TX_COUNT
    fraud_count: int = FRAUD_COUNT
    avg_amount: float | None
    drop_count: int
    labeled_count: int = LABELED_COUNT
    fraud_rate: float | None = FRAUD_RATE
    drop_rate: float | None = DROP_RATE


class CardFeaturePublic(CardFeatureBase):
    pass


class CardFeaturesPublic(Page[CardFeaturePublic]):
    pass


# dm_client_velocity: one row per client.
class ClientVelocityBase(_Row):
    client_id: int
    active_days: int = Field(description="Days with at least one purchase.")
    avg_daily_txn: float | None = Field(description="Purchases per active day.")
    max_daily_txn: int = Field(description="Most purchases on one day.")


class ClientVelocityPublic(ClientVelocityBase):
    pass


class ClientVelocitiesPublic(Page[ClientVelocityPublic]):
    pass


# dm_mcc_fraud_risk: one row per merchant category code.
class MccRiskBase(_Row):
    mcc_code: int
    mcc_description: str | None
    tx_count: int = TX_COUNT
    fraud_count: int = FRAUD_COUNT
    drop_count: int
    labeled_count: int = LABELED_COUNT
    fraud_rate: float | None = FRAUD_RATE
    drop_rate: float | None = DROP_RATE


class MccRiskPublic(MccRiskBase):
    pass


class MccRisksPublic(Page[MccRiskPublic]):
    pass


# dm_time_of_day_fraud: one row per hour of the day (0-23).
class HourFraudBase(_Row):
    hour: int = Field(ge=0, le=23)
    tx_count: int = TX_COUNT
    fraud_count: int = FRAUD_COUNT
    drop_count: int
    labeled_count: int = LABELED_COUNT
    fraud_rate: float | None = FRAUD_RATE
    drop_rate: float | None = DROP_RATE


class HourFraudPublic(HourFraudBase):
    pass


class HourFraudsPublic(Page[HourFraudPublic]):
    pass


class SummaryPublic(BaseModel):
    """Platform-wide figures and the riskiest groups, for the UI and Grafana."""

    scope: str = Field(description="Which transactions the figures cover.")
    transaction_count: int
    labeled_count: int
    fraud_count: int
    fraud_rate: float | None
    top: int = Field(description="How many rows each riskiest list holds at most.")
    min_labeled_count: int = Field(
        description="A group enters a riskiest list only with at least this many labeled rows."
    )
    riskiest_mccs: list[MccRiskPublic]
    riskiest_hours: list[HourFraudPublic]
    riskiest_clients: list[ClientFeaturePublic]
    riskiest_cards: list[CardFeaturePublic]
    published_at: UtcDatetime | None = Field(description="When the datamarts were last published.")


class TablePublication(BaseModel):
    table: str
    row_count: int | None
    published_at: UtcDatetime | None
    lake_version: int | None


class HealthPublic(BaseModel):
    status: str
    database: str = Field(description="SQL dialect of the analytics DB.")
    datamarts: list[TablePublication]


ERROR_DESCRIPTIONS = {
    401: "X-API-Key missing (the service runs with LAKEHOUSE_API_KEY / LAKEHOUSE_READ_API_KEY).",
    403: "X-API-Key does not match a key allowed to read.",
    404: "No row with this key.",
    422: "A parameter is invalid: the message names it and the accepted values.",
    503: "The analytics DB is unreachable, or the datamarts are not published yet.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the error answers of a route, all in the `ErrorPublic` shape.

    Args:
        *statuses: HTTP statuses among `ERROR_DESCRIPTIONS`' keys.

    Returns:
        A FastAPI `responses` mapping: status -> the `ErrorPublic` model and its description.
    """
    return {
        status: {"model": ErrorPublic, "description": ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }
