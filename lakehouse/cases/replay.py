"""Replay the lake's newest transactions through `/predict`, so the case queue fills for real.

`lakehouse demo` calls `replay_recent` once the scoring API is up: the newest transactions of
`silver_transactions` become full-model requests (the seed's fields plus the card, client,
merchant and time) and are scored one by one over HTTP, exactly as a card network would send
them. Every review or decline opens a case through the scoring API's own path (decision
policy, durable outbox, case store); nothing is written here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pyarrow.compute as pc

from lakehouse import catalog, storage
from lakehouse.config import Settings

SEED_COLUMNS = (
    "amount",
    "card_brand",
    "card_type",
    "merchant_state",
    "use_chip",
    "credit_limit",
    "per_capita_income",
    "yearly_income",
    "total_debt",
    "credit_score",
    "num_credit_cards",
)
ID_COLUMNS = (
    "transaction_id",
    "card_id",
    "client_id",
    "merchant_id",
    "mcc_code",
    "ts",
    "merchant_city",
    "zip",
    "errors",
)


def request_of(row: dict[str, Any]) -> dict[str, Any]:
    """A `/predict` request carrying what the lake holds for one transaction.

    Args:
        row: a `silver_transactions` row with the seed and id columns.

    Returns:
        The request body: the seed fields, the ids, `mcc`, an ISO `timestamp`, and `errors`
        as None when the row had none.
    """
    request = {name: row[name] for name in SEED_COLUMNS}
    request.update(
        transaction_id=row["transaction_id"],
        card_id=row["card_id"],
        client_id=row["client_id"],
        merchant_id=row["merchant_id"],
        mcc=row["mcc_code"],
        timestamp=row["ts"].isoformat(),
        merchant_city=row["merchant_city"],
        zip=row["zip"],
        errors=None if row["errors"] == "no error" else row["errors"],
    )
    return request


def newest_transactions(settings: Settings, count: int) -> list[dict[str, Any]]:
    """The `count` most recent purchases (refunds left out) of `silver_transactions`.

    They come oldest first: the order a card network would have sent them in.

    Args:
        settings: where the lake is.
        count: how many purchases to return.

    Returns:
        One dict per purchase with the seed and id columns.
    """
    dataset = storage.read_dataset(catalog.location("silver_transactions", settings), settings)
    rows = dataset.to_table(columns=list(dict.fromkeys([*SEED_COLUMNS, *ID_COLUMNS])))
    rows = rows.filter(pc.greater(rows["amount"], 0))
    newest = pc.sort_indices(rows, sort_keys=[("ts", "descending")])[:count]
    return rows.take(newest).to_pylist()[::-1]


def replay_recent(
    settings: Settings,
    api_ml_url: str,
    count: int,
    on_progress: Callable[[int], None] | None = None,
) -> Counter[str]:
    """Score the newest `count` transactions through `/predict` and count the decisions.

    Requests the API refuses (a value outside the model's vocabulary) are counted as
    "refused" rather than stopping the replay.

    Args:
        settings: where the lake is.
        api_ml_url: base URL of the scoring API.
        count: how many of the newest purchases to send.
        on_progress: called with the number sent so far after each request.

    Returns:
        Decision (or "refused") -> number of transactions.
    """
    decisions: Counter[str] = Counter()
    with httpx.Client(base_url=api_ml_url, timeout=30) as http:
        for done, row in enumerate(newest_transactions(settings, count), start=1):
            answer = http.post("/predict", json=request_of(row))
            decisions[
                answer.json().get("decision", "refused") if answer.is_success else "refused"
            ] += 1
            if on_progress:
                on_progress(done)
    return decisions
