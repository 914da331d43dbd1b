"""A card's recent transactions from the lake, for the analyst looking at one of its cases.

Read from `silver_transactions` (Delta) with a filter pushed into the Arrow scan, so only the
card's rows leave the files; the newest `limit` come back as plain dicts. The analyst sees
what the lake knows (loaded batches), next to the card's other cases from the case store.
"""

from __future__ import annotations

from typing import Any

import pyarrow.compute as pc
import pyarrow.dataset as ds

from lakehouse import catalog, storage
from lakehouse.config import Settings

HISTORY_COLUMNS = [
    "transaction_id",
    "ts",
    "amount",
    "use_chip",
    "merchant_id",
    "merchant_city",
    "merchant_state",
    "mcc_code",
    "errors",
    "label",
]


def card_transactions(settings: Settings, card_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The card's `limit` most recent transactions in the lake, newest first.

    Args:
        settings: where the lake is.
        card_id: the card whose history is read.
        limit: the most transactions returned.

    Returns:
        One dict per transaction with the `HISTORY_COLUMNS`; empty when the card has none.

    Raises:
        FileNotFoundError: the lake has no silver_transactions yet.
    """
    dataset = storage.read_dataset(catalog.location("silver_transactions", settings), settings)
    rows = dataset.to_table(columns=HISTORY_COLUMNS, filter=ds.field("card_id") == card_id)
    if rows.num_rows == 0:
        return []
    newest = pc.sort_indices(rows, sort_keys=[("ts", "descending")])[:limit]
    return rows.take(newest).to_pylist()
