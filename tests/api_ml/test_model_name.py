"""`LAKEHOUSE_MODEL_NAME` renames the model end to end: training registers under it and the
scoring API serves from it (the name used to be hard-coded in training only)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from api_ml_lake import SMALL_TRAINING, seed_payload, write_small_lake

from api_ml.api.main import create_app
from lakehouse.config import get_settings
from lakehouse.ml.registry import current_version
from lakehouse.ml.tracking import train_and_register


def test_a_renamed_model_is_trained_registered_and_served(
    tmp_path: Path,
    isolated_settings: Path,
    live_server,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("LAKEHOUSE_MODEL_NAME", "card-fraud")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("LAKEHOUSE_LABEL_DELAY_DAYS", "2")
    monkeypatch.setenv("LAKEHOUSE_MODEL_POLL_SECONDS", "0")
    get_settings.cache_clear()
    settings = get_settings()
    write_small_lake(settings)
    train_and_register(settings, SMALL_TRAINING, flavours=("basic",))
    uri = settings.mlflow_tracking_uri
    assert current_version("card-fraud-basic", tracking_uri=uri) is not None
    assert current_version("fraud-detector-basic", tracking_uri=uri) is None
    with live_server(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as http:
        answer = http.post("/predict", json=seed_payload())
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_name"] == "card-fraud-basic"
