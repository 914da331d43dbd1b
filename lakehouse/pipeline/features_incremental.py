"""`ml_features` day by day: recompute only the rows whose inputs changed, merge them in.

A row of `ml_features` reads, point in time (`lakehouse.features.declarations`):
- the rows of its own client (and of its cards, which belong to the client) in the
  `CONTEXT_SECONDS` before it, for the windows;
- the known-label tallies per merchant, MCC and overall up to its day, for the risk features;
- its own silver row (amount, codes, label).

So when silver changed since the version the table reflects (`ChangeFeed`), the rows to
recompute — the targets — are:
1. every row added to silver: new transactions, and rows whose label or any column changed;
2. the rows of a client up to `CONTEXT_SECONDS` after one of its rows came, went or changed a
   window input (a corrected batch, a late transaction);
3. when labels became known or changed, every row from the first known day they touch on:
   a label known on day K moves the cumulative and recent tallies, and the global rate, of
   every row of day K or later (for a new day's labels, K lies after the day: no old row).

The targets are featurised by the one feature SQL (`features_sql`) over their clients' rows
from `CONTEXT_SECONDS` before their earliest target on. The label tallies they read are kept
between runs in `ml_features_partials` (per merchant, MCC and known day, the days before the
recent-label window folded into one row per pair): a run adds the tallies of silver's changes
to the stored ones instead of tallying all of silver's labels again, which would grow with the
history. The Delta table is rewritten only
over the dates they and the removed rows fall on: one commit with the predicate
`tx_date BETWEEN first AND last`, holding the untouched rows of those dates and the new ones
(for a new day, the day's rows alone: the time-clustered files of the full build keep older
files out of the rewrite). When the targets exceed `FULL_REBUILD_FRACTION` of silver — labels
that reach far back — the table is rebuilt in full (`features_stage`), which costs less.
The result equals a full recompute (tests/pipeline/test_incremental_gold.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.engines import Engine
from lakehouse.features.batch_sql import (
    CONTEXT_SECONDS,
    features_sql,
    fold_labels_sql,
    labels_daily_sql,
    timestamp_sql,
)
from lakehouse.features.declarations import DAY, SILVER_INPUT_COLUMNS
from lakehouse.pipeline.changes import SILVER, ChangeFeed, SilverChanges
from lakehouse.pipeline.checks import assert_checks
from lakehouse.pipeline.features_stage import write_ml_features
from lakehouse.pipeline.models import ML_FEATURES
from lakehouse.pipeline.runner import input_versions, model_params, sql_hash

logger = logging.getLogger("lakehouse.pipeline.features_incremental")

_EPOCH = date(1970, 1, 1)
# Above this share of silver to recompute, a full (time-chunked) rebuild is cheaper.
FULL_REBUILD_FRACTION = 0.5
# The silver columns a row's own features and its client's windows read, label aside.
WINDOW_INPUTS: tuple[str, ...] = tuple(
    c for c in SILVER_INPUT_COLUMNS if c not in ("label", "label_known_at")
)
# The stored known-label tallies (`labels_daily_sql`'s columns), folded at a known day.
LABEL_TALLIES = "ml_features_partials"
_TALLIES_SQL = sql_hash(labels_daily_sql(), {})


def build_ml_features(
    name: str, engine: Engine, settings: Settings, feed: ChangeFeed, *, force: bool = False
) -> tuple[int, int, int | None]:
    """Bring `ml_features` up to date; (rows_in, rows_out, version or None when current).

    Merges silver's changes when the table reflects an earlier silver version under the
    current SQL; otherwise (first run, new SQL, `force`, silver rebuilt) builds it in full.

    Args:
        name: the table's catalog name ("ml_features").
        engine: the engine running the feature SQL.
        settings: where the lake is, and the model's parameters.
        feed: silver's changes, shared with the other gold tables.
        force: rebuild in full even when the table is current.

    Returns:
        (rows read, rows written, the Delta version written or None when nothing changed).

    Raises:
        DataCheckError: the table's checks refused the result; nothing was committed.
    """
    uri = catalog.location(name, settings)
    lineage = {
        "inputs": input_versions(ML_FEATURES.inputs, settings),
        "sql": sql_hash(ML_FEATURES.sql, model_params(ML_FEATURES, settings)),
    }
    previous = storage.last_metadata(uri, settings)
    if not force and all(previous.get(k) == v for k, v in lineage.items()):
        return 0, 0, None
    silver = storage.read_dataset(catalog.location(SILVER, settings), settings)
    changes = None
    if not force and previous.get("sql") == lineage["sql"]:
        changes = feed.since(previous.get("inputs", {}).get(SILVER))
    if changes is not None:
        merged = _merge(uri, engine, settings, silver, changes, lineage)
        if merged is not None:
            return merged
    rows_out, written = write_ml_features(uri, engine, silver, lineage, settings)
    _store_full_tallies(engine, settings, silver, lineage["inputs"][SILVER])
    return silver.count_rows(), rows_out, written


def _store_full_tallies(
    engine: Engine, settings: Settings, silver: ds.Dataset, version: int | None
) -> None:
    """After a full build, store all of silver's label tallies folded at its last day, so the
    next day's merge starts from them."""
    last = storage.column_max(catalog.location(SILVER, settings), "ts", settings)
    if last is None or version is None:  # no rows, or no statistics: the next merge tallies
        return
    as_of_day = int(last.replace(tzinfo=UTC).timestamp()) // DAY
    summary = engine.run_sql(labels_daily_sql(as_of_day), {SILVER: silver})
    _store_tallies(settings, summary, version, as_of_day, incremental=False)


