"""The `ml_features` SQL, generated from the declarations, and its bucketed batch run.

`features_sql` turns `declarations.AGGREGATES` into window functions (one per aggregate,
partitioned by the aggregate's entity) and `declarations.OUTPUTS` into the final SELECT;
`lakehouse.pipeline.models` registers the text as the gold model `ml_features`, and
`feature_chunks` runs it range by range of time for the gold stage. One statement,
engine-neutral (DuckDB dialect in the subset Spark SQL accepts), no parameter: label knowledge
comes from silver's `label_known_at` column.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from lakehouse.features.batch_arrays import (
    PARTITION_COLUMNS,
    label_tallies,
    window_aggregates,
    window_columns,
)
from lakehouse.features.declarations import (
    AGGREGATES,
    BASIC_FEATURE_COLUMNS,
    DAY,
    ENTITIES,
    ERROR_FLAGS,
    LABEL_SUMMARY_COLUMNS,
    LABEL_WINDOW_DAYS,
    MONEY_COLUMNS,
    OUTPUTS,
    Aggregate,
)
from lakehouse.features.derivations import (
    CARD_BRAND_CODES,
    CARD_TYPE_CODES,
    MERCHANT_STATE_CODES,
    UNKNOWN_CODE,
    USE_CHIP_CODES,
)
from lakehouse.formats import ONLINE_CITY, US_STATES

_TIME = "CAST(FLOOR(epoch({column})) AS BIGINT)"
_KNOWN_DAY = f"CAST(CEIL(epoch(label_known_at) / {DAY}) AS BIGINT)"
# The furthest any window looks back: a row's features read the rows of its client (and its
# cards) in the CONTEXT_SECONDS before it, and from the other rows only the label tallies.
CONTEXT_SECONDS = max(a.window or 0 for a in AGGREGATES if a.rows == "all")


def _case(column: str, codes: Mapping[str, int]) -> str:
    arms = " ".join(f"WHEN '{name}' THEN {code}" for name, code in codes.items())
    return f"CASE lower({column}) {arms} ELSE {UNKNOWN_CODE} END"


def _state_case(column: str) -> str:
    states = ", ".join(f"'{state}'" for state in US_STATES)
    return (
        f"CASE WHEN upper({column}) = '{ONLINE_CITY}' THEN {MERCHANT_STATE_CODES['online']} "
        f"WHEN upper({column}) IN ({states}) THEN {MERCHANT_STATE_CODES['us']} "
        f"ELSE {MERCHANT_STATE_CODES['abroad']} END"
    )


def window_sql(aggregate: Aggregate) -> str:
    """One windowed aggregate over strictly earlier rows of its entity.

    Args:
        aggregate: a `rows="all"` declaration.

    Returns:
        `<window function> AS <name>`, over the `tx` rows (`tx_sql`).
    """
    keys = ", ".join(PARTITION_COLUMNS.get(k, k) for k in ENTITIES[aggregate.entity])
    over = (
        f"OVER (PARTITION BY {keys} ORDER BY ts_s "
        f"RANGE BETWEEN {aggregate.window} PRECEDING AND 1 PRECEDING)"
    )
    column = aggregate.column
    total = f"COALESCE(SUM({column}) {over}, 0)"
    if column in MONEY_COLUMNS:  # exact in DECIMAL cents, then the nearest DOUBLE
        total = f"CAST(COALESCE(SUM(CAST({column} AS DECIMAL(18, 2))) {over}, 0) AS DOUBLE)"
    expression = {
        "count": f"COUNT(*) {over}",
        "sum": total,
        "std": f"STDDEV_SAMP({column}) {over}",
        "last_seen": f"MAX({column}) {over}",
    }[aggregate.kind]
    return f"{expression} AS {aggregate.name}"


LABELS_DAILY_BODY = f"""
    SELECT merchant_id, mcc_code, {_KNOWN_DAY} AS day_n,
           CAST(SUM(label) AS BIGINT) AS fraud_n, CAST(COUNT(label) AS BIGINT) AS labeled_n
    FROM tx WHERE label IS NOT NULL AND label_known_at IS NOT NULL
    GROUP BY merchant_id, mcc_code, {_KNOWN_DAY}"""


def labels_daily_sql(as_of_day: int | None = None) -> str:
    """Label tallies per (merchant, MCC, known day) over `silver_transactions`.

    Args:
        as_of_day: days since 1970-01-01 of the first day to be featurised: the days older
            than the longest recent-label window fold into one row per (merchant, MCC) just
            before it. The cumulative and the windowed sums stay identical for any row on or
            after `as_of_day`, and the tallies shrink to one row per pair plus the recent days.

    Returns:
        The SQL (`LABEL_SUMMARY_COLUMNS`).
    """
    sql = f"WITH tx AS (SELECT * FROM silver_transactions){LABELS_DAILY_BODY}"
    if as_of_day is None:
        return sql
    return fold_labels_sql(f"({sql}) AS daily", as_of_day)


def fold_labels_sql(relation: str, as_of_day: int, end_day: int | None = None) -> str:
    """Label tallies (`LABEL_SUMMARY_COLUMNS`) of `relation` folded for the days from
    `as_of_day` to `end_day`: the days older than the longest recent-label window fold into
    one row per (merchant, MCC) just before `as_of_day`, and the days from `end_day` on,
    which no row before `end_day` reads, are left out. The cumulative and windowed sums of
    every day in between stay identical, over a fraction of the rows.

    Args:
        relation: the tallies (a relation name, or a parenthesised subquery with an alias).
        as_of_day: days since 1970-01-01 of the first day to be featurised.
        end_day: the day after the last one to be featurised (None: no bound).

    Returns:
        The SQL (`LABEL_SUMMARY_COLUMNS`).
    """
    where = "" if end_day is None else f"\nWHERE day_n < {int(end_day)}"
    return f"""
