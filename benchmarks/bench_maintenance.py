"""Benchmark of table maintenance: disk use and file counts of the lake after 30 daily runs,
without maintenance and with the `maintain` stage after each run, in the same process.

Steps (transactions over the 60 days: small 6 k, medium 300 k, full 2.4 M):
1. generate 60 days of transactions; bronze is fed as the feeder does — the first 30 days as
   one history load, then one day per run;
2. two lakes on local disk run the same 31 runs (`run_silver` + `run_gold` on DuckDB); the
   second also runs `maintain_lake` after each run;
3. report files and MB of each lake after the last run, the ratio, and the seconds the
   maintenance took per run.

Every run here lasts seconds, not a day, so the benchmark sets the vacuum retention to 0 h:
with the default week, a real deployment also keeps the files of the last 7 days of
replaced versions (about 7 × a run's rewritten files on top of the figures below).
Reproduce: `python -m benchmarks.run --only maintenance --scale small`.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.datagen import generate
from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.pipeline.feeder import bronze_from_raw_dir
from lakehouse.pipeline.gold import run_gold
from lakehouse.pipeline.silver import run_silver
from lakehouse.storage.maintenance import lake_footprint, maintain_lake

console = Console()
DAILY_RUNS = 30
START = dt.date(2018, 1, 1)
# clients, transactions over the 60 days
SIZES = {"small": (20, 6_000), "medium": (500, 300_000), "full": (2_000, 2_400_000)}


def _figure(figure: str, value: float, unit: str) -> dict:
    return {"benchmark": "maintenance", "figure": figure, "value": value, "unit": unit}


def _days(bronze: pa.Table) -> list[pa.Table]:
    """The history (first 30 days) then one table per following day."""
    day = bronze.column("situation_date")
    cut = pa.scalar(START + dt.timedelta(days=DAILY_RUNS), pa.date32())
    pieces = [bronze.filter(pc.less(day, cut))]
    for offset in range(DAILY_RUNS, 2 * DAILY_RUNS):
        one = pa.scalar(START + dt.timedelta(days=offset), pa.date32())
        pieces.append(bronze.filter(pc.equal(day, one)))
    return pieces


def _daily_runs(root: Path, bronze: dict[str, pa.Table], maintain: bool) -> float:
    """31 runs into a fresh lake; returns the seconds spent in maintenance."""
    settings = Settings(data_dir=root, vacuum_retention_hours=0)  # type: ignore[call-arg]
    for name, table in bronze.items():
        if name != "bronze_transactions":
            storage.write(catalog.location(name, settings), table, settings=settings)
    engine, upkeep = DuckDBEngine(threads=1), 0.0
    for index, piece in enumerate(_days(bronze["bronze_transactions"])):
        storage.write(
            catalog.location("bronze_transactions", settings),
            piece,
            mode="append",
            settings=settings,
        )
        for stage in (run_silver, run_gold):
            result = stage(settings, engine)
            if result.status == "failed":
                raise RuntimeError(f"run {index}: {result.stage} failed: {result.message}")
        if maintain:
            start = time.perf_counter()
            maintain_lake(settings)
            upkeep += time.perf_counter() - start
        console.print(
            f"  run {index:2d}/{DAILY_RUNS} ({'with' if maintain else 'without'} "
            f"maintenance): {lake_footprint(settings).files} files"
        )
    return upkeep


def run(scale: str, workdir: Path) -> list[dict]:
    """Lake footprint after 31 runs, with and without maintenance."""
    clients, transactions = SIZES[scale]
    raw = workdir / "raw"
    end = START + dt.timedelta(days=2 * DAILY_RUNS - 1)
    generate(
        raw,
        clients=clients,
        transactions=transactions,
        seed=11,
        start=START.isoformat(),
        end=end.isoformat(),
    )
    bronze = bronze_from_raw_dir(raw, "bench-key")
    results = {}
    for maintain in (False, True):
        root = workdir / ("maintained" if maintain else "plain")
        upkeep = _daily_runs(root, bronze, maintain)
        settings = Settings(data_dir=root)  # type: ignore[call-arg]
        results[maintain] = (lake_footprint(settings), upkeep)
    (plain, _), (kept, upkeep) = results[False], results[True]
    table = Table(title=f"Lake after {DAILY_RUNS} daily runs + history load ({scale})")
    for column in ("lake", "files", "MB"):
        table.add_column(column)
    table.add_row("without maintenance", str(plain.files), f"{plain.bytes / 2**20:.1f}")
    table.add_row("with maintenance", str(kept.files), f"{kept.bytes / 2**20:.1f}")
    console.print(table)
    console.print(
        f"maintenance: {upkeep / (DAILY_RUNS + 1):.2f} s per run; "
        f"files x{plain.files / kept.files:.1f} fewer, "
        f"bytes x{plain.bytes / kept.bytes:.1f} fewer"
    )
    return [
        _figure("files without maintenance", plain.files, "files"),
        _figure("files with maintenance", kept.files, "files"),
        _figure("MB without maintenance", plain.bytes / 2**20, "MB"),
        _figure("MB with maintenance", kept.bytes / 2**20, "MB"),
        _figure("files ratio (without / with)", plain.files / kept.files, "x"),
        _figure("maintenance seconds per run", upkeep / (DAILY_RUNS + 1), "s"),
    ]
