"""Pipeline metrics: the original series names, the added ones, and `lakehouse pipeline serve`
exposing them over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import generate_latest
from testkit import free_port, wait_http

from lakehouse.observability.metrics import PipelineMetrics
from lakehouse.pipeline.runner import StageResult

NAMES = (
    "pipeline_stage_duration_seconds",
    "pipeline_stage_status_total",
    "pipeline_rows_processed_total",
    "pipeline_last_success_timestamp_seconds",
)


def test_recorded_stages_show_up_under_the_contract_names() -> None:
    metrics = PipelineMetrics()
    metrics.record(StageResult("silver", rows_in=100, rows_out=90, seconds=1.5))
    metrics.record(StageResult("gold", status="failed", seconds=0.2))
    metrics.record(StageResult("train", status="skipped"))
    sample = metrics.registry.get_sample_value
    assert sample("pipeline_stage_status_total", {"stage": "silver", "status": "success"}) == 1
    assert sample("pipeline_stage_status_total", {"stage": "gold", "status": "failed"}) == 1
    assert sample("pipeline_rows_processed_total", {"stage": "silver", "direction": "in"}) == 100
    assert sample("pipeline_rows_processed_total", {"stage": "silver", "direction": "out"}) == 90
    assert sample("pipeline_stage_duration_seconds_count", {"stage": "silver"}) == 1
    assert sample("pipeline_last_success_timestamp_seconds", {"stage": "silver"}) > 0
    assert sample("pipeline_last_success_timestamp_seconds", {"stage": "gold"}) is None
    text = generate_latest(metrics.registry).decode()
    assert all(name in text for name in NAMES)


def test_pipeline_serve_exposes_metrics_on_its_port(isolated_settings: Path) -> None:
    port = free_port()
    env = {**os.environ, "LAKEHOUSE_PIPELINE_METRICS_PORT": str(port),
           # nothing listens there: the runs fail, the metrics endpoint must not care
           "LAKEHOUSE_SOURCES_API_URL": f"http://127.0.0.1:{free_port()}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "lakehouse.cli", "pipeline", "serve", "--interval", "3600"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        response = wait_http(f"http://127.0.0.1:{port}/metrics", timeout=60)
        assert response.status_code == 200
        assert all(f"# HELP {name}" in response.text for name in NAMES)
    finally:
        process.kill()
        process.wait()
