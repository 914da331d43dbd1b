"""Benchmark of the ML part: feature table build, training time and model quality.

Generates a dataset with the project's generator, builds silver with the pipeline's SQL models
and `ml_features` with the feature SQL (DuckDB), writes it as a Delta table, then runs the
real training job (`train_and_register`: both flavours, MLflow in the work folder). Prints the
seconds of each step, rows per second of the feature build against the silver build of the
same run, and the test-window metrics of both flavours against their logistic-regression
baselines and the base rate (ratios measured in the same run).

Scales: small = 60 k rows (fraud x8, one year), medium = 1 M rows, full = 13.3 M rows
(default fraud rate, 2010-2019; long — run it once, in the background).
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lakehouse.pipeline.feeder import bronze_from_raw_dir

console = Console()

SCALES = {
    "small": {"clients": 90, "transactions": 60_000, "start": "2018-01-01",
              "end": "2018-12-31", "fraud_multiplier": 8.0},
    "medium": {"clients": 300, "transactions": 1_000_000, "start": "2015-01-01",
               "end": "2019-10-31", "fraud_multiplier": 1.0},
    "full": {"clients": 2_000, "transactions": 13_305_915, "start": "2010-01-01",
             "end": "2019-10-31", "fraud_multiplier": 1.0},
}



def run(scale: str, workdir: Path) -> list[dict]:
    from lakehouse import catalog, storage
    from lakehouse.config import Settings
    from lakehouse.datagen import generate
    from lakehouse.engines.duckdb import DuckDBEngine
    from lakehouse.ml.tracking import train_and_register
    from lakehouse.pipeline.build import build_models
    from lakehouse.pipeline.models import SILVER_MODELS, run_model

    spec = dict(SCALES[scale])
    clients, rows = spec.pop("clients"), spec.pop("transactions")
    raw_dir = workdir / "raw"
    timings: dict[str, float] = {}

    start = time.perf_counter()
    generate(raw_dir, clients=clients, transactions=rows, seed=2024, **spec)
    timings["generate"] = time.perf_counter() - start

    engine = DuckDBEngine(threads=2)
    start = time.perf_counter()
    bronze = bronze_from_raw_dir(raw_dir, "bench-key")
    silver = build_models(engine, SILVER_MODELS, bronze)["silver_transactions"]
    timings["silver"] = time.perf_counter() - start

    start = time.perf_counter()
    features = run_model(engine, "ml_features", {"silver_transactions": silver})
    timings["features"] = time.perf_counter() - start
    del silver

    settings = Settings(data_dir=workdir / "data", label_delay_days=7)
    storage.write(catalog.location("ml_features", settings), features, settings=settings)
    del features

    start = time.perf_counter()
    report = train_and_register(settings)
    timings["train (both flavours)"] = time.perf_counter() - start

    results: list[dict] = [
        {"benchmark": "training", "figure": f"{step} seconds", "value": seconds, "unit": "s"}
        for step, seconds in timings.items()
    ]
    results.append({"benchmark": "training", "figure": "ml_features rows/s",
                    "value": rows / timings["features"], "unit": "rows/s"})
    results.append({"benchmark": "training", "figure": "ml_features time / silver time",
                    "value": timings["features"] / timings["silver"], "unit": "x"})

    table = Table(title=f"Training, {rows:,} generated transactions "
                        f"({report.labeled_rows:,} labeled)")
    for column in ("model", "AP", "AP baseline", "AP / base rate", "ROC-AUC",
                   "recall@1%FPR", "card prec@10", "test frauds"):
        table.add_column(column, justify="right")
    for outcome in report.outcomes:
        m, b = outcome.metrics, outcome.baseline_metrics
        lift = m["average_precision"] / max(m["base_rate"], 1e-12)
        table.add_row(outcome.model_name, f"{m['average_precision']:.3f}",
                      f"{b['average_precision']:.3f}", f"{lift:.1f}x", f"{m['roc_auc']:.3f}",
                      f"{m['recall_at_1pct_fpr']:.3f}", f"{m['card_precision_at_10']:.3f}",
                      f"{int(m['frauds'])}")
        for key in ("average_precision", "roc_auc", "recall_at_1pct_fpr"):
            results.append({"benchmark": "training", "figure": f"{outcome.flavour} {key}",
                            "value": m[key], "unit": ""})
            results.append({"benchmark": "training",
                             "figure": f"{outcome.flavour} {key} / logistic baseline",
                             "value": m[key] / max(b[key], 1e-12), "unit": "x"})
        results.append({"benchmark": "training", "figure": f"{outcome.flavour} AP / base rate",
                        "value": lift, "unit": "x"})
    console.print(table)
    console.print(", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    return results
