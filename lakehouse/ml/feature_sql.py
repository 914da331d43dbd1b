"""The `ml_features` SQL text, generated from the feature contract in `features.py`.

Kept apart from `lakehouse.ml.features` only for size: the category codes, windows and column
lists it reads all live there, so the batch table (this SQL, run by the pipeline) and a scored
payload (`basic_feature_frame`, `compute_features_for_events`) cannot drift apart. One
statement, engine-neutral (DuckDB dialect in the subset Spark SQL accepts), one parameter
`{label_delay_seconds}`.
"""

from __future__ import annotations

from collections.abc import Mapping

from lakehouse.ml.features import (
    _HISTORY_SECONDS,
    _WINDOW_COLUMNS,
    _WINDOWS,
    BASIC_FEATURE_COLUMNS,
    CARD_BRAND_CODES,
    CARD_TYPE_CODES,
    ERROR_FLAGS,
    LABEL_SUMMARY_COLUMNS,
    MERCHANT_STATE_CODES,
    RISK_PRIOR_WEIGHT,
    UNKNOWN_CODE,
    US_STATES,
    USE_CHIP_CODES,
)


def _case(column: str, codes: Mapping[str, int]) -> str:
    arms = " ".join(f"WHEN '{name}' THEN {code}" for name, code in codes.items())
    return f"CASE lower({column}) {arms} ELSE {UNKNOWN_CODE} END"


def _state_case(column: str) -> str:
    states = ", ".join(f"'{state}'" for state in US_STATES)
    return (
        f"CASE WHEN upper({column}) = 'ONLINE' THEN {MERCHANT_STATE_CODES['online']} "
        f"WHEN upper({column}) IN ({states}) THEN {MERCHANT_STATE_CODES['us']} "
        f"ELSE {MERCHANT_STATE_CODES['abroad']} END"
    )


def _window(partition: str, seconds: int, order: str = "ts_s") -> str:
    return (
        f"OVER (PARTITION BY {partition} ORDER BY {order} "
        f"RANGE BETWEEN {seconds} PRECEDING AND 1 PRECEDING)"
    )


# Labels of day d are usable on day D when (D - d) * 86400 >= 86400 + delay (see docstring).
_KNOWN_FRAME = (
    "ORDER BY day_s RANGE BETWEEN UNBOUNDED PRECEDING AND ({label_delay_seconds} + 86400) PRECEDING"
)

LABELS_DAILY_BODY = """
    SELECT merchant_id, mcc_code, day_n,
           CAST(SUM(label) AS BIGINT) AS fraud_n, CAST(COUNT(label) AS BIGINT) AS labeled_n
    FROM tx WHERE label IS NOT NULL
    GROUP BY merchant_id, mcc_code, day_n"""


def _risk_ctes() -> str:
    """Cumulative known-label tallies per merchant, MCC and overall, one row per (key, day)."""
    parts = []
    for key, name in (("merchant_id", "merchant"), ("mcc_code", "mcc"), (None, "global")):
        keys = f"{key}, " if key else ""
        partition = f"PARTITION BY {key} " if key else ""
        parts.append(f"""
{name}_days AS (
    SELECT {keys}day_n, SUM(fraud_n) AS fraud_n, SUM(labeled_n) AS labeled_n
    FROM (SELECT {keys}day_n, fraud_n, labeled_n FROM labels_daily
          UNION ALL SELECT DISTINCT {keys}day_n, 0, 0 FROM tx) AS u
    GROUP BY {keys}day_n),
{name}_known AS (
    SELECT {keys}day_n,
           COALESCE(SUM(fraud_n) OVER ({partition}{_KNOWN_FRAME}), 0) AS fraud_known,
           COALESCE(SUM(labeled_n) OVER ({partition}{_KNOWN_FRAME}), 0) AS labeled_known
    FROM (SELECT {keys}day_n, fraud_n, labeled_n, day_n * 86400 AS day_s FROM {name}_days) AS d)""")
    return ",".join(parts)


def _behaviour_selects() -> list[str]:
    """The trailing-window expressions, each over strictly earlier rows only."""
    selects = []
    for entity, partition in (("card", "card_id"), ("client", "client_id")):
        for window, seconds in _WINDOWS.items():
            over = _window(partition, seconds)
            selects.append(f"COUNT(*) {over} AS {entity}_tx_count_{window}")
            selects.append(f"COALESCE(SUM(amount) {over}, 0.0) AS {entity}_amount_sum_{window}")
        selects.append(
            f"COALESCE(ts_s - MAX(ts_s) {_window(partition, _HISTORY_SECONDS)}, "
            f"{_HISTORY_SECONDS}) AS seconds_since_prev_{entity}"
        )
    client_30d = _window("client_id", _HISTORY_SECONDS)
    selects += [
        f"STDDEV_SAMP(amount) {client_30d} AS client_amount_std_30d",
        f"COUNT(*) {_window('client_id, merchant_id', _HISTORY_SECONDS)} AS prior_at_merchant",
        f"COUNT(*) {_window('client_id, merchant_state', _HISTORY_SECONDS)} AS prior_in_state",
        f"SUM(is_abroad_i) {client_30d} AS prior_abroad",
        f"SUM(is_online_i) {client_30d} AS prior_online",
    ]
    return selects


