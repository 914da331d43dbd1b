"""Silver stage: typed, cleaned, deduplicated and joined tables from bronze.

Pure functions `(engine, inputs) -> pa.Table`, one per silver table, each running its SQL
model (`lakehouse/pipeline/models/silver_*.sql`). The stage runner reads the bronze (and
already-built silver) tables from Delta, passes them here under their catalog names, checks
the results and writes them; nothing here sees a path or a file format.

Order matters: `silver_cards` and `silver_users` are joined into `silver_transactions`, so
they are computed first (`build_silver` does all three in that order).
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from lakehouse.engines.base import Engine, TableLike
from lakehouse.pipeline.models import SILVER_MODELS, run_model

KNOWN_IDS = "known_transaction_ids"
# What "no id is known yet" looks like: a first run or a full rebuild of silver.
NO_KNOWN_IDS = pa.table({"transaction_id": pa.array([], pa.int64())})


def silver_cards(engine: Engine, inputs: Mapping[str, TableLike]) -> pa.Table:
    """bronze_cards -> silver_cards (one row per card).

    Args:
        inputs: `bronze_cards`.
    """
    return run_model(engine, "silver_cards", inputs)


def silver_users(engine: Engine, inputs: Mapping[str, TableLike]) -> pa.Table:
    """bronze_users -> silver_users (one row per client).

    Args:
        inputs: `bronze_users`.
    """
    return run_model(engine, "silver_users", inputs)


def silver_transactions(engine: Engine, inputs: Mapping[str, TableLike]) -> pa.Table:
    """Bronze batches -> their silver rows (one row per new transaction id).

    Args:
        inputs: `bronze_transactions` (the batches to process), `silver_cards`,
            `silver_users`, `bronze_mcc_codes`, `bronze_fraud_labels`, and optionally
            `known_transaction_ids` (one column `transaction_id`: ids silver already holds
            for other situation_dates; omitted = none, i.e. a full build).
    Returns:
        The rows to write for those situation_dates.
    """
    if KNOWN_IDS not in inputs:
        inputs = {**inputs, KNOWN_IDS: NO_KNOWN_IDS}
    return run_model(engine, "silver_transactions", inputs)


def build_silver(engine: Engine, inputs: Mapping[str, TableLike]) -> dict[str, pa.Table]:
    """All three silver tables from the five bronze tables, in dependency order.

    Args:
        inputs: `bronze_cards`, `bronze_users`, `bronze_transactions`, `bronze_mcc_codes`,
            `bronze_fraud_labels` (and optionally `known_transaction_ids`).
    Returns:
        `{"silver_cards": ..., "silver_users": ..., "silver_transactions": ...}`.
    """
    relations: dict[str, TableLike] = dict(inputs)
    built: dict[str, pa.Table] = {}
    stage = {
        "silver_cards": silver_cards,
        "silver_users": silver_users,
        "silver_transactions": silver_transactions,
    }
    for model in SILVER_MODELS:
        built[model.name] = stage[model.name](engine, relations)
        relations[model.name] = built[model.name]
    return built
