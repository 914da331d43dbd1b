"""Building SQL models straight from in-memory tables, without the lake.

The stage runner builds each silver and gold model from Delta tables and writes the result
back; `build_models` runs the same models, in order, over tables a caller already holds —
the engine-parity checks, the benchmarks and the tests compare engines and recompute tables
this way. Nothing is read or written here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pyarrow as pa

from lakehouse.engines.base import Engine, TableLike
from lakehouse.pipeline.model import Model
from lakehouse.pipeline.models import run_model

# The relation of transaction ids silver already holds, so cross-batch duplicates drop.
KNOWN_IDS = "known_transaction_ids"
# What "no id is known yet" looks like: a first run or a full rebuild of silver.
NO_KNOWN_IDS = pa.table({"transaction_id": pa.array([], pa.int64())})


def build_models(
    engine: Engine,
    models: Iterable[Model],
    inputs: Mapping[str, TableLike],
    params: Mapping[str, float | int] | None = None,
) -> dict[str, pa.Table]:
    """Run `models` in order, each seeing the inputs and the models built before it.

    Args:
        engine: the engine to run the SQL on.
        models: e.g. `SILVER_MODELS` (cards and users before the transactions that join
            them) or `DATAMART_MODELS`.
        inputs: the tables the models read, by catalog name; without `known_transaction_ids`
            silver treats every transaction as new (a full build).
        params: the models' numbers (`label_delay_days`); None reads the settings.

    Returns:
        `{model name: built table}`.
    """
    relations: dict[str, TableLike] = {KNOWN_IDS: NO_KNOWN_IDS, **inputs}
    built: dict[str, pa.Table] = {}
    for model in models:
        built[model.name] = run_model(engine, model.name, relations, params)
        relations[model.name] = built[model.name]
    return built
