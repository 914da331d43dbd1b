"""The stage runner and the orchestrator: a whole run on real Delta tables, idempotent reruns,
failed checks that leave tables untouched, retries of transient errors only, the CLI."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest
from runtime_helpers import gold_snapshot, load_parts, write_tiny_raw
from typer.testing import CliRunner

from lakehouse import catalog, orchestrator, pipeline_cli, storage
from lakehouse.config import get_settings
from lakehouse.observability.metrics import PipelineMetrics
from lakehouse.pipeline.model import Check
from lakehouse.pipeline.runner import BATCH_COUNTS, StageResult, bronze_batch_counts
from lakehouse.pipeline.sources_http import SourceUnavailableError


@pytest.fixture
def pipeline_env(isolated_settings: Path, live_server, monkeypatch):  # type: ignore[no-untyped-def]
    """Tiny raw files, two batches in the source DB, sources_api on loopback."""
    from sources_api.api import create_app

    raw = write_tiny_raw(isolated_settings / "raw", days=10, per_day=60)
    with live_server(create_app()) as url:
        monkeypatch.setenv("LAKEHOUSE_SOURCES_API_URL", url)
        get_settings.cache_clear()
        load_parts(get_settings(), raw, 2, [0, 1])
        yield raw


def _statuses(results: list[StageResult]) -> dict[str, str]:
    return {r.stage: r.status for r in results}


def test_a_full_run_builds_every_table_and_a_rerun_is_a_no_op(pipeline_env: Path) -> None:
    settings = get_settings()
    metrics = PipelineMetrics()
    results = orchestrator.run_pipeline(settings, skip=("train",), metrics=metrics)
    statuses = _statuses(results)
    assert all(statuses[s] == "success" for s in ("bronze", "silver", "gold", "publish"))
    timed = {r.stage: set(r.table_seconds) for r in results}  # the benchmark's per-table figures
    assert timed["silver"] == set(catalog.SILVER_TABLES)
    assert timed["gold"] == set(catalog.GOLD_TABLES)
    for name in catalog.CATALOG:
        assert storage.exists(catalog.location(name, settings), settings), name
    silver = storage.read_table(catalog.location("silver_transactions", settings), settings)
    assert silver.num_rows == 600
    assert len(set(silver.column("transaction_id").to_pylist())) == 600
    # Bronze's commit records its rows per batch: runs read them there, not from the data.
    bronze = catalog.location("bronze_transactions", settings)
    recorded = storage.last_metadata(bronze, settings)[BATCH_COUNTS]
    dates = storage.read_table(bronze, settings, columns=["situation_date"]).column(0)
    assert recorded == {str(d): n for d, n in Counter(dates.to_pylist()).items()}
    assert bronze_batch_counts(bronze, settings) == recorded

    versions = {n: storage.version(catalog.location(n, settings), settings)
                for n in catalog.CATALOG}
    rerun = orchestrator.run_pipeline(settings, skip=("train",), metrics=metrics)
    assert all(_statuses(rerun)[s] == "up_to_date" for s in ("bronze", "silver", "gold",
                                                             "publish"))
    assert versions == {n: storage.version(catalog.location(n, settings), settings)
                        for n in catalog.CATALOG}
    assert metrics.registry.get_sample_value(
        "pipeline_stage_status_total", {"stage": "silver", "status": "up_to_date"}) == 1.0
    # Freshness after the run: every batch of the source is in the lake.
    sample = metrics.registry.get_sample_value
    assert sample("pipeline_source_watermark_lag_seconds") == 0.0
    assert sample("pipeline_gold_newest_transaction_timestamp_seconds") > 0
    assert 0.0 <= sample("pipeline_recent_label_known_ratio") <= 1.0


def test_a_failed_check_fails_the_stage_and_leaves_the_table_untouched(
        pipeline_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lakehouse.pipeline import models

    settings = get_settings()
    orchestrator.run_pipeline(settings, skip=("train",))
    uri = catalog.location("dm_mcc_fraud_risk", settings)
    before = (storage.version(uri, settings), gold_snapshot(settings)["dm_mcc_fraud_risk"])

    strict = dataclasses.replace(models.MODELS["dm_mcc_fraud_risk"],
                                 checks=(Check("row_count_min", None, 10**9),),
                                 sql=models.MODELS["dm_mcc_fraud_risk"].sql + "\n")
    monkeypatch.setitem(models.MODELS, "dm_mcc_fraud_risk", strict)
    results = orchestrator.run_pipeline(settings, skip=("train",))
    statuses = _statuses(results)
    assert statuses["gold"] == "failed" and statuses["publish"] == "skipped"
    gold = next(r for r in results if r.stage == "gold")
    assert "row_count_min" in gold.message or "rows" in gold.message
    assert storage.version(uri, settings) == before[0]
    assert gold_snapshot(settings)["dm_mcc_fraud_risk"].equals(before[1])


def test_transient_errors_are_retried_and_others_are_not() -> None:
    calls: list[int] = []

    def flaky(settings, engine_name):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) < 3:
            raise SourceUnavailableError("sources_api down")
        return StageResult("flaky", rows_out=5)

    stage = orchestrator.Stage("flaky", (), "nothing", flaky)
    result = orchestrator.run_stage(stage, get_settings(), None, sleep=lambda _: None)
    assert result.status == "success" and len(calls) == 3

    def broken(settings, engine_name):  # type: ignore[no-untyped-def]
        calls.append(1)
        raise ValueError("bad SQL")

    calls.clear()
    failed = orchestrator.run_stage(orchestrator.Stage("broken", (), "x", broken), get_settings(),
                                    None, sleep=lambda _: None)
    assert failed.status == "failed" and "bad SQL" in failed.message and len(calls) == 1


def test_cli_runs_one_stage_and_fails_clearly(pipeline_env: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from testkit import free_port

    # Elasticsearch "configured" but down: the run must neither block nor fail because of it.
    monkeypatch.setenv("ELASTICSEARCH_URL", f"http://127.0.0.1:{free_port()}")
    get_settings.cache_clear()
    runner = CliRunner()
    bronze = runner.invoke(pipeline_cli.app, ["run", "--stage", "bronze"])
    assert bronze.exit_code == 0, bronze.output
    settings = get_settings()
    assert storage.exists(catalog.location("bronze_transactions", settings), settings)
    assert not storage.exists(catalog.location("silver_transactions", settings), settings)

    gold = runner.invoke(pipeline_cli.app, ["run", "--stage", "gold"])  # silver missing
    assert gold.exit_code == 1
    assert "Stage gold failed" in gold.output and "Previous tables are intact" in gold.output

    unknown = runner.invoke(pipeline_cli.app, ["run", "--stage", "platinum"])
    assert unknown.exit_code == 2 and "Choose one of" in unknown.output

    from lakehouse.observability.elasticsearch import install_elasticsearch_handler

    install_elasticsearch_handler(None)  # detach the shipper the CLI installed
