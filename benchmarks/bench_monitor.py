"""Benchmark of the model monitors: what a scored request pays, and what the worker sustains.

The scoring path's only monitoring cost is `Monitor.record` (put a batch on a bounded
queue). This times it per single-transaction batch against the baseline it replaces: doing
the drift binning inline (`DriftMonitor.update` for one row, what a monitor on the request
path would cost). It also times the background side: batches per second the worker drains
(drift for 52 inputs plus the score, no DB writes; it merges what is queued into one
vectorised pass), and one `/metrics` scrape of the PSI of
every feature over a full window. The model is a stand-in carrying PSI bins of random data
shaped like the full model's 52 inputs; nothing is trained.

    python -m benchmarks.run --only monitor --scale small|medium|full
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.table import Table

from api_ml.api.monitor import Monitor
from lakehouse.config import Settings
from lakehouse.ml import psi
from lakehouse.ml.features import FEATURE_COLUMNS

console = Console()
BATCHES = {"small": 2_000, "medium": 10_000, "full": 50_000}


def _figure(figure: str, value: float, unit: str) -> dict:
    return {"benchmark": "monitor", "figure": figure, "value": value, "unit": unit}


def _stand_in(rows: int) -> tuple[SimpleNamespace, list[pd.DataFrame]]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.lognormal(1, 1, (rows, len(FEATURE_COLUMNS))), columns=FEATURE_COLUMNS)
    reference = psi.reference(frame, FEATURE_COLUMNS, rng.random(rows)).as_dict()
    model = SimpleNamespace(
        version="1", drift_reference=reference, threshold=0.5, feature_columns=FEATURE_COLUMNS
    )
    return model, [frame.iloc[[i]] for i in range(rows)]


def run(scale: str, workdir: Path) -> list[dict]:
    count = BATCHES[scale]
    model, batches = _stand_in(count)
    settings = Settings(
        data_dir=workdir,
        monitor_queue=count + 1,
        skew_sample_rate=0,
        shadow_enabled=False,
        drift_window=5_000,
        drift_min_rows=1,
    )
    monitor = Monitor(settings, CollectorRegistry(), lambda: SimpleNamespace(models={}))
    requests = [SimpleNamespace(transaction_id=None)]

    start = time.perf_counter()
    for batch in batches:
        monitor.record("full", model, batch, [0.1], requests)
    record = (time.perf_counter() - start) / count
    start = time.perf_counter()
    monitor.start()
    monitor.join()
    drain = count / (time.perf_counter() - start)
    monitor.stop()

    inline = Monitor(settings, CollectorRegistry(), lambda: SimpleNamespace(models={}))
    sample = batches[: max(count // 10, 100)]  # per-row binning is slow: a tenth is enough
    start = time.perf_counter()
    for batch in sample:
        inline.drift.update("full", model, batch, np.array([0.1]))
    binning = (time.perf_counter() - start) / len(sample)
    start = time.perf_counter()
    families = list(monitor.drift.collect())
    scrape = time.perf_counter() - start
    gauges = len(families[0].samples)

    table = Table(
        title=f"Model monitors ({count:,} single-transaction batches, "
        f"{len(FEATURE_COLUMNS)} inputs + score)"
    )
    for column in ("figure", "value", "baseline (same run)"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    table.add_row(
        "request path: Monitor.record",
        f"{record * 1e6:.1f} µs",
        f"inline drift binning {binning * 1e6:.1f} µs ({binning / record:.0f}x)",
    )
    table.add_row("worker: batches drained per second", f"{drain:,.0f}", "")
    table.add_row(
        f"scrape: PSI of {gauges} gauges over {monitor.drift.windows['full'].size:,} rows",
        f"{scrape * 1e3:.2f} ms",
        "",
    )
    console.print(table)
    return [
        _figure("Monitor.record per batch", record * 1e6, "µs"),
        _figure("inline drift binning per batch", binning * 1e6, "µs"),
        _figure("record vs inline binning", binning / record, "x"),
        _figure("worker batches/s", drain, "batches/s"),
        _figure("PSI scrape", scrape * 1e3, "ms"),
    ]
