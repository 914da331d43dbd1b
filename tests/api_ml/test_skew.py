"""Online/offline skew: scoring-time feature samples against gold, over real HTTP and SQLite.

The full model scores the lake's latest transactions through `/predict/batch` with every
transaction sampled (`LAKEHOUSE_SKEW_SAMPLE_RATE=1`); the monitor worker logs their inputs
in a SQLite monitoring store of the test. The skew job finds them equal to their gold rows.
Then one online feature is corrupted (`card_tx_count_1h` + 1 in the scoring path's
`full_inputs`), the same transactions are scored again, and the job — as a function, as
`lakehouse monitor skew` and as the pipeline's gauges — names that feature and those rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pyarrow.compute as pc
import pytest
from api_ml_lake import payload_from_silver
from typer.testing import CliRunner

from api_ml.api import scoring
from api_ml.api.main import create_app
from lakehouse.cli import app as cli
from lakehouse.config import Settings, get_settings
from lakehouse.monitoring import skew
from lakehouse.observability.metrics import PipelineMetrics

CORRUPTED = "card_tx_count_1h"


@pytest.fixture
def skew_settings(
    api_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    monkeypatch.setenv("LAKEHOUSE_SKEW_SAMPLE_RATE", "1")
    monkeypatch.setenv("LAKEHOUSE_MONITOR_DB_URL", f"sqlite:///{tmp_path / 'monitoring.db'}")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def score_and_log(settings: Settings, live_server, rows: list[dict]) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings)
    with live_server(app) as url:
        response = httpx.post(
            f"{url}/predict/batch", json=[payload_from_silver(r) for r in rows], timeout=60
        )
        assert response.status_code == 200, response.text
        app.state.monitor.join()  # the worker has written every sample


def test_a_corrupted_online_feature_is_named_with_its_rows(
    skew_settings: Settings,
    trained_lake,
    live_server,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    silver = trained_lake.silver
    last = pc.max(silver.column("ts")).as_py()
    rows = silver.filter(pc.greater_equal(silver.column("ts"), last - timedelta(days=1)))
    rows = rows.to_pylist()[-20:]
    ids = {r["transaction_id"] for r in rows}

    score_and_log(skew_settings, live_server, rows)
    clean = skew.run(skew_settings)
    assert clean.samples == clean.matched == len(rows)
    assert not clean.skewed, [(f.feature, f.examples) for f in clean.skewed]

    real_inputs = scoring.full_inputs

    def corrupted_inputs(served, *args, **kwargs):  # type: ignore[no-untyped-def]
        inputs, contexts = real_inputs(served, *args, **kwargs)  # the model's input matrix
        inputs[:, served.model.feature_columns.index(CORRUPTED)] += 1
        return inputs, contexts

    monkeypatch.setattr(scoring, "full_inputs", corrupted_inputs)
    score_and_log(skew_settings, live_server, rows)

    report = skew.run(skew_settings)
    assert [f.feature for f in report.skewed] == [CORRUPTED]
    named = report.skewed[0]
    assert named.mismatched == named.compared == len(rows)
    assert {tid for tid, _, _ in named.examples} <= ids
    assert all(online == gold + 1 for _, online, gold in named.examples)

    result = CliRunner().invoke(cli, ["monitor", "skew"])
    assert result.exit_code == 1, result.output
    assert CORRUPTED in result.output and str(named.examples[0][0]) in result.output

    metrics = PipelineMetrics()
    metrics.record_skew(report)
    sample = metrics.registry.get_sample_value
    assert sample("pipeline_feature_skew_ratio", {"feature": CORRUPTED}) == 1.0
    assert sample("pipeline_feature_skew_ratio", {"feature": "amount"}) == 0.0
