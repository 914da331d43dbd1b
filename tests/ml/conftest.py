"""Fixtures of the training tests: a generated dataset turned into a real feature lake.

The project's generator writes the five raw files with fraud made denser (`fraud_multiplier`)
so a few tens of thousands of rows carry enough frauds in every time window; the feeder's
bronze functions and the silver SQL models turn them into `silver_transactions`, and the
`ml_features` model (DuckDB) into the gold feature table, written as a real Delta table in a
temporary lake. Training then runs for real against a temporary MLflow SQLite store.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from ml_lake import (
    FRAUD_MULTIPLIER,
    ML_CLIENTS,
    ML_SEED,
    ML_TRANSACTIONS,
    build_features,
    lake_settings,
)

from lakehouse import catalog, storage


@pytest.fixture(scope="session")
def ml_raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lakehouse.datagen import generate

    out = tmp_path_factory.mktemp("ml_raw")
    generate(out, clients=ML_CLIENTS, transactions=ML_TRANSACTIONS, seed=ML_SEED,
             start="2018-01-01", end="2018-12-31", fraud_multiplier=FRAUD_MULTIPLIER)
    return out


@pytest.fixture(scope="session")
def ml_features_table(ml_raw_dir: Path) -> pa.Table:
    return build_features(ml_raw_dir)


@pytest.fixture(scope="session")
def feature_lake(tmp_path_factory: pytest.TempPathFactory, ml_features_table: pa.Table) -> str:
    """A lake folder holding only gold/ml_features (as the gold stage writes it)."""
    settings = lake_settings(tmp_path_factory.mktemp("feature_lake"))
    storage.write(catalog.location("ml_features", settings), ml_features_table,
                  settings=settings)
    return settings.lake


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, feature_lake: str,  # type: ignore[no-untyped-def]
            ml_raw_dir: Path):
    """Both flavours trained once on the feature lake: (settings, report).

    The raw folder is the generated one, so training sees the generator's ground truth and
    reports metrics per fraud mechanism.
    """
    from lakehouse.ml.tracking import train_and_register

    settings = lake_settings(tmp_path_factory.mktemp("trained"), feature_lake)
    settings.raw_dir = ml_raw_dir
    return settings, train_and_register(settings)
