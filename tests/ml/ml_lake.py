"""Helpers of the training tests: generated raw files -> a real gold feature table.

`build_features` runs the real path — the feeder's bronze functions, the silver SQL models and
the `ml_features` model on DuckDB — over the five raw files; `lake_settings` roots a
`Settings` in a temporary folder (own MLflow store), optionally sharing another lake.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.config import Settings

ML_CLIENTS = 90
ML_TRANSACTIONS = 60_000
ML_SEED = 11
FRAUD_MULTIPLIER = 8.0
LABEL_DELAY_DAYS = 7


def build_features(raw_dir: Path) -> pa.Table:
    """Raw files -> bronze (feeder functions) -> silver and ml_features (SQL models, DuckDB)."""
    from lakehouse.engines.duckdb import DuckDBEngine
    from lakehouse.ml.features import feature_params
    from lakehouse.pipeline import feeder
    from lakehouse.pipeline.models import run_model
    from lakehouse.pipeline.preprocessing import build_silver

    raw = feeder.read_reference_csv((raw_dir / "transactions_data.csv").read_bytes())
    day = pc.utf8_slice_codeunits(raw.column("date"), 0, 10)
    bronze = {
        "bronze_transactions": feeder.bronze_transactions(raw.append_column("situation_date", day)),
        "bronze_cards": feeder.bronze_cards(
            feeder.read_reference_csv((raw_dir / "cards_data.csv").read_bytes()), "test-key"
        ),
        "bronze_users": feeder.bronze_users(
            feeder.read_reference_csv((raw_dir / "users_data.csv").read_bytes())
        ),
        "bronze_mcc_codes": feeder.bronze_mcc_codes((raw_dir / "mcc_codes.json").read_bytes()),
        "bronze_fraud_labels": feeder.bronze_fraud_labels(
            (raw_dir / "train_fraud_labels.json").read_bytes()
        ),
    }
    engine = DuckDBEngine(threads=2)
    silver = build_silver(engine, bronze)["silver_transactions"]
    return run_model(engine, "ml_features", {"silver_transactions": silver},
                     feature_params(LABEL_DELAY_DAYS))


def lake_settings(data_dir: Path, lake: str | None = None) -> Settings:
    """Settings rooted in `data_dir` (own MLflow store), optionally sharing another lake."""
    return Settings(data_dir=data_dir, lake_uri=lake, label_delay_days=LABEL_DELAY_DAYS)