def _store_tallies(
    settings: Settings, summary: pa.Table, version: int, as_of_day: int, *, incremental: bool
) -> None:
    """Commit the folded label tallies with what they reflect (silver's version, the day
    they are folded at, the tallies' SQL) and whether they were merged from the stored ones."""
    storage.write(
        catalog.location(LABEL_TALLIES, settings),
        summary,
        metadata={"inputs": {SILVER: version}, "sql": _TALLIES_SQL, "as_of_day": as_of_day,
                  "rows": summary.num_rows, "incremental": incremental},
        settings=settings,
    )


def _label_summary(
    engine: Engine,
    settings: Settings,
    silver: ds.Dataset,
    changes: SilverChanges,
    tallies: tuple[pa.Table, pa.Table],
    as_of_day: int,
) -> pa.Table:
    """The known-label tallies folded at `as_of_day` (`labels_daily_sql`), stored for the
    next run.

    They are the stored tallies plus the `tallies` (added, removed) of silver's changes when
    the stored ones reflect the silver version the changes start from and were folded at
    `as_of_day` or before (a later fold of a fold is the same fold, and tallies add up);
    otherwise all of silver's labels are tallied again.
    """
    uri = catalog.location(LABEL_TALLIES, settings)
    stored = storage.last_metadata(uri, settings)
    reusable = (
        stored.get("sql") == _TALLIES_SQL
        and stored.get("inputs", {}).get(SILVER) == changes.since
        and int(stored.get("as_of_day", as_of_day + 1)) <= as_of_day
    )
    if reusable:
        added, removed = tallies
        inputs = {"stored": storage.read_dataset(uri, settings), "added": added,
                  "removed": removed}
        summary = engine.run_sql(_refold_sql(as_of_day), inputs)
    else:
        summary = engine.run_sql(labels_daily_sql(as_of_day), {SILVER: silver})
    _store_tallies(settings, summary, changes.version, as_of_day, incremental=reusable)
    return summary


def _refold_sql(as_of_day: int) -> str:
    """Over `stored`, `added` and `removed` tallies: their sum folded at `as_of_day`; a key
    whose labels all went is dropped, as a tally of silver would not have it."""
    columns = "merchant_id, mcc_code, day_n"
    daily = (
        f"(SELECT {columns}, fraud_n, labeled_n FROM stored UNION ALL "
        f"SELECT {columns}, fraud_n, labeled_n FROM added UNION ALL "
        f"SELECT {columns}, -fraud_n, -labeled_n FROM removed) AS daily"
    )
    return f"SELECT * FROM ({fold_labels_sql(daily, as_of_day)}) AS folded WHERE labeled_n <> 0"


