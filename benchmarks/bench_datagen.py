"""Benchmark of the data generator: speed, bytes and peak memory at a scale, against a baseline.

Runs `lakehouse.datagen.generate` in a fresh subprocess (so peak RSS is the generator's own),
once at the scale's row count and once at a quarter of it, to show memory stays flat as rows
grow. The baseline, measured in the same run, is a naive generator: one Python loop per row
drawing the same kinds of fields with `random` and writing them with `csv.writer`, timed on
a capped sample and extrapolated to the row count.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROWS = {"small": 200_000, "medium": 1_000_000, "full": 13_305_915}
CLIENTS = 2_000
BASELINE_CAP = 200_000

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from lakehouse.datagen import generate
out, rows = Path(sys.argv[1]), int(sys.argv[2])
summary = generate(out, clients={clients}, transactions=rows, seed=42)
print(json.dumps({{
    "seconds": summary.seconds, "rows": summary.rows, "frauds": summary.frauds,
    "labeled_fraud_rate": summary.labeled_fraud_rate, "bytes": sum(summary.files.values()),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}}))
"""


def _generate_in_subprocess(out: Path, rows: int) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD.format(clients=CLIENTS), str(out), str(rows)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _naive_baseline(path: Path, rows: int) -> float:
    """Seconds a per-row Python generator with csv.writer would need for `rows` rows."""
    sample = min(rows, BASELINE_CAP)
    rng = random.Random(42)
    chips = ("Swipe Transaction", "Chip Transaction", "Online Transaction")
    start = time.perf_counter()
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "date", "client_id", "card_id", "amount", "use_chip", "merchant_id",
                         "merchant_city", "merchant_state", "zip", "mcc", "errors"])
        base = 1_262_304_000
        for i in range(sample):
            ts = time.gmtime(base + i * 23)
            online = rng.random() < 0.117
            writer.writerow([
                7_475_327 + i, time.strftime("%Y-%m-%d %H:%M:%S", ts), rng.randrange(2000),
                rng.randrange(6146), f"${rng.lognormvariate(3.4, 0.8):.2f}",
                chips[2] if online else chips[rng.random() < 0.4], rng.randrange(100_000),
                "ONLINE" if online else "Beulah", "" if online else "ND",
                "" if online else f"{rng.randrange(10000, 99999)}.0", rng.choice((5411, 5812)),
                "Insufficient Balance" if rng.random() < 0.016 else "",
            ])
    return (time.perf_counter() - start) * rows / sample


def run(scale: str, workdir: Path) -> list[dict]:
    rows = ROWS[scale]
    console = Console()
    main = _generate_in_subprocess(workdir / "raw", rows)
    quarter = _generate_in_subprocess(workdir / "raw_quarter", rows // 4)
    baseline = _naive_baseline(workdir / "naive.csv", rows)
    speedup = baseline / main["seconds"]
    table = Table(title=f"datagen at {scale} ({rows:,} rows, {CLIENTS:,} clients)")
    for column in ("figure", "value"):
        table.add_column(column)
    table.add_row("generate seconds", f"{main['seconds']:.1f}")
    table.add_row("rows/s", f"{main['rows'] / main['seconds']:,.0f}")
    table.add_row("bytes written", f"{main['bytes'] / 1e6:,.1f} MB")
    table.add_row("labeled fraud rate", f"{main['labeled_fraud_rate']:.4%}")
    table.add_row("peak RSS (full / quarter rows)",
                  f"{main['peak_rss_mb']:.0f} MB / {quarter['peak_rss_mb']:.0f} MB")
    table.add_row("naive csv.writer loop (extrapolated)", f"{baseline:.1f} s")
    table.add_row("speed-up vs naive", f"{speedup:.1f}x")
    console.print(table)
    name = "datagen"
    return [
        {"benchmark": name, "figure": f"generate {rows:,} rows", "value": main["seconds"],
         "unit": "s"},
        {"benchmark": name, "figure": "rows per second", "value": main["rows"] / main["seconds"],
         "unit": "rows/s"},
        {"benchmark": name, "figure": "bytes written", "value": main["bytes"] / 1e6, "unit": "MB"},
        {"benchmark": name, "figure": "peak RSS", "value": main["peak_rss_mb"], "unit": "MB"},
        {"benchmark": name, "figure": "peak RSS at 1/4 rows", "value": quarter["peak_rss_mb"],
         "unit": "MB"},
        {"benchmark": name, "figure": "naive csv.writer baseline (extrapolated)",
         "value": baseline, "unit": "s"},
        {"benchmark": name, "figure": "speed-up vs naive baseline", "value": speedup,
         "unit": "x"},
    ]
