"""Benchmark: the gold `ml_features` SQL generated from the declarations vs the hand-written one.

Issue 11 asks that generating the batch SQL from declarations does not make the gold stage
slower. Same silver, same DuckDB engine, same run, each statement timed in alternation:
- `hand-written (52 inputs)`: the SQL of feature set 2026.11.1, written by hand, recovered from
  git (`baselines/ml_features_handwritten.sql`; labels known by label + delay);
- `generated (52 inputs)`: the first SQL generated from the declarations, the same 52 inputs
  (`baselines/ml_features_generated_52.sql`, feature set 2026.11.2) — generation alone;
- `generated (current)`: the one statement generated now (`features_sql()`, feature set of
  `FEATURE_SET_VERSION`, more inputs: recent label windows, per-window means, night/weekend),
  what the Spark engine runs;
- `generated (current), windows on sorted columns`: what the DuckDB gold stage runs
  (`feature_chunks`, here one range): the same statement with its window aggregates and label
  tallies evaluated by `batch_arrays` (sort, binary search, exact prefix sums) and handed to
  it as relations.
The baselines are text files used only here. Each statement runs one shot over all of silver
(the gold stage runs the same generated SQL one time range at a time,
`batch_sql.feature_chunks`, with the same rows); the median and the best of the rounds are
reported with their ratio to the hand-written SQL (on a shared host the best round is the
least disturbed one), with the CPU seconds of the process (`time.process_time`) per run.

Steps (sizes: small 100 k, medium 1 M, full 13.3 M transactions): generate the files, build
bronze and silver in memory with the pipeline's own models, then time the four variants.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from rich.console import Console
from rich.table import Table

from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.features.batch_sql import feature_chunks, features_sql
from lakehouse.ml.features import FEATURE_COLUMNS, FEATURE_SET_VERSION
from lakehouse.pipeline.build import build_models
from lakehouse.pipeline.feeder import bronze_from_raw_dir
from lakehouse.pipeline.models import SILVER_MODELS

console = Console()
SIZES = {"small": (200, 100_000), "medium": (2_000, 1_000_000), "full": (2_000, 13_305_915)}
ROUNDS = {"small": 3, "medium": 3, "full": 1}
LABEL_DELAY_DAYS = 7
BASELINES = Path(__file__).resolve().parent / "baselines"


def _figure(figure: str, value: float, unit: str) -> dict:
    return {"benchmark": "gold_sql", "figure": figure, "value": value, "unit": unit}


def statements() -> dict[str, str]:
    """The three `ml_features` statements, by name (hand-written first: the baseline)."""
    hand = (BASELINES / "ml_features_handwritten.sql").read_text()
    return {
        "hand-written (52 inputs)": hand.replace(
            "{label_delay_seconds}", str(LABEL_DELAY_DAYS * 86_400)
        ),
        "generated (52 inputs)": (BASELINES / "ml_features_generated_52.sql").read_text(),
        f"generated (current, {len(FEATURE_COLUMNS)} inputs)": features_sql(),
    }


def _sorted_columns(engine: DuckDBEngine, silver: object) -> pa.Table:
    """The current features as the DuckDB gold stage computes them (one range, all rows)."""
    return pa.concat_tables(feature_chunks(engine, silver, [(0, None)]))


def _runs() -> dict[str, Callable[[DuckDBEngine, object], pa.Table]]:
    """Each variant as a call over (engine, silver): the statements, then the sorted columns."""
    runs: dict[str, Callable[[DuckDBEngine, object], pa.Table]] = {
        name: (lambda engine, silver, sql=sql: engine.run_sql(sql, {"silver_transactions": silver}))
        for name, sql in statements().items()
    }
    runs[f"{next(reversed(runs))}, windows on sorted columns"] = _sorted_columns
    return runs


def _silver(workdir: Path, clients: int, transactions: int) -> object:
    from lakehouse.datagen import generate

    console.print(f"generating {transactions:,} transactions for {clients:,} clients ...")
    generate(workdir / "raw", clients=clients, transactions=transactions, seed=42)
    bronze = bronze_from_raw_dir(workdir / "raw", "bench-key")
    engine = DuckDBEngine.from_settings()
    params = {"label_delay_days": LABEL_DELAY_DAYS}
    return build_models(engine, SILVER_MODELS, bronze, params)["silver_transactions"]


def run(scale: str, workdir: Path) -> list[dict]:
    """Time the four variants on one silver; seconds, CPU seconds, rows/s and ratios."""
    clients, transactions = SIZES[scale]
    silver = _silver(workdir, clients, transactions)
    engine = DuckDBEngine.from_settings()
    runs = _runs()
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    rows: dict[str, int] = {}
    for _ in range(ROUNDS[scale]):
        for name, call in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            result = call(engine, silver)
            seconds[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            rows[name] = result.num_rows
            del result
    if len(set(rows.values())) != 1:
        raise RuntimeError(f"the statements disagree on row counts: {rows}")
    return _report(scale, silver.num_rows, seconds, cpu)  # type: ignore[attr-defined]


def _report(
    scale: str, rows: int, seconds: dict[str, list[float]], cpu: dict[str, list[float]]
) -> list[dict]:
    median = {name: statistics.median(values) for name, values in seconds.items()}
    best = {name: min(values) for name, values in seconds.items()}
    baseline, best_baseline = next(iter(median.values())), next(iter(best.values()))
    table = Table(title=f"ml_features SQL on {rows:,} silver rows ({scale}), DuckDB, "
                        f"{len(next(iter(seconds.values())))} alternating rounds")  # fmt: skip
    for column in ("statement", "median s", "rows/s", "vs hand-written", "best s",
                   "best vs hand-written", "median CPU s"):  # fmt: skip
        table.add_column(column, justify="left" if column == "statement" else "right")
    figures = [_figure("silver rows", rows, "rows")]
    for name, value in median.items():
        median_cpu = statistics.median(cpu[name])
        table.add_row(name, f"{value:.2f}", f"{rows / value:,.0f}", f"{value / baseline:.2f}x",
                      f"{best[name]:.2f}", f"{best[name] / best_baseline:.2f}x",
                      f"{median_cpu:.2f}")  # fmt: skip
        figures += [_figure(f"{name} seconds (median)", value, "s"),
                    _figure(f"{name} CPU seconds (median)", median_cpu, "s"),
                    _figure(f"{name} / hand-written (median)", value / baseline, "ratio"),
                    _figure(f"{name} / hand-written (best)", best[name] / best_baseline,
                            "ratio")]  # fmt: skip
    console.print(table)
    console.print(f"current feature set {FEATURE_SET_VERSION}; all rounds: "
                  + "; ".join(f"{n}: {', '.join(f'{s:.2f}' for s in v)}"
                              for n, v in seconds.items()))  # fmt: skip
    return figures