def _changed_windows_sql() -> str:
    """Per client, the span of rows whose windows a came/went/changed row moves (over
    `added` and `removed`; rows that only changed their label cancel out)."""
    columns = ", ".join(WINDOW_INPUTS)
    return f"""
WITH came AS (SELECT {columns} FROM added EXCEPT ALL SELECT {columns} FROM removed),
went AS (SELECT {columns} FROM removed EXCEPT ALL SELECT {columns} FROM added),
moved AS (SELECT client_id, ts FROM came UNION ALL SELECT client_id, ts FROM went)
SELECT client_id, MIN(ts) AS lo, MAX(ts) + INTERVAL {CONTEXT_SECONDS} SECOND AS hi
FROM moved GROUP BY client_id"""


def _change_tallies(engine: Engine, changes: SilverChanges) -> tuple[pa.Table, pa.Table]:
    """The label tallies (`labels_daily_sql`, not folded) of the added and the removed rows."""
    return (engine.run_sql(labels_daily_sql(), {SILVER: changes.added}),
            engine.run_sql(labels_daily_sql(), {SILVER: changes.removed}))


def _first_label_day(engine: Engine, tallies: tuple[pa.Table, pa.Table]) -> int | None:
    """The first known day (`day_n`) whose label tallies (added, removed) differ, None when
    none does."""
    added, removed = tallies
    first = engine.run_sql(
        """
SELECT MIN(day_n) AS day_n FROM (
    SELECT merchant_id, mcc_code, day_n, SUM(fraud_n) AS fraud_n, SUM(labeled_n) AS labeled_n
    FROM (SELECT merchant_id, mcc_code, day_n, fraud_n, labeled_n FROM added
          UNION ALL
          SELECT merchant_id, mcc_code, day_n, -fraud_n, -labeled_n FROM removed) AS u
    GROUP BY merchant_id, mcc_code, day_n) AS net
WHERE fraud_n <> 0 OR labeled_n <> 0""",
        {"added": added, "removed": removed},
    )
    value = first.column("day_n")[0].as_py()
    return None if value is None else int(value)


def _targets_sql(first_label_day: int | None) -> str:
    """Over `candidates` (silver rows), `added` and `spans`: the rows to recompute."""
    labels = "" if first_label_day is None else (
        f"\n   OR s.ts >= TIMESTAMP '{_EPOCH + timedelta(days=first_label_day)}'"
    )
    return f"""
SELECT s.transaction_id, s.client_id, s.ts, s.tx_date FROM candidates AS s
WHERE s.transaction_id IN (SELECT transaction_id FROM added)
   OR EXISTS (SELECT 1 FROM spans AS p
              WHERE p.client_id = s.client_id AND s.ts BETWEEN p.lo AND p.hi){labels}"""


def _context_sql() -> str:
    """The rows the targets' windows read, over `candidates` and `targets`: their clients'
    rows from `CONTEXT_SECONDS` before each client's earliest target on."""
    columns = ", ".join(f"s.{c}" for c in SILVER_INPUT_COLUMNS)
    return f"""
WITH client_lo AS (SELECT client_id, MIN(ts) AS lo FROM targets GROUP BY client_id)
SELECT {columns} FROM candidates AS s
JOIN client_lo AS c ON c.client_id = s.client_id
WHERE s.ts >= c.lo - INTERVAL {CONTEXT_SECONDS} SECOND"""


def _earliest_target(
    changes: SilverChanges, spans: pa.Table, first_label_day: int | None
) -> int | None:
    """Epoch seconds no target is older than (None: nothing to recompute)."""
    bounds = [
        pc.min(changes.added.column("ts")).as_py(),
        pc.min(spans.column("lo")).as_py() if spans.num_rows else None,
    ]
    seconds = [int(b.replace(tzinfo=UTC).timestamp()) for b in bounds if b is not None]
    if first_label_day is not None:
        seconds.append(first_label_day * DAY)
    return min(seconds, default=None)