def features_sql(
    label_summary_relation: str | None = None, source_filter: str | None = None
) -> str:
    """The `ml_features` SQL; `{label_delay_seconds}` is the one parameter.

    With `label_summary_relation`, the known-label tallies come from that relation (columns
    `LABEL_SUMMARY_COLUMNS`) instead of from the labels of the input rows — how serving keeps a
    bounded state while computing the same numbers. `source_filter` (a SQL condition built by
    `features.feature_batches`, never user text) restricts the rows featurised, e.g. to one
    bucket of clients.
    """
    labels_daily = (
        f"SELECT {', '.join(LABEL_SUMMARY_COLUMNS)} FROM {label_summary_relation}"
        if label_summary_relation
        else LABELS_DAILY_BODY
    )
    errors = ",\n        ".join(
        f"CASE WHEN errors LIKE '%{text}%' THEN 1 ELSE 0 END AS {name}"
        for name, text in ERROR_FLAGS.items()
    )
    behaviour = ",\n        ".join(_behaviour_selects())
    smoothed = (
        "(COALESCE({k}.fraud_known, 0) + {w} * g.rate) / (COALESCE({k}.labeled_known, 0) + {w})"
    )
    return f"""
WITH tx AS (
    SELECT transaction_id, ts, tx_date, card_id, client_id, merchant_id, mcc_code, label,
        CAST(epoch(ts) AS BIGINT) AS ts_s,
        CAST(FLOOR(epoch(ts) / 86400) AS BIGINT) AS day_n,
        CAST(amount AS DOUBLE) AS amount,
        {_case('card_brand', CARD_BRAND_CODES)} AS card_brand,
        {_case('card_type', CARD_TYPE_CODES)} AS card_type,
        {_state_case('merchant_state')} AS merchant_state,
        merchant_state AS merchant_state_raw,
        {_case('use_chip', USE_CHIP_CODES)} AS use_chip,
        CAST(credit_limit AS DOUBLE) AS credit_limit,
        CAST(per_capita_income AS DOUBLE) AS per_capita_income,
        CAST(yearly_income AS DOUBLE) AS yearly_income,
        CAST(total_debt AS DOUBLE) AS total_debt,
        CAST(credit_score AS DOUBLE) AS credit_score,
        CAST(num_credit_cards AS DOUBLE) AS num_credit_cards,
        CAST(hour AS INT) AS hour,
        CASE WHEN is_refund THEN 1 ELSE 0 END AS is_refund,
        CASE WHEN is_online THEN 1 ELSE 0 END AS is_online_i,
        CASE WHEN is_abroad THEN 1 ELSE 0 END AS is_abroad_i,
        CASE WHEN has_chip THEN 1 ELSE 0 END AS has_chip,
        {errors},
        CASE WHEN has_error THEN 1 ELSE 0 END AS has_error
    FROM silver_transactions{f" WHERE {source_filter}" if source_filter else ""}),
labels_daily AS ({labels_daily}),{_risk_ctes()},
windowed_raw AS (
    SELECT tx.*,
        {behaviour}
    FROM tx),
windowed AS (
    -- the mean from the 30-day sum and count already computed: one window aggregate less
    SELECT *, client_amount_sum_30d / NULLIF(client_tx_count_30d, 0) AS client_amount_mean_30d
    FROM windowed_raw),
global_rate AS (
    SELECT day_n, CASE WHEN labeled_known > 0 THEN CAST(fraud_known AS DOUBLE) / labeled_known
                       ELSE 0.0 END AS rate
    FROM global_known)
SELECT w.transaction_id, w.ts, w.tx_date, w.card_id, w.client_id, w.merchant_id, w.label,
    {", ".join(f"w.{c}" for c in BASIC_FEATURE_COLUMNS)},
    w.hour, w.is_refund, w.is_online_i AS is_online, w.is_abroad_i AS is_abroad, w.has_chip,
    {", ".join(f"w.{c}" for c in ERROR_FLAGS)}, w.has_error,
    {", ".join(f"w.{c}" for c in _WINDOW_COLUMNS)},
    w.client_amount_mean_30d, w.client_amount_std_30d,
    w.amount / NULLIF(w.client_amount_mean_30d, 0) AS amount_to_client_mean_30d,
    (w.amount - w.client_amount_mean_30d) / NULLIF(w.client_amount_std_30d, 0)
        AS amount_zscore_client_30d,
    w.seconds_since_prev_card, w.seconds_since_prev_client,
    CASE WHEN w.prior_at_merchant = 0 THEN 1 ELSE 0 END AS is_new_merchant,
    CASE WHEN w.prior_in_state = 0 THEN 1 ELSE 0 END AS is_new_state,
    CASE WHEN w.is_abroad_i = 1 AND COALESCE(w.prior_abroad, 0) = 0 THEN 1 ELSE 0 END
        AS is_first_abroad,
    CASE WHEN w.is_online_i = 1 AND COALESCE(w.prior_online, 0) = 0 THEN 1 ELSE 0 END
        AS is_first_online,
    {smoothed.format(k="m", w=RISK_PRIOR_WEIGHT)} AS merchant_fraud_risk,
    CAST(COALESCE(m.labeled_known, 0) AS BIGINT) AS merchant_labels_known,
    {smoothed.format(k="c", w=RISK_PRIOR_WEIGHT)} AS mcc_fraud_risk,
    g.rate AS global_fraud_rate
FROM windowed AS w
JOIN global_rate AS g ON g.day_n = w.day_n
LEFT JOIN merchant_known AS m ON m.merchant_id = w.merchant_id AND m.day_n = w.day_n
LEFT JOIN mcc_known AS c ON c.mcc_code = w.mcc_code AND c.day_n = w.day_n
"""
