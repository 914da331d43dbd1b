"""Benchmark of the SQL models on the DuckDB engine: rows per second per model, and the cost of
the engine adapter against DuckDB reading the same Parquet files itself.

Generates the five files (`lakehouse.datagen.generate`: small 100 k, medium 1 M, full 13.3 M
transactions), builds bronze with the feeder's pure functions and writes it as Parquet. Then,
for every silver and gold model, it times (best of a few runs, wall and CPU):
- the pipeline path: `run_model` on `DuckDBEngine` over Arrow datasets of those files, as the
  runner passes Delta snapshots (bronze transactions in memory, as the runner's silver chunks);
- the baseline, measured in the same run: the same SQL text in one plain DuckDB connection over
  `read_parquet` views — the practical limit of the engine on this machine.
Rows per second count the model's input rows (transactions for silver_transactions and gold).
On a shared machine wall time swings with the load, so the table also shows rows per CPU-second
and the CPU-time ratio, which depend far less on the neighbours.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from lakehouse.datagen import generate
from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.pipeline.build import NO_KNOWN_IDS
from lakehouse.pipeline.feeder import bronze_from_raw_dir
from lakehouse.pipeline.models import MODELS, SILVER_MODELS, run_model

console = Console()
SIZES = {"small": (200, 100_000), "medium": (2_000, 1_000_000), "full": (2_000, 13_305_915)}
REPEATS = {"small": 3, "medium": 2, "full": 1}
SQL_MODELS = [name for name in MODELS if name != "ml_features"]  # benchmarked by the ML side



def _best(action: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of the fastest of `repeats` runs."""
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def _figure(figure: str, value: float, unit: str) -> dict:
    return {"benchmark": "models", "figure": figure, "value": value, "unit": unit}


def _prepare(scale: str, workdir: Path) -> tuple[dict[str, Path], int]:
    clients, rows = SIZES[scale]
    raw = workdir / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    with console.status(f"generating {rows:,} transactions"):
        generate(raw, clients=clients, transactions=rows, seed=11)
    with console.status("bronze and silver reference tables as Parquet"):
        tables = {**bronze_from_raw_dir(raw, "bench-key"), "known_transaction_ids": NO_KNOWN_IDS}
        engine = DuckDBEngine.from_settings()
        for model in SILVER_MODELS[:2]:  # cards, users: inputs of silver_transactions
            tables[model.name] = run_model(engine, model.name, tables)
        files = {}
        for name, table in tables.items():
            files[name] = workdir / f"{name}.parquet"
            pq.write_table(table, files[name], row_group_size=122_880)
    return files, rows


COLUMNS = ("model", "rows out", "s", "M rows/s", "M rows/CPU-s", "plain s", "ratio", "CPU ratio")


def _time_model(
    name: str, files: dict[str, Path], plain: duckdb.DuckDBPyConnection, repeats: int
) -> tuple[pa.Table, tuple[float, float], tuple[float, float]]:
    """(output, (wall, cpu) through the engine, (wall, cpu) of plain DuckDB on the files)."""
    model, engine = MODELS[name], DuckDBEngine.from_settings()
    inputs: dict[str, object] = {
        relation: pads.dataset(files[relation]) for relation in model.inputs
    }
    if "bronze_transactions" in inputs:
        inputs["bronze_transactions"] = pq.read_table(files["bronze_transactions"])
    params = {"label_delay_days": 7}
    output = run_model(engine, name, inputs, params)
    for relation in model.inputs:
        source = f"read_parquet('{files[relation]}')"
        plain.execute(f"CREATE OR REPLACE VIEW {relation} AS SELECT * FROM {source}")
    ours = _best(lambda: run_model(engine, name, inputs, params), repeats)
    baseline = _best(lambda: plain.sql(model.render_sql(params)).to_arrow_table(), repeats)
    return output, ours, baseline


def run(scale: str, workdir: Path) -> list[dict]:
    files, rows = _prepare(scale, workdir)
    memory_limit = DuckDBEngine.from_settings().memory_limit or "4GB"
    plain = duckdb.connect(config={"memory_limit": memory_limit})
    results, table = [], Table(title=f"SQL models on DuckDB ({rows:,} transactions)")
    table.add_column(COLUMNS[0], no_wrap=True, min_width=20)
    for column in COLUMNS[1:]:
        table.add_column(column, justify="right")
    for name in SQL_MODELS:
        output, (wall, cpu), (base_wall, base_cpu) = _time_model(name, files, plain, REPEATS[scale])
        if name == "silver_transactions":  # gold reads the silver just built
            files[name] = workdir / "silver_transactions.parquet"
            pq.write_table(output, files[name], row_group_size=122_880)
        counted = rows if name not in {"silver_cards", "silver_users"} else output.num_rows
        table.add_row(
            name, f"{output.num_rows:,}", f"{wall:.3f}", f"{counted / wall / 1e6:.2f}",
            f"{counted / max(cpu, 1e-9) / 1e6:.2f}", f"{base_wall:.3f}", f"{wall / base_wall:.2f}x",
            f"{cpu / max(base_cpu, 1e-9):.2f}x",
        )  # fmt: skip
        results += [
            _figure(f"{name} rows/s", counted / wall, "rows/s"),
            _figure(f"{name} rows/CPU-s", counted / max(cpu, 1e-9), "rows/s"),
            _figure(f"{name} vs plain DuckDB", wall / base_wall, "x"),
        ]
    console.print(table)
    return results