SELECT merchant_id, mcc_code, GREATEST(day_n, {int(as_of_day) - LABEL_WINDOW_DAYS}) AS day_n,
       CAST(SUM(fraud_n) AS BIGINT) AS fraud_n, CAST(SUM(labeled_n) AS BIGINT) AS labeled_n
FROM {relation}{where} GROUP BY 1, 2, 3"""


def _recent_label_sql(entity: str, partition: str) -> str:
    """The entity's windowed known-label tallies: labels whose known day is in the last
    `window` days up to day D (the windowed `labeled_known` aggregates)."""
    columns = []
    for aggregate in AGGREGATES:
        if aggregate.entity != entity or aggregate.rows != "labeled_known" or not aggregate.window:
            continue
        tally = "fraud_n" if aggregate.kind == "known_fraud" else "labeled_n"
        frame = (f"{partition}ORDER BY day_n RANGE BETWEEN {aggregate.window // DAY - 1} "
                 "PRECEDING AND CURRENT ROW")
        columns.append(f",\n           SUM({tally}) OVER ({frame}) AS {aggregate.name}")
    return "".join(columns)


# The relations of the known-label tallies per entity, one row per (key, day): built by the
# SQL's CTEs, or handed in by name (`batch_arrays.label_tallies`) with the windowed relation.
KNOWN_RELATIONS = {"merchant": "merchant_known", "mcc": "mcc_known", "global": "global_known"}


def _risk_ctes() -> str:
    """Cumulative known-label tallies per merchant, MCC and overall, one row per (key, day):
    the labels known on day D are those whose known day is D or earlier; plus the recent
    (windowed) tallies the declarations ask for."""
    parts = []
    for key, name in (("merchant_id", "merchant"), ("mcc_code", "mcc"), (None, "global")):
        keys = f"{key}, " if key else ""
        partition = f"PARTITION BY {key} " if key else ""
        frame = f"{partition}ORDER BY day_n RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
        parts.append(f"""
{name}_days AS (
    SELECT {keys}day_n, SUM(fraud_n) AS fraud_n, SUM(labeled_n) AS labeled_n
    FROM (SELECT {keys}day_n, fraud_n, labeled_n FROM labels_daily
          UNION ALL SELECT DISTINCT {keys}day_n, 0, 0 FROM tx) AS u
    GROUP BY {keys}day_n),
{KNOWN_RELATIONS[name]} AS (
    SELECT {keys}day_n, SUM(fraud_n) OVER ({frame}) AS fraud_known,
           SUM(labeled_n) OVER ({frame}) AS labeled_known{_recent_label_sql(name, partition)}
    FROM {name}_days)""")
    return ",".join(parts)


def tx_sql(source_filter: str | None = None) -> str:
    """The rows the feature windows read (`tx`): silver's columns, typed and coded.

    Args:
        source_filter: a SQL condition on `silver_transactions` (see `features_sql`).

    Returns:
        The SELECT (one row per transaction, with `ts_s` and the entity keys).
    """
    errors = ",\n        ".join(
        f"CASE WHEN errors LIKE '%{text}%' THEN 1 ELSE 0 END AS {name}"
        for name, text in ERROR_FLAGS.items()
    )
    numbers = ",\n        ".join(
        f"CAST({c} AS DOUBLE) AS {c}"
        for c in BASIC_FEATURE_COLUMNS
        if c not in ("card_brand", "card_type", "merchant_state", "use_chip")
    )
    where = f" WHERE {source_filter}" if source_filter else ""
    return f"""
    SELECT transaction_id, ts, tx_date, card_id, client_id, merchant_id, mcc_code, label,
        label_known_at,
        {_TIME.format(column="ts")} AS ts_s,
        CAST(FLOOR(epoch(ts) / {DAY}) AS BIGINT) AS day_n,
        {numbers},
        {_case("card_brand", CARD_BRAND_CODES)} AS card_brand,
        {_case("card_type", CARD_TYPE_CODES)} AS card_type,
        {_state_case("merchant_state")} AS merchant_state,
        merchant_state AS merchant_state_raw,
        {_case("use_chip", USE_CHIP_CODES)} AS use_chip,
        CAST(hour AS INT) AS hour,
        CASE WHEN is_refund THEN 1 ELSE 0 END AS is_refund,
        CASE WHEN is_online THEN 1 ELSE 0 END AS is_online_i,
        CASE WHEN is_abroad THEN 1 ELSE 0 END AS is_abroad_i,
        CASE WHEN has_chip THEN 1 ELSE 0 END AS has_chip,
        {errors},
        CASE WHEN has_error THEN 1 ELSE 0 END AS has_error
    FROM silver_transactions{where}"""


def features_sql(
    label_summary_relation: str | None = None,
    source_filter: str | None = None,
    target_filter: str | None = None,
    windowed_relation: str | None = None,
) -> str:
    """The `ml_features` SQL over `silver_transactions`.

    Args:
        label_summary_relation: take the known-label tallies from this relation (columns
            `LABEL_SUMMARY_COLUMNS`, from `labels_daily_sql`) instead of the input rows.
        source_filter: a SQL condition (built by the callers, never user text) restricting
            the rows the windows see, e.g. one bucket of clients or a time range and the
            `CONTEXT_SECONDS` before it.
        target_filter: a SQL condition on the windowed row `w` restricting the rows returned
            (the context rows above only feed the windows of the rows returned).
        windowed_relation: read the `tx` rows with their window aggregates already computed
            from this relation (`batch_arrays.window_columns` over `tx_sql`) and the label
            tallies from the `KNOWN_RELATIONS` (`batch_arrays.label_tallies`) instead of
            computing them in SQL; `source_filter` and the label summary are then unused.

    Returns:
        The SQL (`KEY_COLUMNS` + `FEATURE_COLUMNS`, one row per transaction).
    """
    labels_daily = (
        f"SELECT {', '.join(LABEL_SUMMARY_COLUMNS)} FROM {label_summary_relation}"
        if label_summary_relation
        else LABELS_DAILY_BODY
    )
    if windowed_relation:
        ctes = f"tx AS (SELECT * FROM {windowed_relation}),\nwindowed_raw AS (SELECT * FROM tx)"
    else:
        aggregates = ",\n        ".join(window_sql(a) for a in window_aggregates())
        ctes = f"""tx AS ({tx_sql(source_filter)}),