def _merge(
    uri: str,
    engine: Engine,
    settings: Settings,
    silver: ds.Dataset,
    changes: SilverChanges,
    lineage: dict,
) -> tuple[int, int, int] | None:
    """Recompute the targets and rewrite the dates they cover; None: rebuild in full.

    Silver is scanned once, for the rows from `CONTEXT_SECONDS` before the earliest target
    on (the candidates): the targets and their windows' context both come from those.
    """
    spans = engine.run_sql(
        _changed_windows_sql(), {"added": changes.added, "removed": changes.removed}
    )
    tallies = _change_tallies(engine, changes)
    first_label_day = _first_label_day(engine, tallies)
    earliest = _earliest_target(changes, spans, first_label_day)
    targets, fresh = None, None
    if earliest is not None:
        since = earliest - CONTEXT_SECONDS
        scanned = silver.count_rows(filter=ds.field("ts") >= _arrow_time(since))
        if scanned > FULL_REBUILD_FRACTION * silver.count_rows():
            logger.info("ml_features rebuilt in full", extra={"rows_to_scan": scanned})
            return None
        candidates = engine.run_sql(
            f"SELECT {', '.join(SILVER_INPUT_COLUMNS)} FROM silver_transactions "
            f"WHERE ts >= {timestamp_sql(since)}",
            {"silver_transactions": silver},
        )
        targets = engine.run_sql(
            _targets_sql(first_label_day),
            {"candidates": candidates, "added": changes.added, "spans": spans},
        )
        summary = _label_summary(engine, settings, silver, changes, tallies, earliest // DAY)
        fresh = _features(engine, summary, candidates, targets)
    gone = changes.removed.select(["transaction_id", "tx_date"])
    recomputed = targets.select(["transaction_id", "tx_date"]) if targets else gone.slice(0, 0)
    written = _rewrite_dates(uri, settings, fresh, recomputed, gone, lineage)
    rows_out = 0 if fresh is None else fresh.num_rows
    logger.info(
        "table written",
        extra={
            "table": "ml_features",
            "rows": rows_out,
            "version": written,
            "incremental": True,
            "silver_rows_added": changes.added.num_rows,
            "silver_rows_removed": changes.removed.num_rows,
        },
    )
    return changes.added.num_rows + changes.removed.num_rows, rows_out, written


def _arrow_time(seconds: int) -> pa.Scalar:
    """Epoch `seconds` as a scalar of silver's `ts` type (naive UTC, microseconds)."""
    return pa.scalar(seconds * 1_000_000, pa.int64()).cast(pa.timestamp("us"))


def _features(
    engine: Engine, summary: pa.Table, candidates: pa.Table, targets: pa.Table
) -> pa.Table:
    """The feature rows of `targets`, by the one feature SQL over their clients' context and
    the label tallies `summary` (folded at the earliest target's day: same numbers, far
    fewer rows)."""
    context = engine.run_sql(_context_sql(), {"candidates": candidates, "targets": targets})
    sql = features_sql(
        "label_summary", target_filter="w.transaction_id IN (SELECT transaction_id FROM targets)"
    )
    inputs = {
        "silver_transactions": context,
        "label_summary": summary,
        "targets": targets.select(["transaction_id"]),
    }
    return engine.run_sql(sql, inputs)


def _rewrite_dates(
    uri: str,
    settings: Settings,
    fresh: pa.Table | None,
    recomputed: pa.Table,
    gone: pa.Table,
    lineage: dict,
) -> int:
    """Replace the stored rows of the dates from the first to the last date of `recomputed`
    and `gone` (transaction_id, tx_date) by the untouched ones plus `fresh`, in one commit;
    the version written. With no such date, an empty append records the new lineage.
    """
    current = storage.read_dataset(uri, settings)
    fresh = current.schema.empty_table() if fresh is None else fresh.cast(current.schema)
    metadata = {**lineage, "incremental": True, "rows_recomputed": fresh.num_rows}
    moved = pa.concat_tables([recomputed, gone.cast(recomputed.schema)])
    dates = moved.column("tx_date").drop_null()
    if not len(dates):
        return storage.write(
            uri, current.schema.empty_table(), mode="append", metadata=metadata,
            settings=settings,
        )
    first, last = pc.min(dates), pc.max(dates)
    in_range = (ds.field("tx_date") >= first) & (ds.field("tx_date") <= last)
    stored = current.to_table(filter=in_range)
    dropped = pc.unique(moved.column("transaction_id").combine_chunks())
    kept = stored.filter(pc.invert(pc.is_in(stored.column("transaction_id"), value_set=dropped)))
    replacement = pa.concat_tables([kept, fresh])
    assert_checks(ML_FEATURES, replacement)
    predicate = f"tx_date >= '{first.as_py()}' AND tx_date <= '{last.as_py()}'"
    return storage.write(
        uri,
        replacement,
        mode="overwrite",
        predicate=predicate,
        metadata={**metadata, "rows_replaced": replacement.num_rows},
        settings=settings,
    )
