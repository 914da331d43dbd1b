"""`lakehouse train`: train, evaluate, register and (maybe) promote the fraud models.

Reads `gold/ml_features` (built by `lakehouse pipeline run`), trains the `full` and `basic`
flavours on a time split, logs everything to MLflow at `Settings.mlflow_tracking_uri`, and
prints a metrics table per flavour (model vs. logistic baseline) and the promotion decision.
Exits 1 with what to do next when the feature table is missing or holds too few frauds.
"""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from lakehouse.config import get_settings
from lakehouse.observability.logs import configure_logging
from lakehouse.observability.redact import redact_url

console = Console(stderr=True)

SHOWN_METRICS = (
    ("roc_auc", "ROC-AUC"),
    ("average_precision", "average precision"),
    ("recall_at_1pct_fpr", "recall @ 1% FPR"),
    ("precision_at_100", "precision @ top-100"),
    ("card_precision_at_10", "card precision @ 10/day"),
    ("base_rate", "fraud base rate"),
)


POLICY_ROWS = (
    ("decline_probability", "decline when P(fraud) >="),
    ("review_expected_loss", "review when expected loss >= $"),
)


class Flavour(StrEnum):
    both = "both"
    full = "full"
    basic = "basic"


def _summary(report) -> Table:  # type: ignore[no-untyped-def]
    table = Table(title="Test-window metrics (latest period, never seen in training)")
    table.add_column("metric")
    for outcome in report.outcomes:
        table.add_column(f"{outcome.model_name} v{outcome.version}", justify="right")
        table.add_column("logistic baseline", justify="right", style="dim")
    for key, label in SHOWN_METRICS:
        row = [label]
        for outcome in report.outcomes:
            row += [f"{outcome.metrics[key]:.4f}", f"{outcome.baseline_metrics[key]:.4f}"]
        table.add_row(*row)
    row = ["threshold (F2 on validation)"]
    for outcome in report.outcomes:
        row += [f"{outcome.threshold:.4f}", ""]
    table.add_row(*row)
    for key, label in POLICY_ROWS:
        row = [label]
        for outcome in report.outcomes:
            row += [f"{outcome.policy[key]:.4g}", ""]
        table.add_row(*row)
    return table


def _policy_summary(report) -> Table:  # type: ignore[no-untyped-def]
    """Validation-window cost of the chosen policy against the seed's 0.5 and the F-score cut."""
    table = Table(title="Decision policy on the validation window (dollars; docs/cases.md)")
    for column in ("model", "policy", "total cost", "saved", "fraud lost", "reviews/day",
                   "declined"):
        table.add_column(column, justify="left" if column in {"model", "policy"} else "right")
    for outcome in report.outcomes:
        for name, cost in outcome.policy_costs.items():
            table.add_row(outcome.model_name, name, f"{cost['total']:,.0f}",
                          f"{cost['saved']:,.0f}", f"{cost['fraud_loss']:,.0f}",
                          f"{cost['reviews_per_day']:.1f}", f"{cost['declined']:,}")
    return table


def train(
    flavour: Annotated[Flavour, typer.Option(help="Which model(s) to train.")] = Flavour.both,
    max_train_rows: Annotated[int, typer.Option(
        help="Cap on training-window rows; legitimate rows beyond it are sampled out.")]
        = 1_000_000,
    num_boost_round: Annotated[int, typer.Option(help="Maximum LightGBM trees.")] = 400,
    tuning_trials: Annotated[int | None, typer.Option(
        help="Hyperparameter-search trials (time-series CV); default LAKEHOUSE_TUNING_TRIALS, "
             "0 = documented defaults.", min=0)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Train the fraud models on gold/ml_features, log them to MLflow, promote the better."""
    # Training needs the `ml` extra (scikit-learn, LightGBM, MLflow): loaded only to train,
    # so `lakehouse --help` and the services' images without it still start.
    from lakehouse.ml.tracking import report_as_dict, train_and_register
    from lakehouse.ml.training_data import TrainConfig, TrainingError

    settings = get_settings()
    configure_logging("WARNING")  # the progress display tells the story; logs stay for errors
    logging.getLogger("lakehouse").setLevel(logging.WARNING)
    flavours = ("full", "basic") if flavour is Flavour.both else (flavour.value,)
    config = TrainConfig(max_train_rows=max_train_rows, num_boost_round=num_boost_round,
                         tuning_trials=tuning_trials)
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=console) as progress:
            task = progress.add_task("starting", total=None)
            report = train_and_register(
                settings, config, flavours,
                on_step=lambda message: progress.update(task, description=message),
            )
            progress.update(task, description="done")
    except TrainingError as error:
        console.print(f"[bold red]Training failed:[/] {error}")
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(report_as_dict(report), indent=2))
        return
    split = report.split
    console.print(
        f"Read gold/ml_features v{report.data_versions['ml_features']}: "
        f"{report.labeled_rows:,} labeled rows. Train {split['split_train_start']}..."
        f"{split['split_train_end']}, validation {split['split_val_start']}..."
        f"{split['split_val_end']}, test {split['split_test_start']}...{split['split_test_end']}"
        f" (gaps of {split['split_gap_days']} days)."
    )
    console.print(_summary(report))
    console.print(_policy_summary(report))
    for outcome in report.outcomes:
        style = "green" if outcome.promoted else "yellow"
        alias = "champion" if outcome.promoted else "challenger"
        console.print(f"[{style}]{outcome.model_name} v{outcome.version} is {alias}[/] — "
                      f"{outcome.reason}")
    uri = redact_url(settings.mlflow_tracking_uri or "")
    console.print(f"Runs: `mlflow ui --backend-store-uri {uri}`")
