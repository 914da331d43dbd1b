"""`GET /summary`: the platform's headline figures, for the UI and the Grafana dashboards.

Everything is read from the published datamarts in one connection: the totals are summed
over `dm_time_of_day_fraud` (each purchase falls in exactly one hour), and the riskiest
MCCs, hours, clients and cards are the highest fraud rates among groups with at least
`min_labeled` labeled purchases — so a client with one labeled, fraudulent purchase does not
top the list on a rate of 100 %.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import schemas
from api.datamarts import DATAMARTS, latest_publications, reading, riskiest, totals
from api.deps import EngineDep

router = APIRouter(tags=["summary"], responses=schemas.error_responses(422, 503))

MAX_TOP = 100
DEFAULT_TOP = 5
DEFAULT_MIN_LABELED = 20
SCOPE = "purchases (amount > 0); rates over labeled purchases only (unlabeled = unknown)"


@router.get("/summary", response_model=schemas.SummaryPublic)
def summary(
    engine: EngineDep,
    top: Annotated[int, Query(ge=1, le=MAX_TOP, description="Rows per riskiest list.")] = (
        DEFAULT_TOP
    ),
    min_labeled: Annotated[
        int,
        Query(
            ge=1,
            le=schemas.INT64_MAX,
            description="Minimum labeled purchases for a group to enter a riskiest list.",
        ),
    ] = DEFAULT_MIN_LABELED,
) -> dict:
    """Transaction, labeled and fraud counts, the fraud rate, and the top-N riskiest groups."""
    with reading(engine) as connection:
        counts = totals(connection)
        lists = {
            field: riskiest(connection, DATAMARTS[name], top, min_labeled)
            for field, name in (
                ("riskiest_mccs", "mcc_risk"),
                ("riskiest_hours", "time_distribution"),
                ("riskiest_clients", "client_features"),
                ("riskiest_cards", "card_features"),
            )
        }
        published = latest_publications(connection)
    labeled = counts["labeled_count"]
    return {
        "scope": SCOPE,
        **counts,
        "fraud_rate": counts["fraud_count"] / labeled if labeled else None,
        "top": top,
        "min_labeled_count": min_labeled,
        **lists,
        "published_at": max((p["published_at"] for p in published.values()), default=None),
    }
