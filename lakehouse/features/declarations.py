"""The behavioural features of the fraud model, each declared once as data.

A feature here is what Chronon calls a GroupBy aggregation: an entity it is grouped by, which
rows count, an aggregation, and a window. From these declarations
- `lakehouse.features.batch_sql` generates the `ml_features` SQL (window functions over
  strictly earlier rows, cumulative known-label tallies), and
- `lakehouse.features.online` computes the same numbers from per-entity state, event by event.

`AGGREGATES` are the partial aggregates (what the state must hold); `OUTPUTS` are the model
inputs, each a formula over aggregates given once in SQL, once in Python for one row and once
over numpy columns for a batch (NULL as NaN), next to each other. `FEATURE_SET_VERSION`
changes whenever any of this changes: it is logged with every model and the scoring API
refuses a model of another feature set.

Point in time, by construction:
- windows cover `[t - window, t - 1]` in whole seconds (`RANGE BETWEEN window PRECEDING AND
  1 PRECEDING`): never the current transaction, never one in the same second, never a later one;
- a label counts for a transaction of day D once `label_known_at <= D 00:00 UTC`
  (docs/scoring.md): tallies are kept per "known day", ceil(label_known_at / 1 day).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np

from lakehouse.features.derivations import ERROR_FLAGS

FEATURE_SET_VERSION = "2026.12.1"

DAY = 86_400
HISTORY_DAYS = 30
HISTORY_SECONDS = HISTORY_DAYS * DAY
WINDOWS: dict[str, int] = {"1h": 3_600, "24h": DAY, "7d": 7 * DAY, "30d": HISTORY_SECONDS}
# Recent known labels: frauds reported (labels that became known) at a merchant or in an MCC
# over the last N days. A compromised merchant shows here within days, while its cumulative
# risk is diluted by years of clean history.
RECENT_LABEL_DAYS: dict[str, int] = {"1d": 1, "7d": 7, "30d": 30}
LABEL_WINDOW_DAYS = max(RECENT_LABEL_DAYS.values())
# A merchant with few known labels is pulled toward the global rate, as if it had this many
# labeled transactions at that rate (Bayesian smoothing with a pseudo-count).
RISK_PRIOR_WEIGHT = 50

ENTITIES: dict[str, tuple[str, ...]] = {
    "card": ("card_id",),
    "client": ("client_id",),
    "client_merchant": ("client_id", "merchant_id"),
    "client_state": ("client_id", "merchant_state"),
    "merchant": ("merchant_id",),
    "mcc": ("mcc_code",),
    "global": (),
}
KINDS = ("count", "sum", "std", "last_seen", "known_fraud", "known_labeled")
ROWS = ("all", "labeled_known")
# Columns of money in whole cents: their sums are exact (DECIMAL in SQL, integer cents on
# columns, `math.fsum` online), so a window holding a purchase and its refund sums to 0, not
# to a floating-point residue that a ratio over it turns into a huge number.
MONEY_COLUMNS = frozenset({"amount"})


@dataclass(frozen=True)
class Aggregate:
    """One partial aggregate: `kind` of `column` over `entity`'s rows in `window` seconds.

    `rows="all"` aggregates every strictly earlier transaction in the window;
    `rows="labeled_known"` tallies labels already known: with no window since the beginning,
    with a window (whole days) those that became known in the last `window` seconds.
    """

    name: str
    entity: str
    kind: str
    column: str | None = None
    window: int | None = None
    rows: str = "all"

    def __post_init__(self) -> None:
        if self.entity not in ENTITIES or self.kind not in KINDS or self.rows not in ROWS:
            raise ValueError(f"aggregate {self.name}: bad entity, kind or rows")


@dataclass(frozen=True)
class Output:
    """One model input from aggregates: `sql` over the windowed row `w` (and label joins
    `m`, `c`, `g`), `python` over a dict of the same names, `array` over a dict of the same
    names as float64 columns (NULL as NaN, one entry per row); all give the same number."""

    name: str
    sql: str
    python: Callable[[Mapping[str, Any]], Any]
    array: Callable[[Mapping[str, np.ndarray]], np.ndarray]


def _windowed(entity: str) -> list[Aggregate]:
    out = []
    for label, seconds in WINDOWS.items():
        out.append(Aggregate(f"{entity}_tx_count_{label}", entity, "count", window=seconds))
        out.append(Aggregate(f"{entity}_amount_sum_{label}", entity, "sum", "amount", seconds))
    out.append(Aggregate(f"{entity}_last_seen", entity, "last_seen", "ts_s", HISTORY_SECONDS))
    return out


AGGREGATES: tuple[Aggregate, ...] = (
    *_windowed("card"),
    *_windowed("client"),
    Aggregate("client_amount_std_30d", "client", "std", "amount", HISTORY_SECONDS),
    Aggregate("prior_at_merchant", "client_merchant", "count", window=HISTORY_SECONDS),
    Aggregate("prior_in_state", "client_state", "count", window=HISTORY_SECONDS),
    Aggregate("prior_in_state_24h", "client_state", "count", window=DAY),
    Aggregate("card_online_24h", "card", "sum", "is_online_i", DAY),
    Aggregate("prior_abroad", "client", "sum", "is_abroad_i", HISTORY_SECONDS),
    Aggregate("prior_online", "client", "sum", "is_online_i", HISTORY_SECONDS),
    *(
        Aggregate(f"{entity}_{kind}", entity, kind, "label", rows="labeled_known")
        for entity in ("merchant", "mcc", "global")
        for kind in ("known_fraud", "known_labeled")
    ),
    *(
        Aggregate(f"{entity}_{kind}_{label}", entity, kind, "label", days * DAY, "labeled_known")
        for entity in ("merchant", "mcc")
        for kind in ("known_fraud", "known_labeled")
        for label, days in RECENT_LABEL_DAYS.items()
    ),
)
WINDOW_COLUMNS: list[str] = [
    a.name
    for a in AGGREGATES
    if a.kind in ("count", "sum")
    and a.entity in ("card", "client")
    and a.column in (None, "amount")
]


def _ratio(numerator: Any, denominator: Any) -> float | None:
    """SQL's `x / NULLIF(y, 0)`: NULL for a zero or missing denominator."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def _ratio_array(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """`_ratio` over columns: NaN where the denominator is 0 or either side NaN."""
    out = np.full(np.shape(denominator), np.nan)
    return np.divide(numerator, denominator, out=out, where=denominator != 0)