labels_daily AS ({labels_daily}),{_risk_ctes()},
windowed_raw AS (
    SELECT tx.*,
        {aggregates}
    FROM tx)"""
    outputs = ",\n    ".join(f"{o.sql} AS {o.name}" for o in OUTPUTS)
    where = f"\nWHERE {target_filter}" if target_filter else ""
    return f"""
WITH {ctes},
windowed AS (
    -- the mean from the 30-day sum and count already computed: one window aggregate less
    SELECT *, client_amount_sum_30d / NULLIF(client_tx_count_30d, 0) AS client_amount_mean_30d
    FROM windowed_raw),
global_rate AS (
    SELECT day_n, CASE WHEN labeled_known > 0 THEN CAST(fraud_known AS DOUBLE) / labeled_known
                       ELSE 0.0 END AS rate
    FROM {KNOWN_RELATIONS['global']})
SELECT w.transaction_id, w.ts, w.tx_date, w.card_id, w.client_id, w.merchant_id, w.label,
    {", ".join(f"w.{c}" for c in BASIC_FEATURE_COLUMNS)},
    w.hour, w.is_refund, w.is_online_i AS is_online, w.is_abroad_i AS is_abroad, w.has_chip,
    {", ".join(f"w.{c}" for c in ERROR_FLAGS)}, w.has_error,
    {outputs}
