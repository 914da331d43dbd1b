"""The SQL models run over in-memory tables, as the model tests call them.

`build_silver` / `build_datamarts` build all silver / gold models (`build_models` over the
registry's lists); `silver_transactions` builds that one model, every transaction new unless
`known_transaction_ids` is given.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from lakehouse.engines.base import Engine, TableLike
from lakehouse.pipeline.build import build_models
from lakehouse.pipeline.models import DATAMART_MODELS, MODELS, SILVER_MODELS


def build_silver(engine: Engine, inputs: Mapping[str, TableLike]) -> dict[str, pa.Table]:
    """The three silver tables from the five bronze tables."""
    return build_models(engine, SILVER_MODELS, inputs)


def build_datamarts(engine: Engine, inputs: Mapping[str, TableLike]) -> dict[str, pa.Table]:
    """The five datamarts from `silver_transactions`."""
    return build_models(engine, DATAMART_MODELS, inputs)


def silver_transactions(engine: Engine, inputs: Mapping[str, TableLike]) -> pa.Table:
    """The silver rows of the bronze batches in `inputs`."""
    model = MODELS["silver_transactions"]
    return build_models(engine, [model], inputs)[model.name]