def _mean(v: Mapping[str, Any]) -> float | None:
    return _ratio(v["client_amount_sum_30d"], v["client_tx_count_30d"])


def _mean_array(v: Mapping[str, np.ndarray]) -> np.ndarray:
    return _ratio_array(v["client_amount_sum_30d"], v["client_tx_count_30d"])


def _column(name: str) -> Callable[[Mapping[str, Any]], Any]:
    """The aggregate itself as the output (one row's value, or a batch's column): a C-level
    lookup, as most outputs are one and a scored request evaluates them all."""
    return itemgetter(name)


def _window_mean(entity: str, label: str) -> Output:
    """Mean amount of the entity's transactions in the window (spending level, per window)."""
    total, count = f"{entity}_amount_sum_{label}", f"{entity}_tx_count_{label}"
    return Output(
        f"{entity}_amount_mean_{label}",
        f"w.{total} / NULLIF(w.{count}, 0)",
        lambda v: _ratio(v[total], v[count]),
        lambda v: _ratio_array(v[total], v[count]),
    )


def _to_card_mean(label: str) -> Output:
    """This amount against the card's usual amount: a spending jump on a compromised card."""
    total, count = f"card_amount_sum_{label}", f"card_tx_count_{label}"
    return Output(
        f"amount_to_card_mean_{label}",
        f"w.amount / NULLIF(w.{total} / NULLIF(w.{count}, 0), 0)",
        lambda v: _ratio(v["amount"], _ratio(v[total], v[count])),
        lambda v: _ratio_array(v["amount"], _ratio_array(v[total], v[count])),
    )


