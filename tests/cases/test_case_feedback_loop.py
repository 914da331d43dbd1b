"""The whole feedback loop: score → case → decision → label → pipeline run → train.

Real parts everywhere: a generated dataset loaded into the source DB as monthly batches,
sources_api and the scoring API under uvicorn, the pipeline (bronze → silver → gold) on Delta
tables, LightGBM training tracked in an MLflow SQLite store, the case store and the source DB
on SQLite and on PostgreSQL. An analyst confirms a case opened for a transaction of the
training window; after the next pipeline run its silver label says `analyst_review`, the new
model's training window holds it, and MLflow logs the count.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.compute as pc
import pytest
from promkit import wait_for
from testkit import serve_app

from api_ml.api.main import create_app as create_api_ml
from lakehouse import catalog, storage
from lakehouse.cases import auth
from lakehouse.cases.replay import request_of
from lakehouse.cases.schema import ensure_schema
from lakehouse.config import Settings, get_settings
from lakehouse.demo import load_monthly_batches
from lakehouse.ml.registry import mlflow_client
from lakehouse.ml.tracking import train_and_register
from lakehouse.ml.training_data import TrainConfig
from lakehouse.orchestrator import run_pipeline
from lakehouse.pipeline.publish import analytics_engine
from sources_api.api import create_app as create_sources_api

SMALL_TRAINING = TrainConfig(
    min_frauds_per_window=3,
    num_boost_round=40,
    early_stopping_rounds=10,
    num_leaves=8,
    min_child_samples=5,
)
PASSWORD = "a long lead password"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loop_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lakehouse.datagen import generate

    out = tmp_path_factory.mktemp("loop_raw")
    generate(
        out,
        clients=60,
        transactions=20_000,
        seed=5,
        start="2018-01-01",
        end="2018-09-30",
        fraud_multiplier=8.0,
    )
    return out


@pytest.fixture(params=["sqlite", "postgresql"])
def platform(request, loop_raw: Path, tmp_path: Path, monkeypatch) -> Iterator[Settings]:  # type: ignore[no-untyped-def]
    """Source DB loaded, sources_api serving it; the case store and source DB on one backend."""
    for name in [n for n in os.environ if n.startswith("LAKEHOUSE_")]:
        monkeypatch.delenv(name)
    env = {
        "LAKEHOUSE_DATA_DIR": str(tmp_path / "data"),
        "LAKEHOUSE_RAW_DIR": str(loop_raw),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "LAKEHOUSE_MODEL_POLL_SECONDS": "0",
    }
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        env.update(LAKEHOUSE_SOURCE_DB_URL=url, LAKEHOUSE_ANALYTICS_DB_URL=url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    load_monthly_batches(get_settings())
    with serve_app(create_sources_api()) as sources:
        monkeypatch.setenv("LAKEHOUSE_SOURCES_API_URL", sources)
        get_settings.cache_clear()
        yield get_settings()
    get_settings.cache_clear()


def _build_and_train(settings: Settings):  # type: ignore[no-untyped-def]
    failed = [r for r in run_pipeline(settings, skip=("train",)) if r.status == "failed"]
    assert not failed, [(r.stage, r.message) for r in failed]
    return train_and_register(settings, SMALL_TRAINING, flavours=("full",))


def _early_purchase(settings: Settings) -> dict:
    """A purchase of the first weeks: inside the training window of every later run."""
    silver = storage.read_table(catalog.location("silver_transactions", settings), settings)
    purchases = silver.filter(pc.greater(silver["amount"], 0))
    first = pc.sort_indices(purchases, sort_keys=[("ts", "ascending")])[100]
    return purchases.take([first]).to_pylist()[0]


def _confirm_as_fraud(settings: Settings, transaction: dict) -> None:
    """Score it, find its case, and confirm it as a lead through the case API."""
    engine = analytics_engine(settings.analytics_db_url or "")
    ensure_schema(engine)
    auth.add_user(engine, "lena", "lead", PASSWORD)
    engine.dispose()
    with serve_app(create_api_ml(settings)) as api, httpx.Client(base_url=api) as http:
        answer = http.post("/predict", json={**request_of(transaction), "amount": 900_000.0})
        assert answer.json()["decision"] in {"review", "decline"}, answer.text
        case_id = answer.json()["case_id"]
        token = http.post("/auth/token", json={"username": "lena", "password": PASSWORD})
        lead = {"Authorization": f"Bearer {token.json()['access_token']}"}
        wait_for(lambda: http.get(f"/cases/{case_id}", headers=lead).status_code == 200)
        decided = http.post(
            f"/cases/{case_id}/decision", headers=lead, json={"outcome": "confirmed_fraud"}
        )
        assert decided.status_code == 200, decided.text
        labels = f"{settings.sources_api_url}/labels"
        wait_for(lambda: httpx.get(labels).json()["count"] == 1)


def test_a_confirmed_case_becomes_a_training_label(platform: Settings) -> None:
    first = _build_and_train(platform)
    assert first.analyst_labels["analyst_labels_train"] == 0
    transaction = _early_purchase(platform)
    _confirm_as_fraud(platform, transaction)

    second = _build_and_train(platform)
    assert second.analyst_labels["analyst_labels_train"] == 1, second.analyst_labels
    silver = storage.read_table(catalog.location("silver_transactions", platform), platform)
    row = silver.filter(pc.equal(silver["transaction_id"], transaction["transaction_id"]))
    assert row.select(["label", "label_source"]).to_pylist() == [
        {"label": 1, "label_source": "analyst_review"}
    ]
    client, _ = mlflow_client(platform.mlflow_tracking_uri)
    metrics = client.get_run(second.outcomes[0].run_id).data.metrics
    assert metrics["analyst_labels_train"] == 1
