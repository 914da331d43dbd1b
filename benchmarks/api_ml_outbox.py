"""What a review/decline answer waits for: one `Outbox.put` under each `LAKEHOUSE_CASE_OUTBOX_SYNC`.

`bench_api_ml.py` calls `measure` with a scratch folder on the disk the service uses: a fresh
outbox file per mode takes case records the size of the scoring API's (features, reasons,
request), one put at a time as a lone request would, and the wall time of each put and the CPU
per put are printed and returned as summary rows, with the ratio of the two modes. `full`
waits for an fsync, `normal` only for the write into the WAL (lakehouse/cases/outbox.py).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rich.table import Table

from benchmarks.api_ml_cells import row
from benchmarks.latency import summary
from lakehouse.cases.outbox import SYNC_LEVELS, Outbox

PUTS = {"full": 300, "normal": 3_000}  # an fsync each: fewer of them
# A case as the scoring API writes it: ~60 features, 5 reasons, the request.
CASE = {
    "case_id": "0",
    "features": {f"feature_{i}": i / 7 for i in range(60)},
    "reasons": [{"feature": f"feature_{i}", "value": i / 3, "contribution": 0.1} for i in range(5)],
    "request": {"amount": 120.5, "merchant_city": "Springfield", "use_chip": "Chip Transaction"},
    "scored_at": "2026-12-01T05:00:00+00:00",
}


def _puts(outbox: Outbox, count: int) -> tuple[list[float], float]:
    """Put `count` cases one at a time; each put's seconds and the CPU seconds of all."""
    seconds = []
    cpu = time.process_time()
    for i in range(count):
        record = {**CASE, "case_id": str(i)}
        start = time.perf_counter()
        outbox.put([record])
        seconds.append(time.perf_counter() - start)
    return seconds, time.process_time() - cpu


def measure(folder: Path, table: Table) -> list[dict]:
    """One put at a time into a fresh outbox under each sync mode; rows and a table row each.

    Args:
        folder: where the scratch outbox files go (the disk whose fsync is measured).
        table: the run's table, one row per mode.

    Returns:
        The summary rows: p50 and p99 of a put (ms), CPU per put (µs), and full / normal.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rows, p50 = [], {}
    for sync in SYNC_LEVELS:
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            outbox = Outbox(Path(scratch) / "cases.sqlite", sync=sync)
            seconds, cpu = _puts(outbox, PUTS[sync])
            outbox.close()
        figures = summary(seconds, sum(seconds))
        p50[sync] = figures["p50_ms"]
        cpu_us = 1e6 * cpu / len(seconds)
        table.add_row(
            f"case outbox put, LAKEHOUSE_CASE_OUTBOX_SYNC={sync}", "in-process, one at a time",
            "", f"{figures['p50_ms']:.3f}", f"{figures['p99_ms']:.3f}", "", "", "",
            f"{cpu_us / 1000:.3f}", "",
        )  # fmt: skip
        rows += [
            row(f"case outbox put ({sync}): p50", figures["p50_ms"], "ms"),
            row(f"case outbox put ({sync}): p99", figures["p99_ms"], "ms"),
            row(f"case outbox put ({sync}): CPU per put", cpu_us, "us"),
        ]
    rows.append(row("case outbox put p50: full / normal", p50["full"] / p50["normal"], "x"))
    return rows