def _recent_labels(alias: str, entity: str, label: str) -> tuple[Output, ...]:
    """Frauds that became known in the window, the labeled volume, and their rate."""
    fraud, labeled = f"{entity}_known_fraud_{label}", f"{entity}_known_labeled_{label}"
    return (
        Output(
            f"{entity}_recent_frauds_{label}",
            f"CAST(COALESCE({alias}.{fraud}, 0) AS BIGINT)",
            _column(fraud),
            _column(fraud),
        ),
        Output(
            f"{entity}_recent_labeled_{label}",
            f"CAST(COALESCE({alias}.{labeled}, 0) AS BIGINT)",
            _column(labeled),
            _column(labeled),
        ),
        Output(
            f"{entity}_recent_fraud_rate_{label}",
            f"CAST({alias}.{fraud} AS DOUBLE) / NULLIF({alias}.{labeled}, 0)",
            lambda v: _ratio(v[fraud], v[labeled]),
            lambda v: _ratio_array(v[fraud], v[labeled]),
        ),
    )


def _since(entity: str) -> Output:
    return Output(
        f"seconds_since_prev_{entity}",
        f"COALESCE(w.ts_s - w.{entity}_last_seen, {HISTORY_SECONDS})",
        lambda v: (
            HISTORY_SECONDS
            if v[f"{entity}_last_seen"] is None
            else v["ts_s"] - v[f"{entity}_last_seen"]
        ),
        lambda v: np.where(
            np.isnan(v[f"{entity}_last_seen"]),
            HISTORY_SECONDS,
            v["ts_s"] - v[f"{entity}_last_seen"],
        ),
    )


def _first(flag: str, prior: str) -> Output:
    return Output(
        f"is_first_{flag}",
        f"CASE WHEN w.is_{flag}_i = 1 AND COALESCE(w.{prior}, 0) = 0 THEN 1 ELSE 0 END",
        lambda v: int(v[f"is_{flag}_i"] == 1 and not v[prior]),
        lambda v: ((v[f"is_{flag}_i"] == 1) & (v[prior] == 0)).astype("float64"),
    )


def _risk(alias: str, entity: str) -> Output:
    return Output(
        f"{entity}_fraud_risk",
        f"(COALESCE({alias}.fraud_known, 0) + {RISK_PRIOR_WEIGHT} * g.rate) "
        f"/ (COALESCE({alias}.labeled_known, 0) + {RISK_PRIOR_WEIGHT})",
        lambda v: (
            (v[f"{entity}_known_fraud"] + RISK_PRIOR_WEIGHT * _global_rate(v))
            / (v[f"{entity}_known_labeled"] + RISK_PRIOR_WEIGHT)
        ),
        lambda v: (
            (v[f"{entity}_known_fraud"] + RISK_PRIOR_WEIGHT * _global_rate_array(v))
            / (v[f"{entity}_known_labeled"] + RISK_PRIOR_WEIGHT)
        ),
    )


def _global_rate(v: Mapping[str, Any]) -> float:
    labeled = v["global_known_labeled"]
    return v["global_known_fraud"] / labeled if labeled > 0 else 0.0


def _global_rate_array(v: Mapping[str, np.ndarray]) -> np.ndarray:
    labeled = v["global_known_labeled"]
    out = np.zeros(np.shape(labeled))
    return np.divide(v["global_known_fraud"], labeled, out=out, where=labeled > 0)


