"""Helpers of the training tests: generated raw files -> a real gold feature table.

`build_features` runs the real path — the feeder's bronze functions, the silver SQL models and
the `ml_features` model on DuckDB — over the five raw files; `lake_settings` roots a
`Settings` in a temporary folder (own MLflow store), optionally sharing another lake.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from lakehouse.config import Settings
from lakehouse.pipeline.feeder import bronze_from_raw_dir as bronze_from_raw

ML_CLIENTS = 90
ML_TRANSACTIONS = 60_000
ML_SEED = 11
FRAUD_MULTIPLIER = 8.0
LABEL_DELAY_DAYS = 7


def build_features(raw_dir: Path) -> pa.Table:
    """Raw files -> bronze (feeder functions) -> silver and ml_features (SQL models, DuckDB)."""
    from lakehouse.engines.duckdb import DuckDBEngine
    from lakehouse.pipeline.build import build_models
    from lakehouse.pipeline.models import SILVER_MODELS, run_model

    bronze = bronze_from_raw(raw_dir, "test-key")
    engine = DuckDBEngine(threads=2)
    silver = build_models(engine, SILVER_MODELS, bronze)["silver_transactions"]
    return run_model(engine, "ml_features", {"silver_transactions": silver})


def lake_settings(data_dir: Path, lake: str | None = None) -> Settings:
    """Settings rooted in `data_dir` (own MLflow store), optionally sharing another lake."""
    return Settings(data_dir=data_dir, lake_uri=lake, label_delay_days=LABEL_DELAY_DAYS)
