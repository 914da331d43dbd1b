"""The registry of SQL models: every silver and gold table, defined once, run by any engine.

Each model's SQL lives next to this file as `<table>.sql`, whose header comment states its
grain and meaning (read here into `Model.grain` / `Model.description`, so there is a single
wording). This module adds what SQL can't say — inputs, declared checks, parameters — and
`run_model` runs one model on an engine over the inputs the runner read from Delta.
`ml_features` is generated from the feature declarations (`lakehouse.features.batch_sql`) and
joins the registry here, so the runner treats every gold table alike. Silver SQL writes the
row-level derivations as `{{ derived: name }}` markers, filled from
`lakehouse.features.derivations` so silver and a scoring request share one definition.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import pyarrow as pa
import sqlglot
from sqlglot import exp

from lakehouse.config import get_settings
from lakehouse.engines.base import Engine, TableLike
from lakehouse.features.batch_sql import features_sql
from lakehouse.features.declarations import FEATURE_SET_VERSION
from lakehouse.features.derivations import render_silver
from lakehouse.formats import CARD_BRANDS, CARD_TYPES, USE_CHIP_VALUES
from lakehouse.pipeline.model import Check, Model
from lakehouse.sources.labels import LABEL_SOURCES

SQL_DIR = Path(__file__).resolve().parent

HOURS = tuple(range(24))


def _read_sql(name: str) -> tuple[str, str, str]:
    """(sql, grain, description) of `<name>.sql`, from its `-- name — grain: ...` header."""
    sql = render_silver((SQL_DIR / f"{name}.sql").read_text(encoding="utf-8"))
    header = []
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        header.append(line.removeprefix("--").strip())
    first, *rest = header or [""]
    grain = first.split("grain:", 1)[1].strip().rstrip(".") if "grain:" in first else ""
    return sql, grain, " ".join(rest)


def _sql_model(
    name: str,
    layer: str,
    inputs: tuple[str, ...],
    checks: tuple[Check, ...],
    params: tuple[str, ...] = (),
) -> Model:
    sql, grain, description = _read_sql(name)
    return Model(name, layer, inputs, sql, grain, description, checks, params)


def _key(*columns: str) -> tuple[Check, ...]:
    """Unique and not-null checks for a (possibly composite) key."""
    return (
        Check("unique", ", ".join(columns)),
        *(Check("not_null", column) for column in columns),
    )


def _labeled_counts() -> tuple[Check, ...]:
    """The invariants every fraud datamart shares (counts add up, rates are rates)."""
    return (
        Check("expression", None, "tx_count > 0"),
        Check("expression", None, "fraud_count >= 0 AND drop_count >= 0"),
        Check("expression", None, "fraud_count + drop_count = labeled_count"),
        Check("expression", None, "labeled_count <= tx_count"),
        Check("expression", None, "fraud_rate BETWEEN 0 AND 1"),
        Check("expression", None, "drop_rate BETWEEN 0 AND 1"),
        Check("expression", None, "(labeled_count = 0) = (fraud_rate IS NULL)"),
        Check("row_count_min", None, 1),
    )


SILVER_CARDS = _sql_model(
    "silver_cards",
    "silver",
    ("bronze_cards",),
    (
        *_key("card_id"),
        Check("not_null", "client_id"),
        Check("accepted_values", "card_brand", CARD_BRANDS),
        Check("accepted_values", "card_type", CARD_TYPES),
        Check("expression", None, "credit_limit >= 0"),
        Check("expression", None, "length(card_last4) = 4"),
        Check("row_count_min", None, 1),
    ),
)

SILVER_USERS = _sql_model(
    "silver_users",
    "silver",
    ("bronze_users",),
    (
        *_key("client_id"),
        Check("expression", None, "credit_score BETWEEN 300 AND 850"),
        Check("expression", None, "yearly_income >= 0 AND per_capita_income >= 0"),
        Check("expression", None, "total_debt >= 0"),
        Check("row_count_min", None, 1),
    ),
)

SILVER_TRANSACTIONS = _sql_model(
    "silver_transactions",
    "silver",
    (
        "bronze_transactions",
        "known_transaction_ids",
        "silver_cards",
        "silver_users",
        "bronze_mcc_codes",
        "bronze_fraud_labels",
    ),
    (
        *_key("transaction_id"),
        *(
            Check("not_null", column)
            for column in ("ts", "tx_date", "situation_date", "client_id", "card_id", "amount")
        ),
        Check("not_null", "merchant_state"),
        Check("not_null", "errors"),
        Check("accepted_values", "hour", HOURS),
        Check("accepted_values", "label", (0, 1)),
        Check("accepted_values", "label_source", LABEL_SOURCES),
        Check("expression", None, "(label IS NULL) = (label_source IS NULL)"),
        Check("accepted_values", "use_chip", USE_CHIP_VALUES),
        Check("accepted_values", "card_brand", CARD_BRANDS),
        Check("accepted_values", "card_type", CARD_TYPES),
        Check("expression", None, "is_refund = (amount < 0)"),
        Check("expression", None, "has_error = (errors <> 'no error')"),
        Check("expression", None, "zip IS NULL OR length(zip) = 5"),
        Check("expression", None, "NOT (is_abroad AND merchant_state = 'ONLINE')"),
        Check("expression", None, "(label IS NULL) = (label_known_at IS NULL)"),
        Check("expression", None, "label_known_at IS NULL OR label_known_at >= ts"),
    ),
    params=("label_delay_days",),
)

DM_CLIENT_FEATURES = _sql_model(
    "dm_client_features",
    "gold",
    ("silver_transactions",),
    (
        *_key("client_id"),
        *_labeled_counts(),
        Check("expression", None, "unique_merchants BETWEEN 1 AND tx_count"),
        Check("expression", None, "refund_count >= 0"),
        Check("expression", None, "avg_amount > 0 AND std_amount >= 0"),
        Check("expression", None, "(tx_count = 1) = (std_amount IS NULL)"),
    ),
)

DM_CARD_FEATURES = _sql_model(
    "dm_card_features",
    "gold",
    ("silver_transactions",),
    (
        *_key("tx_card_id"),
        Check("accepted_values", "card_type", CARD_TYPES),
        *_labeled_counts(),
        Check("expression", None, "avg_amount > 0"),
    ),
)

DM_CLIENT_VELOCITY = _sql_model(
    "dm_client_velocity",
    "gold",
    ("silver_transactions",),
    (
        *_key("client_id"),
        Check("expression", None, "active_days > 0"),
        Check("expression", None, "avg_daily_txn >= 1 AND avg_daily_txn <= max_daily_txn"),
        Check("row_count_min", None, 1),
    ),
)

DM_MCC_FRAUD_RISK = _sql_model(
    "dm_mcc_fraud_risk",
    "gold",
    ("silver_transactions",),
    (*_key("mcc_code"), *_labeled_counts()),
)

DM_TIME_OF_DAY_FRAUD = _sql_model(
    "dm_time_of_day_fraud",
    "gold",
    ("silver_transactions",),
    (*_key("hour"), Check("accepted_values", "hour", HOURS), *_labeled_counts()),
)

ML_FEATURES = Model(
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
)

SILVER_MODELS: tuple[Model, ...] = (SILVER_CARDS, SILVER_USERS, SILVER_TRANSACTIONS)
DATAMART_MODELS: tuple[Model, ...] = (
    DM_CLIENT_FEATURES,
    DM_CARD_FEATURES,
    DM_CLIENT_VELOCITY,
    DM_MCC_FRAUD_RISK,
    DM_TIME_OF_DAY_FRAUD,
)
# In dependency order: silver_cards and silver_users feed silver_transactions, which feeds gold.
MODELS: dict[str, Model] = {
    model.name: model for model in (*SILVER_MODELS, *DATAMART_MODELS, ML_FEATURES)
}


def run_model(
    engine: Engine,
    name: str,
    inputs: Mapping[str, TableLike],
    params: Mapping[str, float | int] | None = None,
) -> pa.Table:
    """Run the model called `name` on `engine` over `inputs` (catalog name -> table).

    Args:
        engine: where the SQL runs (`lakehouse.engines.get_engine()`).
        name: a key of `MODELS`.
        inputs: at least every relation in the model's `inputs`; extra ones are ignored.
        params: numeric values for the model's declared `params` (others ignored).
    Returns:
        The model's output as one Arrow table (not yet checked: see `assert_checks`).
    Raises:
        KeyError: no model has that name.
        ValueError: an input or a parameter is missing.
    """
    if name not in MODELS:
        raise KeyError(f"no SQL model named {name!r}; known models: {', '.join(MODELS)}")
    model = MODELS[name]
    missing = [relation for relation in model.inputs if relation not in inputs]
    if missing:
        raise ValueError(f"model {name} needs input(s) {missing}; got {sorted(inputs)}")
    if params is None and model.params:
        # a caller outside the stage runner: the numbers come from the settings, as there
        params = {"label_delay_days": get_settings().label_delay_days}
    sql = model.render_sql(params)
    tables = {relation: inputs[relation] for relation in model.inputs}
    for relation in _read_more_than_once(name):
        # A stream can be scanned once only; a model that reads a relation twice gets a copy.
        if isinstance(tables[relation], pa.RecordBatchReader):
            tables[relation] = tables[relation].read_all()
    return engine.run_sql(sql, tables)


@cache
def _read_more_than_once(name: str) -> frozenset[str]:
    """The inputs that `name`'s SQL scans more than once (from its parse tree)."""
    model = MODELS[name]
    tree = sqlglot.parse_one(model.render_sql(dict.fromkeys(model.params, 0)), read="duckdb")
    reads = Counter(table.name for table in tree.find_all(exp.Table))
    return frozenset(relation for relation in model.inputs if reads[relation] > 1)
