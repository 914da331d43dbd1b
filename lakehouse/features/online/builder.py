"""Fill an online store from the lake's `silver_transactions`.

`fill_store` reads, with DuckDB over the Delta snapshot, the events of a time range (the last
`HISTORY_DAYS` plus the re-score horizon before a cut) and the known-label tallies: labels
usable up to the fold day become one tile per (merchant, MCC); later ones are added one by one
so a resend counts once. The scoring API calls it at start and on every reload
(`build_from_lake`); the replay command calls it with the cut at the replay's first day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from lakehouse.config import Settings
from lakehouse.engines.base import TableLike
from lakehouse.engines.duckdb import session
from lakehouse.features.declarations import DAY, HISTORY_SECONDS, LABEL_WINDOW_DAYS
from lakehouse.features.online.events import Event
from lakehouse.features.online.store import LabelEvent, OnlineStore, StoreMeta

_EVENT_COLUMNS = """transaction_id, CAST(FLOOR(epoch(ts)) AS BIGINT) AS ts_s, card_id, client_id,
    merchant_id, mcc_code, amount, merchant_state,
    CASE WHEN is_abroad THEN 1 ELSE 0 END AS is_abroad_i,
    CASE WHEN is_online THEN 1 ELSE 0 END AS is_online_i"""
_KNOWN_DAY = f"CAST(CEIL(epoch(label_known_at) / {DAY}) AS BIGINT)"


@dataclass(frozen=True)
class Cut:
    """What of the lake goes into the state.

    events_from / events_until: epoch seconds, transactions in [from, until) (until None: all);
    fold_day: label tiles up to this day are folded into one;
    labels_until_day: only labels usable by then (None: every label the lake holds).
    """

    events_from: int
    events_until: int | None
    fold_day: int
    labels_until_day: int | None = None


def _time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def _label_filter(cut: Cut) -> str:
    parts = ["label IS NOT NULL", "label_known_at IS NOT NULL"]
    if cut.events_until is not None:
        parts.append("ts < $until")
    if cut.labels_until_day is not None:
        parts.append(f"{_KNOWN_DAY} <= {int(cut.labels_until_day)}")
    return " AND ".join(parts)


def fill_store(
    store: OnlineStore,
    silver: TableLike,
    cut: Cut,
    *,
    tiles_bulk: Callable[[Iterable[tuple[int, int, int, int, int]]], None],
    settings: Settings | None = None,
) -> int:
    """Load events and labels of `silver` (Arrow table or dataset) into `store`.

    Args:
        store: an empty store whose meta carries `cut.fold_day`.
        silver: `silver_transactions`.
        cut: the range to load.
        tiles_bulk: the store's bulk tile loader (`store.add_tiles`).
        settings: caps the DuckDB connection; None means `get_settings()`.

    Returns:
        The number of events loaded.
    """
    with session({"silver": silver}, settings, threads=2) as connection:
        args: dict[str, Any] = {"from": _time(cut.events_from)}
        where = "ts >= $from"
        if cut.events_until is not None:
            args["until"] = _time(cut.events_until)
            where += " AND ts < $until"
        rows = connection.execute(
            f"SELECT {_EVENT_COLUMNS} FROM silver WHERE {where} ORDER BY ts, transaction_id", args
        ).fetchall()
        store.add_events([Event(*row) for row in rows])
        label_args = {k: v for k, v in args.items() if k == "until"}
        labels = _label_filter(cut)
        folded = connection.execute(
            f"SELECT merchant_id, mcc_code, {int(cut.fold_day)}, CAST(SUM(label) AS BIGINT), "
            f"COUNT(*) FROM silver WHERE {labels} AND {_KNOWN_DAY} <= {int(cut.fold_day)} "
            "GROUP BY 1, 2",
            label_args,
        ).fetchall()
        tiles_bulk(folded)
        recent = connection.execute(
            f"SELECT transaction_id, label, {_KNOWN_DAY}, merchant_id, mcc_code FROM silver "
            f"WHERE {labels} AND {_KNOWN_DAY} > {int(cut.fold_day)}",
            label_args,
        ).fetchall()
        store.add_labels([LabelEvent(*row) for row in recent])
        return len(rows)


def lake_cut(watermark_s: int, horizon_days: int) -> Cut:
    """The cut the scoring API uses to featurise any transaction from the horizon on.

    The horizon is `horizon_days` before the lake's newest transaction.

    Args:
        watermark_s: epoch second of the lake's newest transaction.
        horizon_days: how many days back from it scoring must be exact.

    Returns:
        Events from `HISTORY_SECONDS` before the horizon, no upper bound, and label tiles
        folded up to `fold_day_for` the horizon's day.
    """
    horizon_s = watermark_s - horizon_days * DAY
    return Cut(horizon_s - HISTORY_SECONDS, None, fold_day_for(horizon_s // DAY))


def fold_day_for(first_day: int) -> int:
    """The day label tiles fold into, for transactions scored from `first_day` on.

    Far enough back that every recent-label window of those transactions sees only daily
    tiles.

    Args:
        first_day: the first day that is scored (days since 1970-01-01).

    Returns:
        `first_day - LABEL_WINDOW_DAYS`.
    """
    return first_day - LABEL_WINDOW_DAYS


def watermark_of(silver: TableLike, settings: Settings | None = None) -> int | None:
    """Epoch second of the newest transaction in `silver` (None when empty).

    Args:
        silver: `silver_transactions` (Arrow table or dataset).
        settings: caps the DuckDB connection; None means `get_settings()`.

    Returns:
        The watermark, or None for an empty table.
    """
    with session({"silver": silver}, settings) as connection:
        row = connection.execute(
            "SELECT CAST(FLOOR(epoch(MAX(ts))) AS BIGINT) FROM silver"
        ).fetchone()
    value = None if row is None else row[0]
    return None if value is None else int(value)


def situation_watermark_of(silver: TableLike, settings: Settings | None = None) -> date | None:
    """The newest `situation_date` (batch date) in `silver`: where the source feed starts.

    Args:
        silver: `silver_transactions` (Arrow table or dataset).
        settings: caps the DuckDB connection; None means `get_settings()`.

    Returns:
        That date, or None for an empty table.
    """
    with session({"silver": silver}, settings) as connection:
        row = connection.execute("SELECT MAX(situation_date) FROM silver").fetchone()
    return None if row is None else row[0]


def meta_for(cut: Cut, watermark_s: int | None, lake_version: int | None) -> StoreMeta:
    """The meta of a state built with `cut`.

    Args:
        cut: the events' and labels' bounds the state was built with.
        watermark_s: epoch second of the newest transaction in the state (None: empty lake).
        lake_version: the silver version it was built from.

    Returns:
        The store's meta: watermark, horizon (start of exact scoring), fold day, lake version.
    """
    return StoreMeta(
        watermark_s=watermark_s,
        horizon_s=cut.events_from + HISTORY_SECONDS,
        fold_day=cut.fold_day,
        lake_version=lake_version,
    )
