"""Fixtures of the scoring API tests: a small lake, a tracked MLflow store, registered models.

Once per session: `write_small_lake` writes silver tables and builds `gold/ml_features` with
the pipeline; both flavours are trained on it and registered as champions in a temporary
MLflow SQLite store. Training goes through `lakehouse.ml.train` when that module exists;
until then a small LightGBM fit is registered through the registry's own file format
(`lakehouse.ml.registry.write_model_files`), which is what `load_model` reads either way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from api_ml_lake import read_gold_features, write_small_lake

from lakehouse.config import Settings, get_settings


@dataclass
class TrainedLake:
    data_dir: Path
    tracking_uri: str
    silver: pa.Table
    gold: pd.DataFrame


def _fit(features: pd.DataFrame, columns: list[str]) -> object:
    import lightgbm as lgb

    labeled = features[features.label.notna()]
    data = lgb.Dataset(labeled[columns].astype("float64"), label=labeled.label.astype(int))
    params = {
        "objective": "binary",
        "verbose": -1,
        "num_leaves": 8,
        "min_data_in_leaf": 5,
        "learning_rate": 0.1,
        "seed": 1,
        "num_threads": 1,
    }
    return lgb.train(params, data, num_boost_round=40)


def register_version(
    tracking_uri: str, flavour: str, gold: pd.DataFrame, *, rounds_seed: int = 0
) -> str:
    """Register a model of `flavour` as the new champion; returns its version."""
    from mlflow.tracking import MlflowClient

    from lakehouse.ml import features as contract
    from lakehouse.ml import registry

    columns = contract.FEATURE_COLUMNS if flavour == "full" else contract.BASIC_FEATURE_COLUMNS
    name = registry.FULL_MODEL_NAME if flavour == "full" else registry.BASIC_MODEL_NAME
    booster = _fit(gold, columns)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment = client.get_experiment_by_name("api-ml-tests") or None
    experiment_id = (
        experiment.experiment_id if experiment else client.create_experiment("api-ml-tests")
    )
    run = client.create_run(experiment_id)
    metadata = {
        "flavour": flavour,
        "feature_columns": columns,
        "feature_set_version": contract.FEATURE_SET_VERSION,
        "threshold": 0.3,
        "metrics": {"average_precision": 0.5, "seed": float(rounds_seed)},
        "data_versions": {"ml_features": 0},
        "trained_at": datetime.now(UTC).isoformat(),
        "calibration": {"a": 1.0, "b": 0.0},
    }
    folder = registry.write_model_files(
        Path(os.environ["API_ML_TMP"]) / run.info.run_id, booster, metadata
    )
    client.log_artifacts(run.info.run_id, str(folder), artifact_path=registry.MODEL_DIR)
    client.set_terminated(run.info.run_id)
    try:
        client.create_registered_model(name)
    except Exception:  # already registered by an earlier call
        pass
    version = client.create_model_version(
        name, f"{run.info.artifact_uri}/{registry.MODEL_DIR}", run_id=run.info.run_id
    )
    client.set_registered_model_alias(name, registry.CHAMPION, version.version)
    return str(version.version)


@pytest.fixture(scope="session")
def trained_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrainedLake]:
    """A lake with gold features and both champions registered (built once per session)."""
    root = tmp_path_factory.mktemp("api_ml")
    os.environ["API_ML_TMP"] = str(root / "models")
    data_dir = root / "data"
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    settings = Settings(data_dir=data_dir, mlflow_tracking_uri=tracking_uri)
    silver = write_small_lake(settings)
    gold = read_gold_features(settings)
    for flavour in ("basic", "full"):
        register_version(tracking_uri, flavour, gold)
    yield TrainedLake(data_dir, tracking_uri, silver, gold)


@pytest.fixture
def api_settings(
    trained_lake: TrainedLake, isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Settings pointing at the session's lake and MLflow store; no polling unless asked."""
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(trained_lake.data_dir))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_lake.tracking_uri)
    monkeypatch.setenv("LAKEHOUSE_MODEL_POLL_SECONDS", "0")
    get_settings.cache_clear()
    return get_settings()
