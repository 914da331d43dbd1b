"""A shadow challenger through a promotion decision, with a real registry, HTTP and SQLite.

The session's MLflow store is copied so promotions here touch no other test. In the copy:
a weak model (two boosting rounds) is made champion, as a stale production model would be;
then a normal model is trained with `LAKEHOUSE_SHADOW_DAYS=1`, beats it on the test window
and is therefore registered as `challenger`, not promoted. The scoring API serves the weak
champion, shadows every request with the challenger in the background and logs both scores.
`promotion.decide` keeps the challenger while the shadow period runs, then — a simulated two
days later, with the shadowed transactions' labels known — promotes it, moves the alias and
records the evidence on the registry version. Before that, the replay mode scores the last
days of gold with both models and `lakehouse monitor shadow-report` prints the live comparison.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow.compute as pc
import pytest
from api_ml_lake import SMALL_TRAINING, payload_from_silver
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from api_ml.api.main import create_app
from api_ml.api.schemas import MAX_BATCH
from lakehouse.cli import app as cli
from lakehouse.config import Settings, get_settings
from lakehouse.ml import registry
from lakehouse.ml.policy import model_policy
from lakehouse.ml.tracking import train_and_register
from lakehouse.monitoring import promotion, store

pytestmark = pytest.mark.slow
NAME = "fraud-detector"  # the full model under the default LAKEHOUSE_MODEL_NAME
SHADOWED_DAYS = 15


@pytest.fixture
def shadow_settings(
    api_settings: Settings,
    trained_lake,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> Iterator[Settings]:
    """The session's registry copied, a weak champion, a better model held as challenger."""
    source = Path(trained_lake.tracking_uri.removeprefix("sqlite:///"))
    shutil.copy(source, tmp_path / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("LAKEHOUSE_MONITOR_DB_URL", f"sqlite:///{tmp_path / 'monitoring.db'}")
    monkeypatch.setenv("LAKEHOUSE_SKEW_SAMPLE_RATE", "0")
    get_settings.cache_clear()
    settings = get_settings()
    fast = replace(SMALL_TRAINING, tuning_trials=0)
    weak = train_and_register(
        settings, replace(fast, num_boost_round=2, num_leaves=2), flavours=("full",)
    ).outcomes[0]
    client = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    client.set_registered_model_alias(NAME, registry.CHAMPION, weak.version)
    client.delete_registered_model_alias(NAME, registry.CHALLENGER)

    monkeypatch.setenv("LAKEHOUSE_SHADOW_DAYS", "1")
    get_settings.cache_clear()
    settings = get_settings()
    better = train_and_register(settings, fast, flavours=("full",)).outcomes[0]
    assert not better.promoted and better.reason.startswith("challenger: average precision")
    assert "LAKEHOUSE_SHADOW_DAYS" in better.reason
    yield settings
    get_settings.cache_clear()


def test_challenger_is_shadowed_then_promoted_with_evidence(
    shadow_settings: Settings,
    trained_lake,
    live_server,  # type: ignore[no-untyped-def]
) -> None:
    client = MlflowClient(shadow_settings.mlflow_tracking_uri, shadow_settings.mlflow_tracking_uri)
    champion = client.get_model_version_by_alias(NAME, registry.CHAMPION).version
    challenger = client.get_model_version_by_alias(NAME, registry.CHALLENGER).version
    silver = trained_lake.silver
    last = pc.max(silver.column("ts")).as_py()
    rows = silver.filter(
        pc.greater(silver.column("ts"), last - timedelta(days=SHADOWED_DAYS))
    ).to_pylist()

    app = create_app(shadow_settings)
    with live_server(app) as url, httpx.Client(base_url=url, timeout=120) as http:
        answers = []
        for start in range(0, len(rows), MAX_BATCH):
            chunk = [payload_from_silver(r) for r in rows[start : start + MAX_BATCH]]
            response = http.post("/predict/batch", json=chunk)
            assert response.status_code == 200, response.text
            answers += response.json()["data"]
        app.state.monitor.join()
        metrics = http.get("/metrics").text
    assert {a["model_version"] for a in answers} == {str(champion)}
    assert f'api_ml_shadow_scored_total{{flavour="full"}} {float(len(rows))}' in metrics

    engine = store.monitor_engine(shadow_settings)
    logged = store.read_shadow(engine, "full", str(challenger))
    engine.dispose()
    assert len(logged) == len(rows)
    by_id = logged.set_index("transaction_id")
    for row, answer in zip(rows[:50], answers[:50], strict=True):
        assert by_id.loc[row["transaction_id"], "champion_score"] == pytest.approx(
            answer["fraud_probability"]
        )

    # Replay: the same comparison on the last days of gold, without waiting for traffic.
    replayed = promotion.replay_evidence(shadow_settings, "full", days=SHADOWED_DAYS)
    assert replayed.mode == "replay" and replayed.rows > 0 and replayed.frauds > 0
    assert replayed.challenger.average_precision > replayed.champion.average_precision
    uri = shadow_settings.mlflow_tracking_uri
    for side, alias in ((replayed.champion, registry.CHAMPION),
                        (replayed.challenger, registry.CHALLENGER)):  # fmt: skip
        loaded = registry.load_model(NAME, alias, uri)
        policy = model_policy(loaded.policy, loaded.threshold)  # each model's own policy
        assert (side.decline_probability, side.review_expected_loss) == (
            policy.decline_probability, policy.review_expected_loss)  # fmt: skip
        assert side.alerts == side.reviews + side.declines
    report = CliRunner().invoke(cli, ["monitor", "shadow-report"])
    assert report.exit_code == 0, report.output
    assert "average precision" in report.output and "live traffic" in report.output

    now = datetime.now(UTC)
    waiting = promotion.decide(shadow_settings, "full", now=now)
    assert not waiting.promoted and "of the 1 days LAKEHOUSE_SHADOW_DAYS requires" in waiting.reason

    decided = promotion.decide(shadow_settings, "full", now=now + timedelta(days=2))
    evidence = decided.evidence
    assert evidence is not None and evidence.mode == "live" and evidence.frauds > 0
    assert decided.promoted, decided.reason
    assert evidence.challenger.average_precision > evidence.champion.average_precision
    # alert volume at the policy's thresholds: the champion's reviews and declines are exactly
    # the decisions its answers carried (same scores, amounts and policy)
    decisions = [a["decision"] for a in answers]
    champion_alerts = (evidence.champion.reviews, evidence.champion.declines)
    assert champion_alerts == (decisions.count("review"), decisions.count("decline"))
    assert evidence.champion.alerts == sum(champion_alerts)
    assert evidence.challenger.decline_probability == replayed.challenger.decline_probability
    assert evidence.pearson is not None and evidence.challenger.recall_at_1pct_fpr is not None
    assert client.get_model_version_by_alias(NAME, registry.CHAMPION).version == challenger
    tags = client.get_model_version(NAME, challenger).tags
    assert tags["shadow_promotion"] == decided.reason
    assert json.loads(tags["shadow_evidence"])["challenger"]["version"] == str(challenger)
