"""Benchmark of the engines on the same data, stage by stage and table by table: bronze, silver
(cards, users, transactions), each gold table (five datamarts + `ml_features`) and publish,
through the real stage runner on DuckDB, on Spark `local[*]`, and on a standalone Spark
cluster when `SPARK_MASTER` names one (`spark://host:port`).

Steps (sizes: small 100 k, medium 1 M, full 13.3 M transactions):
1. generate the five files and turn them into the bronze Delta tables (the feeder's own
   functions, no HTTP), once, timed, shared by every lake: bronze is pyarrow whatever the
   engine;
2. for each engine, a fresh lake holding that bronze: `run_silver`, `run_gold` (each table
   timed by the stage itself, `StageResult.table_seconds`), then `publish_datamarts` into
   the lake's own SQLite analytics DB (no engine involved: it reads the datamarts with
   pyarrow); Spark's start is timed apart — the JVM and session, then one tiny table built
   through the same executor write path (Python workers, Parquet reader, Arrow hand-off),
   whose first use costs tens of seconds once per process: without it, whichever model ran
   first (`silver_cards`, 6 k rows) showed 60 s;
3. check that every engine wrote the same row counts in every silver and gold table, and
   report seconds, rows per second and each Spark run's ratio to DuckDB per stage and table.

Reproduce: `python -m benchmarks.run --only engines --scale medium`; with a cluster started as
docs/spark.md shows, prefix `SPARK_MASTER=spark://127.0.0.1:7077`.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.engines import Engine
from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.engines.spark import SparkEngine, describe_session, session_config, stop_spark
from lakehouse.pipeline.feeder import bronze_from_raw_dir
from lakehouse.pipeline.gold import run_gold
from lakehouse.pipeline.publish import publish_datamarts
from lakehouse.pipeline.runner import StageResult
from lakehouse.pipeline.silver import run_silver

console = Console()
SIZES = {"small": (200, 100_000), "medium": (2_000, 1_000_000), "full": (2_000, 13_305_915)}
# Rows of the report, in pipeline order: a stage total follows its tables.
SILVER_ROWS = (*catalog.SILVER_TABLES, "silver")
GOLD_ROWS = (*catalog.GOLD_TABLES, "gold")
ROWS = ("bronze (shared)", *SILVER_ROWS, *GOLD_ROWS, "publish", "silver + gold",
        "bronze to publish")


def _figure(figure: str, value: float, unit: str) -> dict:
    return {"benchmark": "engines", "figure": figure, "value": value, "unit": unit}


def _lake(root: Path, bronze_root: Path) -> Settings:
    shutil.copytree(bronze_root / "lake" / "bronze", root / "lake" / "bronze")
    return Settings(data_dir=root)  # type: ignore[call-arg]


def _stage(run: Callable[[], StageResult]) -> tuple[StageResult, float]:
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    if result.status not in ("success", "up_to_date"):
        raise RuntimeError(f"{result.stage}: {result.status} {result.message}")
    return result, seconds


def _run(engine: Engine, settings: Settings, bronze_seconds: float) -> dict[str, float]:
    """Silver, gold and publish into a fresh lake; seconds per table, stage and in total."""
    seconds: dict[str, float] = {"bronze (shared)": bronze_seconds}
    for name, stage in (("silver", run_silver), ("gold", run_gold)):
        result, seconds[name] = _stage(lambda stage=stage: stage(settings, engine))
        seconds.update(result.table_seconds)
    _, seconds["publish"] = _stage(lambda: publish_datamarts(settings))
    seconds["silver + gold"] = seconds["silver"] + seconds["gold"]
    seconds["bronze to publish"] = bronze_seconds + seconds["silver + gold"] + seconds["publish"]
    return seconds


def _warm_up(spark: SparkEngine, settings: Settings) -> None:
    """One tiny table written, checked and committed the way every model is (not timed)."""
    uri = str(settings.data_dir / "warm-up")
    spark.build_table("SELECT 1 AS x", {}, uri, metadata={}, settings=settings,
                      check=lambda frame: spark.run_sql("SELECT count(*) AS n FROM t",
                                                        {"t": frame}))


def _counts(settings: Settings) -> dict[str, int]:
    return {name: storage.read_dataset(catalog.location(name, settings), settings).count_rows()
            for name in (*catalog.SILVER_TABLES, *catalog.GOLD_TABLES)}


def _bronze(workdir: Path, clients: int, transactions: int) -> tuple[Path, int, float]:
    """Generated files turned into bronze once; (its data dir, transactions, seconds)."""
    from lakehouse.datagen import generate

    console.print(f"generating {transactions:,} transactions for {clients:,} clients ...")
    generate(workdir / "raw", clients=clients, transactions=transactions, seed=42)
    root = workdir / "bronze"
    settings = Settings(data_dir=root)  # type: ignore[call-arg]
    start = time.perf_counter()
    for name, table in bronze_from_raw_dir(workdir / "raw", "bench-key").items():
        storage.write(catalog.location(name, settings), table, settings=settings)
    seconds = time.perf_counter() - start
    rows = storage.read_dataset(catalog.location("bronze_transactions", settings),
                                settings).count_rows()
    return root, rows, seconds


def _spark_configs() -> dict[str, dict[str, str]]:
    """Spark `local[*]`, and the cluster of `SPARK_MASTER` when it names one."""
    configs = {"Spark local": session_config("local[*]", "4g", None, ui=False)}
    settings = Settings()  # type: ignore[call-arg]
    if settings.spark_master.startswith("spark://"):
        configs["Spark cluster"] = session_config(
            settings.spark_master, settings.spark_driver_memory,
            settings.spark_shuffle_partitions, ui=False,
            executor_memory=settings.spark_executor_memory)
    return configs


def run(scale: str, workdir: Path) -> list[dict]:
    """Every engine over the same bronze; returns seconds per stage and table, and ratios."""
    bronze_root, rows, bronze_seconds = _bronze(workdir, *SIZES[scale])
    runs: dict[str, dict[str, float]] = {}
    counts: dict[str, dict[str, int]] = {}
    lake = _lake(workdir / "duckdb", bronze_root)
    runs["DuckDB"] = _run(DuckDBEngine.from_settings(), lake, bronze_seconds)
    counts["DuckDB"] = _counts(lake)
    starts: dict[str, str] = {}
    for label, config in _spark_configs().items():
        console.print(f"{label}: {config['spark.master']} ...")
        start = time.perf_counter()
        spark = SparkEngine(config)
        info = describe_session(spark.session)
        session = time.perf_counter() - start
        lake = _lake(workdir / label.lower().replace(" ", "-"), bronze_root)
        try:
            _warm_up(spark, lake)
            first_jobs = time.perf_counter() - start - session
            starts[label] = (f"{session:.1f} s + first jobs {first_jobs:.1f} s (Spark "
                             f"{info['version']}, {info['master']}, "
                             f"parallelism {info['parallelism']})")
            runs[label] = _run(spark, lake, bronze_seconds)
        finally:
            stop_spark()
        counts[label] = _counts(lake)
    for label, seen in counts.items():
        if seen != counts["DuckDB"]:
            raise RuntimeError(f"{label} and DuckDB disagree on row counts: "
                               f"{seen} vs {counts['DuckDB']}")
    return _report(scale, rows, runs, starts)


def _report(scale: str, rows: int, runs: dict[str, dict[str, float]],
            starts: dict[str, str]) -> list[dict]:
    duck = runs["DuckDB"]
    sparks = [label for label in runs if label != "DuckDB"]
    table = Table(title=f"Engines on {rows:,} transactions ({scale}), seconds "
                        f"(load average {os.getloadavg()[0]:.1f} at the end)")
    table.add_column("stage / table", no_wrap=True)
    for label in runs:
        table.add_column(f"{label} s", justify="right")
    for label in sparks:
        table.add_column(f"{label} / DuckDB", justify="right")
    figures = [_figure("transactions", rows, "rows"),
               _figure("bronze (shared by every engine)", duck["bronze (shared)"], "s")]
    for row in ROWS:
        cells = [f"{runs[label][row]:.1f}" for label in runs]
        cells += [f"{runs[label][row] / duck[row]:.1f}x" if duck[row] else "-"
                  for label in sparks]
        table.add_row(row, *cells)
        if row == "bronze (shared)":
            continue
        figures += [_figure(f"{row} on {label}", runs[label][row], "s") for label in runs]
        figures += [_figure(f"{row} {label}/DuckDB", runs[label][row] / duck[row], "ratio")
                    for label in sparks if duck[row]]
    console.print(table, width=max(100, console.width))
    for label, seconds in runs.items():
        console.print(f"{label}: {rows / seconds['silver + gold']:,.0f} transactions/s "
                      "through silver + gold")
    for label, text in starts.items():
        console.print(f"{label} JVM + session start: {text} — once per process, not in the "
                      "stage times.")
    console.print("Row counts of every silver and gold table: identical on every engine.")
    return figures
