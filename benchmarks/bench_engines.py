"""Benchmark of the two engines on the same data: silver and gold (datamarts + ML features)
through the real stage runner on DuckDB, then on Spark (`local[*]`), with the ratio.

Steps (sizes: small 100 k, medium 1 M, full 13.3 M transactions):
1. generate the five files and turn them into the bronze Delta tables (the feeder's own
   functions, no HTTP: the feeder is not what is compared here), once, shared by both lakes;
2. for each engine, a fresh lake holding that bronze: `run_silver` then `run_gold`, timed;
   Spark's JVM start is timed apart (it is paid once per process, not per stage);
3. check that both engines wrote the same row counts in every table, and report seconds,
   rows per second and the Spark/DuckDB ratio per stage.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.engines.spark import SparkEngine, describe_session, session_config, stop_spark
from lakehouse.pipeline.feeder import bronze_from_raw_dir
from lakehouse.pipeline.gold import run_gold
from lakehouse.pipeline.runner import run_silver

console = Console()
SIZES = {"small": (200, 100_000), "medium": (2_000, 1_000_000), "full": (2_000, 13_305_915)}


def _figure(figure: str, value: float, unit: str) -> dict:
    return {"benchmark": "engines", "figure": figure, "value": value, "unit": unit}



def _lake(root: Path, bronze_lake: Path) -> Settings:
    shutil.copytree(bronze_lake / "lake" / "bronze", root / "lake" / "bronze")
    return Settings(data_dir=root)  # type: ignore[call-arg]


def _run(engine: object, settings: Settings) -> dict[str, float]:
    seconds = {}
    for stage in (run_silver, run_gold):
        start = time.perf_counter()
        result = stage(settings, engine)  # type: ignore[arg-type]
        if result.status != "success":
            raise RuntimeError(f"{stage.__name__} on {engine.name}: {result}")  # type: ignore[attr-defined]
        seconds[stage.__name__.removeprefix("run_")] = time.perf_counter() - start
    return seconds


def _counts(settings: Settings) -> dict[str, int]:
    return {name: storage.read_dataset(catalog.location(name, settings), settings).count_rows()
            for name in (*catalog.SILVER_TABLES, *catalog.GOLD_TABLES)}


def run(scale: str, workdir: Path) -> list[dict]:
    """Both engines over the same bronze; returns seconds, rows/s and ratios."""
    clients, transactions = SIZES[scale]
    from lakehouse.datagen import generate

    console.print(f"generating {transactions:,} transactions for {clients:,} clients ...")
    generate(workdir / "raw", clients=clients, transactions=transactions, seed=42)
    bronze_root = workdir / "bronze"
    bronze_settings = Settings(data_dir=bronze_root)  # type: ignore[call-arg]
    for name, table in bronze_from_raw_dir(workdir / "raw", "bench-key").items():
        storage.write(catalog.location(name, bronze_settings), table, settings=bronze_settings)
    rows = storage.read_dataset(catalog.location("bronze_transactions", bronze_settings),
                                bronze_settings).count_rows()

    duck_settings = _lake(workdir / "duckdb", bronze_root)
    duck = _run(DuckDBEngine.from_settings(), duck_settings)
    start = time.perf_counter()
    spark = SparkEngine(session_config("local[*]", "4g", None, ui=False))
    session_info = describe_session(spark.session)
    jvm_start = time.perf_counter() - start
    spark_settings = _lake(workdir / "spark", bronze_root)
    try:
        on_spark = _run(spark, spark_settings)
    finally:
        stop_spark()
    duck_counts, spark_counts = _counts(duck_settings), _counts(spark_settings)
    if duck_counts != spark_counts:
        raise RuntimeError(f"the engines disagree on row counts: {duck_counts} vs {spark_counts}")
    return _report(scale, rows, duck, on_spark, jvm_start, session_info)


def _report(scale: str, rows: int, duck: dict[str, float], spark: dict[str, float],
            jvm_start: float, session_info: dict) -> list[dict]:
    table = Table(title=f"Engines on {rows:,} transactions ({scale}); Spark "
                        f"{session_info['version']} {session_info['master']}")
    for column in ("stage", "DuckDB s", "Spark s", "Spark / DuckDB", "DuckDB rows/s",
                   "Spark rows/s"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    figures = [_figure("transactions", rows, "rows"),
               _figure("spark JVM + session start", jvm_start, "s")]
    stages = {**{k: (duck[k], spark[k]) for k in duck},
              "silver + gold": (sum(duck.values()), sum(spark.values()))}
    for stage, (d, s) in stages.items():
        table.add_row(stage, f"{d:.1f}", f"{s:.1f}", f"{s / d:.2f}x",
                      f"{rows / d:,.0f}", f"{rows / s:,.0f}")
        figures += [_figure(f"{stage} on duckdb", d, "s"), _figure(f"{stage} on spark", s, "s"),
                    _figure(f"{stage} spark/duckdb", s / d, "ratio")]
    console.print(table)
    console.print(f"Spark JVM + session start: {jvm_start:.1f} s (once per process, not in the "
                  "stage times). Row counts of every silver and gold table: identical.")
    return figures
