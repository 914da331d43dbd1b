"""Benchmark of incremental gold: what one new day costs as the history behind it grows.

Steps (sizes as bench_pipeline: small 100 k, medium 1 M, full 13.3 M transactions):
1. generate the dataset and cut it into one file per day (`lakehouse sources split --by day`);
2. load the first quarter of the days into a SQLite source DB as one batch and run the
   pipeline (the initial full build, shown for context);
3. four times — with a quarter, half, three quarters and all but the last day of the history
   loaded — load the NEXT day as its own batch and time `lakehouse pipeline run --skip train`
   in a subprocess (as a daily job runs), then its rerun with nothing new; between two sizes,
   the days in between are loaded as one batch and caught up (not timed).
The day's seconds must stay flat while the history grows fourfold: the cost follows the day.
Each run also reports its CPU seconds (user + system), which the machine's load does not
stretch, and the load average next to it.
Reproduce: `make bench BENCH_ARGS="--only incremental --scale medium"`.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.bench_pipeline import (
    SIZES,
    Timed,
    _serve_sources_api,
    _stage_log,
    _timed,
    load_average,
)

console = Console(width=max(Console().width, 120))  # the table has ten columns
TARGET_DAY_SECONDS = 10.0
TARGET_RERUN_SECONDS = 3.0


def _figure(figure: str, value: float, unit: str) -> dict:
    return {"benchmark": "incremental", "figure": figure, "value": value, "unit": unit}


def _day_files(scale: str, workdir: Path) -> list[Path]:
    from lakehouse.datagen import generate
    from lakehouse.sources.split import split_csv

    clients, rows = SIZES[scale]
    raw = workdir / "raw"
    if not (raw / "transactions_data.csv").exists():
        with console.status(f"generating {rows:,} transactions"):
            generate(raw, clients=clients, transactions=rows, seed=5)
    with console.status("cutting the transactions into one file per day"):
        return split_csv(raw / "transactions_data.csv", "day", None, workdir / "days")


def _batch(files: list[Path], out: Path) -> Path:
    """Several day files as one CSV batch (header once, records byte for byte)."""
    with out.open("wb") as target:
        for index, path in enumerate(files):
            with path.open("rb") as source:
                header = source.readline()
                if index == 0:
                    target.write(header)
                shutil.copyfileobj(source, target)
    return out


def _load(path: Path) -> int:
    from lakehouse.config import get_settings
    from lakehouse.sources.loader import load_batch
    from lakehouse.sources.schema import source_engine

    engine = source_engine(get_settings().source_db_url or "")
    try:
        return load_batch(engine, path).inserted
    finally:
        engine.dispose()


def run(scale: str, workdir: Path) -> list[dict]:
    days = _day_files(scale, workdir)
    data = workdir / "data"
    shutil.rmtree(data, ignore_errors=True)
    os.environ.update(LAKEHOUSE_DATA_DIR=str(data), LAKEHOUSE_RAW_DIR=str(workdir / "raw"))
    from lakehouse.config import get_settings

    get_settings.cache_clear()
    marks = [len(days) // 4, len(days) // 2, 3 * len(days) // 4, len(days) - 1]
    url, server = _serve_sources_api()
    env = {**os.environ, "LAKEHOUSE_SOURCES_API_URL": url, "LAKEHOUSE_LOG_LEVEL": "INFO"}
    pipeline = [sys.executable, "-m", "lakehouse.cli", "pipeline", "run", "--skip", "train"]
    rows: list[tuple[int, int, Timed, float, Timed, str]] = []
    history, loaded = 0, 0
    try:
        for mark in marks:
            with console.status(f"loading days {loaded + 1}-{mark} as one batch"):
                history += _load(_batch(days[loaded:mark], workdir / "history.csv"))
            with console.status(f"catching up on {history:,} rows of history"):
                catch_up = _timed(pipeline, env)
            day_rows = _load(days[mark])
            with console.status(f"one day ({day_rows:,} rows) after {history:,} rows"):
                day = _timed(pipeline, env)
                rerun = _timed(pipeline, env)
            gold = float(_stage_log(day.stderr).get("gold", {}).get("seconds", float("nan")))
            rows.append((history, day_rows, day, gold, rerun, load_average()))
            console.print(f"history {history:,} rows: caught up in {catch_up.wall:.1f} s")
            history += day_rows
            loaded = mark + 1
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
    return _report(rows)


def _report(rows: list[tuple[int, int, Timed, float, Timed, str]]) -> list[dict]:
    table = Table(title="One new day against the history (pipeline run --skip train, process)")
    for column in (
        "history rows",
        "history x",
        "day rows",
        "day run s",
        "day run CPU s",
        "day CPU x",
        "gold stage s",
        "rerun s",
        "rerun CPU s",
        "load (1 min)",
    ):
        table.add_column(column, justify="right")
    results = []
    first = rows[0]
    for history, day_rows, day, gold, rerun, load in rows:
        table.add_row(
            f"{history:,}",
            f"x{history / max(first[0], 1):.2f}",
            f"{day_rows:,}",
            f"{day.wall:.2f}",
            f"{day.cpu:.2f}",
            f"x{day.cpu / first[2].cpu:.2f}",
            f"{gold:.2f}",
            f"{rerun.wall:.2f}",
            f"{rerun.cpu:.2f}",
            load,
        )
        results += [
            _figure(f"one day after {history:,} rows", day.wall, "s"),
            _figure(f"one day after {history:,} rows, CPU", day.cpu, "s"),
            _figure(f"rerun after {history:,} rows", rerun.wall, "s"),
            _figure(f"rerun after {history:,} rows, CPU", rerun.cpu, "s"),
        ]
    console.print(table)
    last = rows[-1]
    growth = last[0] / max(first[0], 1)
    ratio = last[2].cpu / first[2].cpu
    worst_day = max(r[2].wall for r in rows)
    worst_rerun = max(r[4].wall for r in rows)
    console.print(
        f"targets: one day <= {TARGET_DAY_SECONDS:.0f} s (worst {worst_day:.1f} s wall, "
        f"{max(r[2].cpu for r in rows):.1f} CPU s), rerun <= {TARGET_RERUN_SECONDS:.0f} s "
        f"(worst {worst_rerun:.1f} s wall, {max(r[4].cpu for r in rows):.1f} CPU s); the "
        f"day's CPU cost grew x{ratio:.2f} while the history grew x{growth:.1f} (per row of "
        f"the day: {last[2].cpu / max(last[1], 1) * 1000:.1f} vs "
        f"{first[2].cpu / max(first[1], 1) * 1000:.1f} CPU ms)"
    )
    return [*results, _figure("day CPU cost growth / history growth", ratio / growth, "x")]
