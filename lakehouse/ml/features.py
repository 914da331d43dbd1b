"""The one feature contract of the fraud model, shared by training and by the scoring API.

Data reaches this module as `silver_transactions` rows (docs/CONTRACTS.md). The gold model
`ml_features` (`FEATURES_MODEL`) turns them, with one engine-neutral SQL statement, into one row
per transaction of point-in-time features; the pipeline writes that table to
`<lake>/gold/ml_features`, training reads it, and the scoring API calls
`compute_features_for_events`, which runs the *same* SQL in-process over a small in-memory
history plus the new events — so a feature can never mean one thing in training and another in
serving (docs/design.md rule 7, Feast's "one feature list, one function").

Point in time, by construction:
- behavioural windows use `RANGE BETWEEN n PRECEDING AND 1 PRECEDING` over epoch seconds, so
  only strictly earlier transactions count, never the current one or a later one;
- merchant, MCC and global fraud rates use only labels already known: the label of a
  transaction on day d is taken as known once day d has ended plus `label_delay_seconds`, so a
  transaction on day D sees days d with (D - d) * 86400 >= 86400 + label_delay_seconds;
- every look-back is bounded by `HISTORY_DAYS`, except the label tallies, which serving keeps as
  a compact per-merchant/per-MCC summary (`label_summary`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:  # the pipeline package is only needed when the model object is asked for
    from lakehouse.pipeline.model import Model

# Bump whenever a feature is added, removed or its definition changes: it is logged with every
# model, and the scoring API refuses a model whose feature set it does not compute.
FEATURE_SET_VERSION = "2026.11.1"

HISTORY_DAYS = 30
_DAY = 86_400
_WINDOWS: dict[str, int] = {"1h": 3_600, "24h": _DAY, "7d": 7 * _DAY, "30d": HISTORY_DAYS * _DAY}
_HISTORY_SECONDS = HISTORY_DAYS * _DAY
# A merchant with few known labels is pulled toward the global rate, as if it had this many
# labeled transactions at that rate (Bayesian smoothing with a pseudo-count).
RISK_PRIOR_WEIGHT = 50

# Category codes: the SQL CASE expressions and `basic_feature_frame` are both generated from
# these dicts, so the batch table and a scored payload encode a category identically.
CARD_BRAND_CODES: dict[str, int] = {"visa": 0, "mastercard": 1, "amex": 2, "discover": 3}
CARD_TYPE_CODES: dict[str, int] = {"debit": 0, "credit": 1, "debit (prepaid)": 2}
USE_CHIP_CODES: dict[str, int] = {
    "swipe transaction": 0, "chip transaction": 1, "online transaction": 2,
}
US_STATES: tuple[str, ...] = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ",
    "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT",
    "VA", "WA", "WV", "WI", "WY", "DC",
)
# merchant_state as a model input: the seed's field, reduced to where the card was used.
MERCHANT_STATE_CODES: dict[str, int] = {"us": 0, "online": 1, "abroad": 2}
UNKNOWN_CODE = -1

BASIC_FEATURE_COLUMNS: list[str] = [
    "amount", "card_brand", "card_type", "merchant_state", "use_chip", "credit_limit",
    "per_capita_income", "yearly_income", "total_debt", "credit_score", "num_credit_cards",
]
CATEGORICAL_COLUMNS: list[str] = ["card_brand", "card_type", "merchant_state", "use_chip"]
ERROR_FLAGS: dict[str, str] = {
    "err_bad_cvv": "Bad CVV",
    "err_bad_card_number": "Bad Card Number",
    "err_bad_expiration": "Bad Expiration",
    "err_bad_pin": "Bad PIN",
    "err_insufficient_balance": "Insufficient Balance",
}
_WINDOW_COLUMNS = [
    f"{entity}_{kind}_{window}"
    for entity in ("card", "client")
    for window in _WINDOWS
    for kind in ("tx_count", "amount_sum")
]
BEHAVIOUR_COLUMNS: list[str] = [
    *_WINDOW_COLUMNS,
    "client_amount_mean_30d", "client_amount_std_30d", "amount_to_client_mean_30d",
    "amount_zscore_client_30d", "seconds_since_prev_card", "seconds_since_prev_client",
    "is_new_merchant", "is_new_state", "is_first_abroad", "is_first_online",
    "merchant_fraud_risk", "merchant_labels_known", "mcc_fraud_risk", "global_fraud_rate",
]
STATIC_COLUMNS: list[str] = [
    "hour", "is_refund", "is_online", "is_abroad", "has_chip", *ERROR_FLAGS, "has_error",
]
FEATURE_COLUMNS: list[str] = [*BASIC_FEATURE_COLUMNS, *STATIC_COLUMNS, *BEHAVIOUR_COLUMNS]
KEY_COLUMNS: list[str] = [
    "transaction_id", "ts", "tx_date", "card_id", "client_id", "merchant_id", "label",
]
# The silver columns the SQL reads: what a caller of `compute_features_for_events` must supply.
SILVER_INPUT_COLUMNS: list[str] = [
    "transaction_id", "ts", "tx_date", "hour", "client_id", "card_id", "merchant_id", "amount",
    "is_refund", "use_chip", "merchant_state", "mcc_code", "errors", "has_error", "is_online",
    "is_abroad", "label", "card_brand", "card_type", "has_chip", "credit_limit",
    "per_capita_income", "yearly_income", "total_debt", "credit_score", "num_credit_cards",
]
LABEL_SUMMARY_COLUMNS: list[str] = ["merchant_id", "mcc_code", "day_n", "fraud_n", "labeled_n"]


def features_sql(label_summary_relation: str | None = None) -> str:
    """The `ml_features` SQL; `{label_delay_seconds}` is the one parameter.

    With `label_summary_relation`, the known-label tallies come from that relation (columns
    `LABEL_SUMMARY_COLUMNS`) instead of from the labels of the input rows — how serving keeps a
    bounded state while computing the same numbers. (Text built in `feature_sql.py`.)
    """
    from lakehouse.ml import feature_sql

    return feature_sql.features_sql(label_summary_relation)


def _labels_daily_sql() -> str:
    """Known-label tallies per (merchant, MCC, day) over `silver_transactions`."""
    from lakehouse.ml.feature_sql import LABELS_DAILY_BODY

    return (
        "WITH tx AS (SELECT merchant_id, mcc_code, label, "
        "CAST(FLOOR(epoch(ts) / 86400) AS BIGINT) AS day_n FROM silver_transactions)"
        f"{LABELS_DAILY_BODY}"
    )


def feature_batches(
    engine: Any, silver: Any, params: Mapping[str, Any] | None = None, *, buckets: int = 8
) -> Iterator[pa.Table]:
    """`ml_features` in `buckets` pieces of clients — the same rows as the one-shot model.

    Every window partitions by card or client and a card belongs to one client, so a bucket of
    clients (`client_id % buckets`) carries all it needs; the merchant/MCC/global label
    tallies are computed once over all rows and shared. Peak memory is one bucket's output
    instead of the whole table (about 6 GB at the full 13.3 M rows), so a runner can stream the
    pieces into one Delta commit.

    Args:
        engine: a `lakehouse.engines` engine (`run_sql(sql, inputs)`).
        silver: `silver_transactions` (Arrow table or dataset).
        params: `{"label_delay_seconds": n}`; None reads the settings.
        buckets: number of pieces.
    """
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    from lakehouse.ml import feature_sql

    summary = engine.run_sql(_labels_daily_sql(), {"silver_transactions": silver})
    for bucket in range(int(buckets)):
        sql = feature_sql.features_sql(
            "label_summary", source_filter=f"client_id % {int(buckets)} = {bucket}"
        )
        yield engine.run_sql(render_sql(sql, params),
                             {"silver_transactions": silver, "label_summary": summary})


def feature_params(label_delay_days: int | None = None) -> dict[str, int]:
    """The SQL parameters, from `Settings.label_delay_days` unless given."""
    if label_delay_days is None:
        from lakehouse.config import get_settings

        label_delay_days = get_settings().label_delay_days
    return {"label_delay_seconds": int(label_delay_days) * _DAY}


def render_sql(sql: str, params: Mapping[str, Any] | None) -> str:
    """Substitute the numeric parameters; anything non-numeric is refused, never spliced."""
    values = dict(feature_params() if params is None else params)
    delay = values.get("label_delay_seconds")
    if isinstance(delay, bool) or not isinstance(delay, int | float):
        raise ValueError(f"label_delay_seconds must be a number of seconds, not {delay!r}")
    return sql.replace("{label_delay_seconds}", str(int(delay)))


def _run_duckdb(sql: str, inputs: Mapping[str, pa.Table], connection: Any = None) -> pa.Table:
    import duckdb

    if connection is not None:
        # A caller's long-lived connection (the scoring API keeps one per worker thread): on
        # a few hundred rows, opening a connection costs as much as the query itself.
        for name, table in inputs.items():
            connection.register(name, table)
        try:
            return connection.sql(sql).to_arrow_table()
        finally:
            for name in inputs:
                connection.unregister(name)
    # A private in-memory connection per call: thread-safe under a threaded web server and
    # nothing leaks between calls; opening one costs well under a millisecond.
    connection = duckdb.connect()
    try:
        connection.execute("SET threads TO 1")
        for name, table in inputs.items():
            connection.register(name, table)
        return connection.sql(sql).to_arrow_table()
    finally:
        connection.close()


def _silver_frame(table: pa.Table) -> pa.Table:
    """Keep the columns the SQL reads, in a fixed order; a missing label means 'not known'."""
    if "label" not in table.column_names:
        table = table.append_column("label", pa.nulls(table.num_rows, pa.int32()))
    missing = [c for c in SILVER_INPUT_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"transactions lack the silver columns {missing}")
    return table.select(SILVER_INPUT_COLUMNS)


def _union(history: pa.Table, events: pa.Table) -> pa.Table:
    history = _silver_frame(history)
    events = _silver_frame(events).cast(history.schema)
    # An event already present in the history is the same transaction: the event copy wins.
    import pyarrow.compute as pc

    keep = pc.invert(pc.is_in(history["transaction_id"], value_set=events["transaction_id"]))
    return pa.concat_tables([history.filter(keep), events])


def compute_features_for_events(
    history: pa.Table,
    events: pa.Table,
    params: Mapping[str, Any] | None = None,
    *,
    label_summary: pa.Table | None = None,
    connection: Any = None,
) -> pa.Table:
    """Feature rows of `events`, computed by the `ml_features` SQL over `history` ∪ `events`.

    Args:
        history: silver rows of the events' cards and clients over the last `HISTORY_DAYS`
            (more rows are harmless). Their labels feed the merchant/MCC risk unless
            `label_summary` is given.
        events: the transactions to score, with the `SILVER_INPUT_COLUMNS` (label optional).
        params: `{"label_delay_seconds": n}`; `None` reads the settings.
        label_summary: known-label tallies from `label_summary(...)`, the bounded state that
            replaces the full labeled history for the risk features.
        connection: a DuckDB connection to reuse (used by one thread at a time); None opens
            a private one for this call.

    Returns:
        One row per event, columns `KEY_COLUMNS` + `FEATURE_COLUMNS`, in the events' order.
    """
    combined = _union(history, events)
    inputs = {"silver_transactions": combined}
    relation = None
    if label_summary is not None:
        inputs["label_summary"] = label_summary.select(LABEL_SUMMARY_COLUMNS)
        relation = "label_summary"
    sql = render_sql(features_sql(relation), params)
    ids = pa.table({"transaction_id": events["transaction_id"].cast(pa.int64()),
                    "event_order": pa.array(range(events.num_rows), pa.int64())})
    inputs["event_ids"] = ids
    wrapped = (
        f"SELECT f.* FROM ({sql}) AS f JOIN event_ids AS e "
        "ON f.transaction_id = e.transaction_id ORDER BY e.event_order"
    )
    return _run_duckdb(wrapped, inputs, connection)


def label_summary(
    silver: pa.Table, params: Mapping[str, Any] | None = None, *, as_of_day: int | None = None
) -> pa.Table:
    """Known-label tallies per (merchant, MCC, day) — the bounded risk state for serving.

    With `as_of_day` (days since 1970-01-01 of the first day to be scored), every day whose
    labels are already usable on that day is folded into one row per (merchant, MCC) dated on
    the last such day: the cumulative sums the risk features need stay identical for any event
    on or after `as_of_day`, and the state shrinks to one row per pair plus the last few days.
    """
    daily_sql = _labels_daily_sql()
    if as_of_day is not None:
        delay = int(render_sql("{label_delay_seconds}", params))
        cutoff = int(as_of_day) - 1 - (delay + _DAY - 1) // _DAY
        daily_sql = f"""
            SELECT merchant_id, mcc_code, CASE WHEN day_n <= {cutoff} THEN {cutoff}
                   ELSE day_n END AS day_n,
                   CAST(SUM(fraud_n) AS BIGINT) AS fraud_n,
                   CAST(SUM(labeled_n) AS BIGINT) AS labeled_n
            FROM ({daily_sql}) AS daily GROUP BY 1, 2, 3"""
    return _run_duckdb(daily_sql, {"silver_transactions": _silver_frame(silver)})


def basic_feature_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The seed's eleven request fields (dataset vocabulary) -> the basic model matrix.

    Categories are matched case-insensitively and coded exactly as the SQL codes them; an
    unknown category becomes `UNKNOWN_CODE` (the API rejects those before scoring).
    """
    missing = [c for c in BASIC_FEATURE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"missing request fields {missing}")

    def codes(column: str, mapping: Mapping[str, int]) -> pd.Series:
        lowered = frame[column].astype("string").str.strip().str.lower()
        return lowered.map(mapping).fillna(UNKNOWN_CODE).astype("int64")

    state = frame["merchant_state"].astype("string").str.strip().str.upper()
    state_code = pd.Series(MERCHANT_STATE_CODES["abroad"], index=frame.index, dtype="int64")
    state_code[state.isin(US_STATES).fillna(False)] = MERCHANT_STATE_CODES["us"]
    state_code[(state == "ONLINE").fillna(False)] = MERCHANT_STATE_CODES["online"]
    out = pd.DataFrame(index=frame.index)
    for column in BASIC_FEATURE_COLUMNS:
        if column == "card_brand":
            out[column] = codes(column, CARD_BRAND_CODES)
        elif column == "card_type":
            out[column] = codes(column, CARD_TYPE_CODES)
        elif column == "use_chip":
            out[column] = codes(column, USE_CHIP_CODES)
        elif column == "merchant_state":
            out[column] = state_code
        else:
            out[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return out


def __getattr__(name: str) -> Model:
    # FEATURES_MODEL is built on first use so the scoring API can import this module without
    # the pipeline package, and the pipeline registry can import it without a cycle.
    if name == "FEATURES_MODEL":
        return _features_model()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _features_model() -> Model:
    from lakehouse.pipeline.model import Check, Model

    return Model(
        name="ml_features",
        layer="gold",
        inputs=("silver_transactions",),
        sql=features_sql(),
        grain="one row per transaction (purchases and refunds), point in time",
        description=(
            "Point-in-time fraud features: trailing card/client windows over strictly earlier "
            "transactions, amount against the client's own history, first-time flags, "
            "merchant/MCC fraud risk from labels already known, error flags, static fields. "
            f"Feature set {FEATURE_SET_VERSION}."
        ),
        checks=(
            Check("unique", "transaction_id"),
            Check("not_null", "transaction_id"),
            Check("not_null", "ts"),
            Check("accepted_values", "label", (0, 1)),
            Check("expression", None, "merchant_fraud_risk BETWEEN 0 AND 1"),
            Check("expression", None, "card_tx_count_1h <= card_tx_count_24h"),
        ),
        params=("label_delay_seconds",),
    )
