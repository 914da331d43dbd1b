"""Gold stage: the five fraud datamarts of the original platform, aggregated from silver.

Pure functions `(engine, inputs) -> pa.Table`, one per datamart, each running its SQL model
(`lakehouse/pipeline/models/dm_*.sql`) over `silver_transactions`. The runner reads silver
from Delta, passes it in, checks each result and overwrites the gold table (datamarts are
recomputed in full on every run: they are pure aggregates, so a rerun gives the same rows).
The publish stage then copies them into the analytics DB served by the datamarts API.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from lakehouse.engines.base import Engine, TableLike
from lakehouse.pipeline.models import DATAMART_MODELS, run_model

DATAMART_NAMES: tuple[str, ...] = tuple(model.name for model in DATAMART_MODELS)


def dm_client_features(engine: Engine, inputs: Mapping[str, TableLike]) -> pa.Table:
    """Per client: purchases, amount mean/std, fraud/drop/labeled/refund counts, rates."""
    return run_model(engine, "dm_client_features", inputs)


def dm_card_features(engine: Engine, inputs: Mapping[str, TableLike]) -> pa.Table:
    """Per card (with its type): purchases, mean amount, fraud/drop/labeled counts, rates."""
    return run_model(engine, "dm_card_features", inputs)


def dm_client_velocity(engine: Engine, inputs: Mapping[str, TableLike]) -> pa.Table:
    """Per client: active days, mean and max purchases per active calendar day."""
    return run_model(engine, "dm_client_velocity", inputs)


def dm_mcc_fraud_risk(engine: Engine, inputs: Mapping[str, TableLike]) -> pa.Table:
    """Per merchant category: purchases, fraud/drop/labeled counts, rates."""
    return run_model(engine, "dm_mcc_fraud_risk", inputs)


def dm_time_of_day_fraud(engine: Engine, inputs: Mapping[str, TableLike]) -> pa.Table:
    """Per hour of the day: purchases, fraud/drop/labeled counts, rates."""
    return run_model(engine, "dm_time_of_day_fraud", inputs)


def build_datamarts(engine: Engine, inputs: Mapping[str, TableLike]) -> dict[str, pa.Table]:
    """All five datamarts from `silver_transactions` (an in-memory table or a dataset).

    A one-shot RecordBatchReader can't feed five models; pass a table or a dataset.
    """
    return {name: run_model(engine, name, inputs) for name in DATAMART_NAMES}