FROM windowed AS w
JOIN global_rate AS g ON g.day_n = w.day_n
LEFT JOIN {KNOWN_RELATIONS['merchant']} AS m ON m.merchant_id = w.merchant_id AND m.day_n = w.day_n
LEFT JOIN {KNOWN_RELATIONS['mcc']} AS c ON c.mcc_code = w.mcc_code AND c.day_n = w.day_n{where}
"""


def timestamp_sql(seconds: int) -> str:
    """A SQL timestamp literal (UTC, like silver's naive `ts`) for epoch `seconds`.

    Args:
        seconds: epoch seconds.

    Returns:
        `TIMESTAMP 'YYYY-MM-DD HH:MM:SS'`.
    """
    moment = datetime.fromtimestamp(int(seconds), UTC)
    return f"TIMESTAMP '{moment.strftime('%Y-%m-%d %H:%M:%S')}'"


def time_range_filters(start: int, end: int | None = None) -> tuple[str, str]:
    """(source filter, target filter) of `features_sql` for the rows with start <= ts < end.

    The windows see the `CONTEXT_SECONDS` before `start` too, so the rows returned are exactly
    those of the one-shot model.

    Args:
        start: epoch seconds of the first row.
        end: epoch seconds after the last row (None: no bound).

    Returns:
        `(source_filter, target_filter)` for `features_sql`.
    """
    source = f"ts >= {timestamp_sql(start - CONTEXT_SECONDS)}"
    if end is not None:
        source += f" AND ts < {timestamp_sql(end)}"
    return source, f"w.ts >= {timestamp_sql(start)}"


def day_counts_sql() -> str:
    """Rows per day (`day_n`, days since 1970-01-01 UTC) of `silver_transactions`.

    Returns:
        The SQL, ordered by day.
    """
    return (
        f"SELECT CAST(FLOOR(epoch(ts) / {DAY}) AS BIGINT) AS day_n, COUNT(*) AS n "
        "FROM silver_transactions GROUP BY 1 ORDER BY 1"
    )


def time_ranges(day_counts: Iterable[tuple[int, int]], rows: int) -> list[tuple[int, int | None]]:
    """Consecutive [start, end) epoch-second ranges of whole days holding about `rows` rows.

    Args:
        day_counts: (day_n, row count) pairs in day order (`day_counts_sql`).
        rows: the rows wanted per range (a day is never cut).

    Returns:
        The ranges in time order; the last one is open-ended (end None).
    """
    starts: list[int] = []
    filled = rows
    for day, count in day_counts:
        if filled >= rows:
            starts.append(int(day) * DAY)
            filled = 0
        filled += int(count)
    return [(start, nxt) for start, nxt in zip(starts, [*starts[1:], None], strict=True)]


def feature_chunks(
    engine: Any, silver: Any, ranges: Iterable[tuple[int, int | None]]
) -> Iterator[pa.Table]:
    """`ml_features` piece by piece of time — together the same rows as the one-shot model.

    Each piece holds the rows of one [start, end) range, its windows fed by the
    `CONTEXT_SECONDS` before it; the merchant/MCC/global label tallies are computed once over
    all rows, and each range reads them folded to its own days (`fold_labels_sql`): about
    one row per (merchant, MCC) plus the range's days, not the whole history (whose windowed
    tallies were nearly half of a range's cost). The window aggregates of a range are
    evaluated on its sorted columns (`batch_arrays.window_columns`, several times cheaper than
    the RANGE windows), or by the SQL windows when its sums cannot be exact. Peak memory is
    one piece's output, and the pieces are clustered by time, so a later day's merge rewrites
    only the files of the days it touches.

    Args:
        engine: a `lakehouse.engines` engine (`run_sql(sql, inputs)`).
        silver: `silver_transactions` (Arrow table or dataset).
        ranges: epoch-second ranges (`time_ranges`).

    Returns:
        An iterator of `ml_features` pieces, one per range.
    """
    summary = engine.run_sql(labels_daily_sql(), {"silver_transactions": silver})
    for start, end in ranges:
        source, target = time_range_filters(start, end)
        end_day = None if end is None else -(-end // DAY)  # the day after the range's last
        folded = engine.run_sql(
            fold_labels_sql("label_summary", start // DAY, end_day), {"label_summary": summary}
        )
        yield _range_features(engine, silver, folded, source, target)


def _range_features(
    engine: Any, silver: Any, folded: pa.Table, source: str, target: str
) -> pa.Table:
    """The feature rows of one range: windows on sorted columns when exact, else in SQL."""
    windowed = window_columns(engine.run_sql(tx_sql(source), {"silver_transactions": silver}))
    if windowed is None:
        sql = features_sql("label_summary", source_filter=source, target_filter=target)
        return engine.run_sql(sql, {"silver_transactions": silver, "label_summary": folded})
    tallies = label_tallies(windowed, folded)
    sql = features_sql(target_filter=target, windowed_relation="windowed_tx")
    inputs = {KNOWN_RELATIONS[entity]: table for entity, table in tallies.items()}
    return engine.run_sql(sql, {"windowed_tx": windowed, **inputs})
