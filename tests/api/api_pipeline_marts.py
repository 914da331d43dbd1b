"""The five datamarts as the real pipeline builds and publishes them, for the API tests.

The raw files go through the pipeline's own code — the feeder's bronze functions, the silver
and gold SQL models on DuckDB (`lakehouse.pipeline.build`) — and the
gold tables are published with `lakehouse.pipeline.publish.publish_table`, the function the
`publish` stage runs (staging table, atomic swap, key index, `publish_log` row). So the API is
tested on exactly the tables and types the pipeline publishes, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.pipeline import feeder
from lakehouse.pipeline.build import build_models
from lakehouse.pipeline.models import DATAMART_MODELS, SILVER_MODELS
from lakehouse.pipeline.publish import analytics_engine, publish_table

# Only a test key: the API never sees card numbers, hashed or not.
CARD_HASH_KEY = "api-tests-card-hash-key"


def _bronze(raw_dir: Path) -> dict[str, pa.Table]:
    """Bronze tables as the feeder builds them; each day of transactions is its own batch."""
    raw = feeder.read_reference_csv((raw_dir / "transactions_data.csv").read_bytes())
    day = pc.utf8_slice_codeunits(raw.column("date"), 0, 10)

    def reference(name: str) -> pa.Table:
        return feeder.read_reference_csv((raw_dir / name).read_bytes())

    return {
        "bronze_transactions": feeder.bronze_transactions(raw.append_column("situation_date", day)),
        "bronze_cards": feeder.bronze_cards(reference("cards_data.csv"), CARD_HASH_KEY),
        "bronze_users": feeder.bronze_users(reference("users_data.csv")),
        "bronze_mcc_codes": feeder.bronze_mcc_codes((raw_dir / "mcc_codes.json").read_bytes()),
        "bronze_fraud_labels": feeder.bronze_fraud_labels(
            (raw_dir / "train_fraud_labels.json").read_bytes()
        ),
    }


def pipeline_datamarts(raw_dir: Path) -> dict[str, pa.Table]:
    """The five gold datamarts built from `raw_dir` by the pipeline's models, by table name."""
    engine = DuckDBEngine(threads=1)
    silver = build_models(engine, SILVER_MODELS, _bronze(raw_dir))["silver_transactions"]
    return build_models(engine, DATAMART_MODELS, {"silver_transactions": silver})


def publish_with_pipeline(url: str, marts: dict[str, pa.Table], lake_version: int = 1) -> None:
    """Publish `marts` into the analytics DB at `url` the way the `publish` stage does."""
    engine = analytics_engine(url)
    try:
        for name, table in marts.items():
            publish_table(engine, name, table, lake_version)
    finally:
        engine.dispose()
