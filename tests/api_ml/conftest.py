"""Fixtures of the scoring API tests: a small lake, a tracked MLflow store, registered models.

Once per session: `write_small_lake` writes silver tables and builds `gold/ml_features` with
the pipeline; both flavours are trained on it and registered as champions in a temporary
MLflow SQLite store. Training is the platform's own (`train_and_register`) with a
small configuration (`api_ml_lake.SMALL_TRAINING`). Helpers live in `api_ml_lake.py`, not
here: `from conftest import ...` is ambiguous once another folder's conftest is loaded first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pyarrow as pa
import pytest
from api_ml_lake import SMALL_TRAINING, read_gold_features, write_small_lake

from api_ml.api.main import create_app
from lakehouse.config import Settings, get_settings
from lakehouse.ml.tracking import report_as_dict, train_and_register


@dataclass
class TrainedLake:
    data_dir: Path
    tracking_uri: str
    silver: pa.Table
    gold: pd.DataFrame


@pytest.fixture(scope="session")
def trained_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrainedLake]:
    """A lake with gold features and both champions registered (built once per session)."""
    root = tmp_path_factory.mktemp("api_ml")
    data_dir = root / "data"
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    settings = Settings(data_dir=data_dir, mlflow_tracking_uri=tracking_uri, label_delay_days=2)
    silver = write_small_lake(settings)
    gold = read_gold_features(settings)
    report = train_and_register(settings, SMALL_TRAINING)
    assert all(o.promoted for o in report.outcomes), report_as_dict(report)
    yield TrainedLake(data_dir, tracking_uri, silver, gold)


@pytest.fixture
def api_settings(
    trained_lake: TrainedLake, isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Settings pointing at the session's lake and MLflow store; no polling unless asked."""
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(trained_lake.data_dir))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_lake.tracking_uri)
    monkeypatch.setenv("LAKEHOUSE_MODEL_POLL_SECONDS", "0")
    monkeypatch.setenv("LAKEHOUSE_LABEL_DELAY_DAYS", "2")
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def client(api_settings: Settings, live_server) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    """An HTTP client of the scoring API serving the session's champions on loopback."""
    with (
        live_server(create_app(api_settings)) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        yield http
