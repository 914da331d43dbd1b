"""Parity by replay: stream history through the online path and compare with gold.

`replay` builds online state from the lake before day D1 (`builder.fill_store`), then takes
every `silver_transactions` row of [D1, D2) in time order: labels that become usable on the
row's day are recorded first (`OnlineStore.record_label`'s path), the row is rebuilt from its
raw fields through the shared derivations, its vector is computed from the store exactly as a
scoring request's is (`compute.feature_vector`), compared with its `ml_features` row, and the
row is added to the store. Counts must match exactly, floats within 1e-9 relative (1e-9
absolute near zero). `lakehouse features replay` prints the report; it is also an operator's
skew audit of a running store's definitions.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from lakehouse.config import Settings
from lakehouse.engines.base import TableLike
from lakehouse.engines.duckdb import session
from lakehouse.features.declarations import DAY, FEATURE_COLUMNS, HISTORY_SECONDS
from lakehouse.features.derivations import NO_ERROR, RawTransaction, derive_row
from lakehouse.features.online.builder import _KNOWN_DAY, Cut, fill_store, fold_day_for, meta_for
from lakehouse.features.online.compute import day_of, feature_vector
from lakehouse.features.online.events import Event
from lakehouse.features.online.store import LabelEvent, OnlineStore, StoreMeta
from lakehouse.formats import ONLINE_CITY

TOLERANCE = 1e-9


@dataclass
class ReplayReport:
    """What the replay compared and where it disagreed."""

    rows: int = 0
    missing_gold: int = 0
    mismatches: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[int, str, Any, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when rows were replayed, none missed gold and no feature mismatched."""
        return self.rows > 0 and not self.mismatches and not self.missing_gold