OUTPUTS: tuple[Output, ...] = (
    *(Output(name, f"w.{name}", _column(name), _column(name)) for name in WINDOW_COLUMNS),
    Output("client_amount_mean_30d", "w.client_amount_mean_30d", _mean, _mean_array),
    Output(
        "client_amount_std_30d",
        "w.client_amount_std_30d",
        _column("client_amount_std_30d"),
        _column("client_amount_std_30d"),
    ),
    Output(
        "amount_to_client_mean_30d",
        "w.amount / NULLIF(w.client_amount_mean_30d, 0)",
        lambda v: _ratio(v["amount"], _mean(v)),
        lambda v: _ratio_array(v["amount"], _mean_array(v)),
    ),
    Output(
        "amount_zscore_client_30d",
        "(w.amount - w.client_amount_mean_30d) / NULLIF(w.client_amount_std_30d, 0)",
        lambda v: (
            None if _mean(v) is None else _ratio(v["amount"] - _mean(v), v["client_amount_std_30d"])
        ),
        lambda v: _ratio_array(v["amount"] - _mean_array(v), v["client_amount_std_30d"]),
    ),
    _since("card"),
    _since("client"),
    Output(
        "is_new_merchant",
        "CASE WHEN w.prior_at_merchant = 0 THEN 1 ELSE 0 END",
        lambda v: int(v["prior_at_merchant"] == 0),
        lambda v: (v["prior_at_merchant"] == 0).astype("float64"),
    ),
    Output(
        "is_new_state",
        "CASE WHEN w.prior_in_state = 0 THEN 1 ELSE 0 END",
        lambda v: int(v["prior_in_state"] == 0),
        lambda v: (v["prior_in_state"] == 0).astype("float64"),
    ),
    _first("abroad", "prior_abroad"),
    _first("online", "prior_online"),
    _risk("m", "merchant"),
    Output(
        "merchant_labels_known",
        "CAST(COALESCE(m.labeled_known, 0) AS BIGINT)",
        _column("merchant_known_labeled"),
        _column("merchant_known_labeled"),
    ),
    _risk("c", "mcc"),
    Output("global_fraud_rate", "g.rate", _global_rate, _global_rate_array),
    *(_window_mean("client", label) for label in ("24h", "7d")),
    _to_card_mean("7d"),
    _to_card_mean("30d"),
    *(o for label in RECENT_LABEL_DAYS for o in _recent_labels("m", "merchant", label)),
    *(o for label in ("7d", "30d") for o in _recent_labels("c", "mcc", label)),
    # Burst signals: a stolen card is used several times within hours, online or in a state
    # or country its owner seldom shops in, while the owner's own habits spread over the month.
    Output(
        "card_online_count_24h",
        "CAST(w.card_online_24h AS BIGINT)",
        _column("card_online_24h"),
        _column("card_online_24h"),
    ),
    Output(
        "card_velocity_24h",
        f"CAST(w.card_tx_count_24h AS DOUBLE) * {HISTORY_DAYS} / NULLIF(w.card_tx_count_30d, 0)",
        lambda v: _ratio(v["card_tx_count_24h"] * HISTORY_DAYS, v["card_tx_count_30d"]),
        lambda v: _ratio_array(v["card_tx_count_24h"] * HISTORY_DAYS, v["card_tx_count_30d"]),
    ),
    Output(
        "state_recent_share_24h",
        "CAST(w.prior_in_state_24h AS DOUBLE) / NULLIF(w.prior_in_state, 0)",
        lambda v: _ratio(v["prior_in_state_24h"], v["prior_in_state"]),
        lambda v: _ratio_array(v["prior_in_state_24h"], v["prior_in_state"]),
    ),
)

BASIC_FEATURE_COLUMNS: list[str] = [
    "amount", "card_brand", "card_type", "merchant_state", "use_chip", "credit_limit",
    "per_capita_income", "yearly_income", "total_debt", "credit_score", "num_credit_cards",
]  # fmt: skip
CATEGORICAL_COLUMNS: list[str] = ["card_brand", "card_type", "merchant_state", "use_chip"]
STATIC_COLUMNS: list[str] = [
    "hour", "is_refund", "is_online", "is_abroad", "has_chip", *ERROR_FLAGS, "has_error",
]  # fmt: skip
BEHAVIOUR_COLUMNS: list[str] = [o.name for o in OUTPUTS]
FEATURE_COLUMNS: list[str] = [*BASIC_FEATURE_COLUMNS, *STATIC_COLUMNS, *BEHAVIOUR_COLUMNS]
KEY_COLUMNS: list[str] = [
    "transaction_id", "ts", "tx_date", "card_id", "client_id", "merchant_id", "label",
]  # fmt: skip
# The silver columns the feature SQL reads.
SILVER_INPUT_COLUMNS: list[str] = [
    "transaction_id", "ts", "tx_date", "hour", "client_id", "card_id", "merchant_id",
    "is_refund", "mcc_code", "errors", "has_error", "is_online", "is_abroad", "label",
    "label_known_at", "has_chip", *BASIC_FEATURE_COLUMNS,
]  # fmt: skip
LABEL_SUMMARY_COLUMNS: list[str] = ["merchant_id", "mcc_code", "day_n", "fraud_n", "labeled_n"]
