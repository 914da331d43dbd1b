"""Benchmark of model quality per fraud mechanism: the feature set before and after, on the
default generator knobs and on three other data sources.

For each data source, generates a dataset with the project's generator, builds silver and
`ml_features` with the pipeline's SQL (DuckDB), cuts the same time windows, and trains the
full model twice on them: once on the feature set as it was before the merchant-window and
spending-shift features (`PREVIOUS_FEATURE_COLUMNS`, frozen here as the baseline) and once on
today's `FEATURE_COLUMNS`. Prints, per mechanism, recall at 1 % FPR, average precision and
card precision@100 of both, with the ratio after / before, plus the breach detection delay,
the training seconds and (with a tuning budget) the tuning seconds.

The data sources: `default` (the generator's knobs), `breach-heavy` (40 % of the fraud budget
in breached merchants instead of 12 %), `delay-14` (labels known 14 days after the
transaction instead of 7) and `full-labels` (every transaction labeled, instead of 67 %).
The gains must hold on all four, not only on the knobs the features were designed on.

    .venv/bin/python -m benchmarks.run --only quality --scale medium
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.bench_training import SCALES  # the same datasets as the training benchmark
from lakehouse.pipeline.feeder import bronze_from_raw_dir

console = Console()

# (generator overrides, label delay in days)
SOURCES: dict[str, tuple[dict, int]] = {
    "default": ({}, 7),
    "breach-heavy": ({"fraud_mix": (0.52, 0.08, 0.40)}, 7),
    "delay-14": ({}, 14),
    "full-labels": ({"label_share": 1.0}, 7),
}
MECHANISMS = ("card_burst", "account_takeover", "breached_merchant")
METRICS = ("recall_at_1pct_fpr", "average_precision", "card_precision_at_100")
# The full model's inputs before the merchant-window and spending-shift features (feature set
# 2026.11.2): frozen here as the baseline every figure is compared with.
PREVIOUS_FEATURE_COLUMNS = [
    "amount", "card_brand", "card_type", "merchant_state", "use_chip", "credit_limit",
    "per_capita_income", "yearly_income", "total_debt", "credit_score", "num_credit_cards",
    "hour", "is_refund", "is_online", "is_abroad", "has_chip", "err_bad_cvv",
    "err_bad_card_number", "err_bad_expiration", "err_bad_pin", "err_insufficient_balance",
    "has_error", "card_tx_count_1h", "card_amount_sum_1h", "card_tx_count_24h",
    "card_amount_sum_24h", "card_tx_count_7d", "card_amount_sum_7d", "card_tx_count_30d",
    "card_amount_sum_30d", "client_tx_count_1h", "client_amount_sum_1h", "client_tx_count_24h",
    "client_amount_sum_24h", "client_tx_count_7d", "client_amount_sum_7d",
    "client_tx_count_30d", "client_amount_sum_30d", "client_amount_mean_30d",
    "client_amount_std_30d", "amount_to_client_mean_30d", "amount_zscore_client_30d",
    "seconds_since_prev_card", "seconds_since_prev_client", "is_new_merchant", "is_new_state",
    "is_first_abroad", "is_first_online", "merchant_fraud_risk", "merchant_labels_known",
    "mcc_fraud_risk", "global_fraud_rate",
]  # fmt: skip


def _windows(source: str, scale: str, workdir: Path):  # type: ignore[no-untyped-def]
    """Generate one data source, build silver and ml_features, cut the training windows."""
    import pyarrow.compute as pc

    from lakehouse import catalog, storage
    from lakehouse.config import Settings
    from lakehouse.datagen import generate
    from lakehouse.datagen.truth import read_mechanisms
    from lakehouse.engines.duckdb import DuckDBEngine
    from lakehouse.ml.features import FEATURE_COLUMNS
    from lakehouse.ml.training_data import TrainConfig, load_windows, time_split
    from lakehouse.pipeline.build import build_models
    from lakehouse.pipeline.models import SILVER_MODELS, run_model

    overrides, delay = SOURCES[source]
    spec = dict(SCALES[scale])
    clients, rows = spec.pop("clients"), spec.pop("transactions")
    raw = workdir / source / "raw"
    generate(raw, clients=clients, transactions=rows, seed=2024, **spec, **overrides)
    engine = DuckDBEngine(threads=2)
    silver = build_models(engine, SILVER_MODELS, bronze_from_raw_dir(raw, "bench-key"),
                          {"label_delay_days": delay})
    features = run_model(engine, "ml_features",
                         {"silver_transactions": silver["silver_transactions"]}, {})
    del silver
    settings = Settings(data_dir=workdir / source / "data", label_delay_days=delay)
    location = catalog.location("ml_features", settings)
    storage.write(location, features, settings=settings)
    labeled = features.filter(pc.is_valid(features["label"]))["tx_date"]
    first, last = pc.min(labeled).as_py(), pc.max(labeled).as_py()
    del features
    split = time_split(first, last, delay)
    columns = sorted(set(FEATURE_COLUMNS) | set(PREVIOUS_FEATURE_COLUMNS))
    dataset = storage.read_dataset(location, settings)
    windows = load_windows(dataset, columns, split, TrainConfig())
    return windows, read_mechanisms(raw), delay


def _train(windows, columns, truth, delay, trials: int) -> tuple[dict, float]:  # type: ignore[no-untyped-def]
    from lakehouse.ml.mechanisms import mechanism_metrics
    from lakehouse.ml.train import train_flavour
    from lakehouse.ml.training_data import TrainConfig

    start = time.perf_counter()
    result = train_flavour(windows, "full", replace(TrainConfig(), tuning_trials=trials), columns)
    seconds = time.perf_counter() - start
    figures = {**result.test_metrics,
               **mechanism_metrics(windows.test, result.test_probability, result.threshold,
                                   truth, delay)}
    return figures, seconds


def _print(source: str, before: dict, after: dict,
           sides: str = "before = feature set 2026.11.2, after = today's") -> None:
    table = Table(title=f"Full model per fraud mechanism, data source '{source}' ({sides})")
    table.add_column("mechanism")
    for metric in METRICS:
        for side in ("before", "after"):
            table.add_column(f"{metric} {side}", justify="right")
    for name in ("all", *MECHANISMS):
        prefix = "" if name == "all" else f"{name}_"
        cells = []
        for metric in METRICS:
            for figures in (before, after):
                value = figures.get(f"{prefix}{metric}")
                cells.append("n/a" if value is None else f"{value:.3f}")
        table.add_row(name, *cells)
    console.print(table)
    for side, figures in (("before", before), ("after", after)):
        delay = figures.get("breach_days_to_detect_median")
        detected = figures.get("breach_detected", 0)
        console.print(f"  {side}: breached merchants detected {detected:.0f}"
                      f" of {figures.get('breach_merchants', 0):.0f}, median days to detect "
                      f"{'n/a' if delay is None else f'{delay:.0f}'}")


def run(scale: str, workdir: Path) -> list[dict]:
    from lakehouse.config import Settings
    from lakehouse.ml.features import FEATURE_COLUMNS

    results: list[dict] = []
    for source in SOURCES:
        console.print(f"[bold]{source}[/]: generating, building features")
        windows, truth, delay = _windows(source, scale, workdir)
        before, _ = _train(windows, PREVIOUS_FEATURE_COLUMNS, truth, delay, 0)
        after, after_s = _train(windows, FEATURE_COLUMNS, truth, delay, 0)
        _print(source, before, after)
        for name in ("all", *MECHANISMS):
            prefix = "" if name == "all" else f"{name}_"
            for metric in METRICS:
                b, a = before.get(f"{prefix}{metric}"), after.get(f"{prefix}{metric}")
                if a is None:
                    continue
                results.append({"benchmark": "quality", "figure": f"{source} {name} {metric}",
                                "value": a, "unit": ""})
                if b:
                    results.append({"benchmark": "quality",
                                    "figure": f"{source} {name} {metric} after / before",
                                    "value": a / b, "unit": "x"})
        results.append({"benchmark": "quality", "figure": f"{source} training seconds",
                        "value": after_s, "unit": "s"})
        if source == "default":
            trials = Settings().tuning_trials or 10
            tuned, tuned_s = _train(windows, FEATURE_COLUMNS, truth, delay, trials)
            console.print(f"  tuned ({trials} trials): AP {tuned['average_precision']:.3f}, "
                          f"{tuned_s:.0f} s with tuning vs {after_s:.0f} s without")
            _print(source, after, tuned,
                   f"today's feature set: before = untuned, after = {trials} tuning trials")
            for name in ("all", *MECHANISMS):
                prefix = "" if name == "all" else f"{name}_"
                for metric in METRICS:
                    value = tuned.get(f"{prefix}{metric}")
                    if value is not None:
                        results.append({"benchmark": "quality",
                                        "figure": f"{source} tuned {name} {metric}",
                                        "value": value, "unit": ""})
            results.append({"benchmark": "quality", "figure": "default tuning seconds",
                            "value": tuned_s - after_s, "unit": "s"})
        del windows
    return results