def same_value(online: Any, gold: Any) -> bool:
    """Equal as the parity rule says: NULL = NULL, counts exact, floats within 1e-9.

    Args:
        online: the value the online store computed (None or NaN: missing).
        gold: the value in `gold/ml_features` (None or NaN: missing).

    Returns:
        True when both are missing, both ints and equal, or close within `TOLERANCE`.
    """
    online_missing = online is None or (isinstance(online, float) and math.isnan(online))
    gold_missing = gold is None or (isinstance(gold, float) and math.isnan(gold))
    if online_missing or gold_missing:
        return online_missing and gold_missing
    if isinstance(online, int) and isinstance(gold, int):
        return online == gold
    return math.isclose(float(online), float(gold), rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def raw_of(row: Mapping[str, Any]) -> RawTransaction:
    """A silver row back to its source fields (what the source system held).

    Args:
        row: a silver_transactions row.

    Returns:
        Its raw fields; silver's online state and "no error" placeholders become None.
    """
    state = row["merchant_state"]
    errors = row["errors"]
    return RawTransaction(
        row["ts"],
        row["amount"],
        row["use_chip"],
        row["merchant_city"],
        None if state == ONLINE_CITY else state,
        row["zip"],
        None if errors == NO_ERROR else errors,
    )


def scoring_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A silver-shaped row with its derived fields recomputed and the epoch second added.

    Args:
        row: a silver_transactions row (`ts` naive UTC).

    Returns:
        The row with the derivations recomputed from its raw fields, `ts_s`, and the
        `is_abroad_i` / `is_online_i` integer flags.
    """
    out = {**row, **derive_row(raw_of(row))}
    out["ts_s"] = int(row["ts"].replace(tzinfo=UTC).timestamp())
    out["is_abroad_i"] = 1 if out["is_abroad"] else 0
    out["is_online_i"] = 1 if out["is_online"] else 0
    return out


def event_of(row: Mapping[str, Any]) -> Event:
    """The stored form of a scoring row.

    Args:
        row: a row from `scoring_row`.

    Returns:
        The `Event` the online store keeps for it.
    """
    return Event(
        int(row["transaction_id"]),
        int(row["ts_s"]),
        int(row["card_id"]),
        int(row["client_id"]),
        int(row["merchant_id"]),
        int(row["mcc_code"]),
        float(row["amount"]),
        str(row["merchant_state"]),
        int(row["is_abroad_i"]),
        int(row["is_online_i"]),
    )


def vector_of(store: OnlineStore, row: Mapping[str, Any]) -> dict[str, Any]:
    """A scoring row's feature vector from the store (one read).

    Args:
        store: the replayed online state.
        row: a row from `scoring_row`.

    Returns:
        Feature column -> value, as `feature_vector` computes it.
    """
    state = store.read(
        int(row["card_id"]),
        int(row["client_id"]),
        int(row["merchant_id"]),
        int(row["mcc_code"]),
        day_of(int(row["ts_s"])),
    )
    return feature_vector(row, state.card, state.client, state.tallies)


def _seconds(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _stream(connection: Any, sql: str, args: dict[str, Any]) -> Iterator[dict[str, Any]]:
    cursor = connection.execute(sql, args)
    names = [d[0] for d in cursor.description]
    while batch := cursor.fetchmany(5_000):
        for values in batch:
            yield dict(zip(names, values, strict=True))


def replay(
    silver: TableLike,
    gold: TableLike,
    start: date,
    end: date,
    new_store: Callable[[StoreMeta], OnlineStore],
    progress: Callable[[int], None] | None = None,
    settings: Settings | None = None,
) -> ReplayReport:
    """Replay [start, end) through a fresh store from `new_store` and compare with `gold`.

    Args:
        silver: `silver_transactions` (Arrow table or dataset).
        gold: `ml_features` (Arrow table or dataset).
        start, end: the replayed days (end exclusive).
        new_store: makes an empty store for the given meta (memory or Redis backend).
        progress: called with the number of rows done, every 5,000 rows.
        settings: caps the DuckDB connections; None means `get_settings()`.

    Returns:
        Rows replayed, rows missing from gold, and the mismatches per feature.
    """
    d1, d2 = _seconds(start), _seconds(end)
    cut = Cut(d1 - HISTORY_SECONDS, d1, fold_day_for(d1 // DAY), labels_until_day=d1 // DAY)
    store = new_store(meta_for(cut, d1, None))
    fill_store(store, silver, cut, tiles_bulk=store.add_tiles, settings=settings)  # type: ignore[attr-defined]
    report = ReplayReport()
    with session({"silver": silver, "gold": gold}, settings) as connection:
        args = {
            "d1": datetime.fromtimestamp(d1, UTC).replace(tzinfo=None),
            "d2": datetime.fromtimestamp(d2, UTC).replace(tzinfo=None),
        }
        labels = connection.execute(
            f"SELECT transaction_id, label, {_KNOWN_DAY} AS k, merchant_id, mcc_code FROM silver "
            f"WHERE label IS NOT NULL AND label_known_at IS NOT NULL AND {_KNOWN_DAY} > "
            f"{d1 // DAY} AND {_KNOWN_DAY} < {d2 // DAY} ORDER BY k, transaction_id"
        ).fetchall()
        pending = [LabelEvent(*row) for row in labels]
        gold_sql = (
            f"SELECT s.*, {', '.join(f'g.{c} AS gold_{c}' for c in FEATURE_COLUMNS)}, "
            "g.transaction_id IS NOT NULL AS in_gold FROM silver AS s LEFT JOIN gold AS g "
            "USING (transaction_id) WHERE s.ts >= $d1 AND s.ts < $d2 "
            "ORDER BY s.ts, s.transaction_id"
        )
        for row in _stream(connection, gold_sql, args):
            _replay_row(store, scoring_row(row), row, pending, report)
            if progress and report.rows % 5_000 == 0:
                progress(report.rows)
    return report


def _replay_row(
    store: OnlineStore,
    row: dict[str, Any],
    stored: Mapping[str, Any],
    pending: list[LabelEvent],
    report: ReplayReport,
) -> None:
    day = day_of(row["ts_s"])
    while pending and pending[0].known_day <= day:
        label = pending.pop(0)
        store.record_label(
            label.transaction_id, label.label, label.known_day, label.merchant_id, label.mcc_code
        )
    report.rows += 1
    if not stored["in_gold"]:
        report.missing_gold += 1
    else:
        vector = vector_of(store, row)
        for column in FEATURE_COLUMNS:
            expected = stored[f"gold_{column}"]
            if not same_value(vector[column], expected):
                report.mismatches[column] += 1
                if len(report.examples) < 20:
                    report.examples.append(
                        (row["transaction_id"], column, vector[column], expected)
                    )
    store.add_events([event_of(row)])
