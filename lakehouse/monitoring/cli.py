"""`lakehouse monitor ...`: the model-monitoring jobs an operator runs by hand.

`skew` compares the feature vectors the scoring API logged with their gold `ml_features`
rows (`lakehouse.monitoring.skew`), prints one line per feature (rows compared, mismatches,
rate) and the mismatching rows, and exits 1 when any feature differs. `shadow-report` prints
champion against challenger on the shadowed traffic (or a replay of gold with `--replay-days`),
and `promote` decides on that evidence (`lakehouse.monitoring.promotion`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from lakehouse.config import get_settings
from lakehouse.ml import registry
from lakehouse.monitoring import skew as skew_check

if TYPE_CHECKING:
    from lakehouse.monitoring.shadow import ShadowEvidence

app = typer.Typer(
    help="Model monitoring: online/offline skew, shadow challenger.", no_args_is_help=True
)
console = Console(stderr=True)


@app.command("skew")
def skew(
    days: Annotated[
        int, typer.Option(min=1, help="Compare samples logged in the last DAYS.")
    ] = skew_check.SKEW_DAYS,
) -> None:
    """Compare scoring-time feature samples with gold ml_features; exit 1 on a mismatch."""
    report = skew_check.run(get_settings(), days)
    console.print(
        f"{report.samples} feature samples logged in the last {days} days, "
        f"{report.matched} with a gold row."
    )
    if not report.matched:
        console.print(
            "Nothing to compare yet: score transactions with a transaction_id "
            "(LAKEHOUSE_SKEW_SAMPLE_RATE > 0), then run `lakehouse pipeline run`."
        )
        return
    table = Table(title="Online/offline skew per feature")
    table.add_column("feature")
    for column in ("compared", "mismatched", "rate"):
        table.add_column(column, justify="right")
    table.add_column("example rows (id: online / gold)")
    for feature in sorted(report.features, key=lambda f: (-f.rate, f.feature)):
        examples = "; ".join(f"{tid}: {online} / {gold}" for tid, online, gold in feature.examples)
        style = "bold red" if feature.mismatched else None
        table.add_row(
            feature.feature,
            str(feature.compared),
            str(feature.mismatched),
            f"{feature.rate:.2%}",
            examples,
            style=style,
        )
    console.print(table)
    if report.skewed:
        names = ", ".join(f.feature for f in report.skewed)
        console.print(
            f"[bold red]Skew in {names}[/]: the online computation of these features "
            "differs from gold; `lakehouse features replay` narrows it down."
        )
        raise typer.Exit(1)
    console.print("[green]No skew: every sampled feature equals its gold value.[/]")


FlavourOption = Annotated[str, typer.Option("--flavour", help="Model flavour: full or basic.")]
ReplayOption = Annotated[
    int | None,
    typer.Option(
        "--replay-days",
        min=1,
        help="Score the last N days of gold with both models instead of using the live shadow.",
    ),
]


def _evidence_table(evidence: ShadowEvidence) -> Table:
    table = Table(
        title=f"{evidence.flavour} model, {evidence.mode} traffic: {evidence.rows} "
        f"transactions, {evidence.labeled} labeled, {evidence.frauds} frauds"
    )
    table.add_column("")
    for who, model in (("champion", evidence.champion), ("challenger", evidence.challenger)):
        table.add_column(f"{who} v{model.version}", justify="right")
    rows = (
        ("average precision", "average_precision"),
        ("recall @ 1% FPR", "recall_at_1pct_fpr"),
        ("threshold", "threshold"),
        ("policy: decline at P(fraud) ≥", "decline_probability"),
        ("policy: review at expected loss ≥ $", "review_expected_loss"),
        ("reviews at the policy", "reviews"),
        ("declines at the policy", "declines"),
        ("alerts (reviews + declines)", "alerts"),
        ("alert rate", "alert_rate"),
    )
    for label, field in rows:
        values = [getattr(m, field) for m in (evidence.champion, evidence.challenger)]
        table.add_row(
            label,
            *("—" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v) for v in values),
        )
    correlation = (
        "—"
        if evidence.pearson is None
        else (f"Pearson {evidence.pearson:.3f}, Spearman {evidence.spearman:.3f}")
    )
    table.caption = (
        f"score correlation: {correlation}; scored {evidence.first_scored} → {evidence.last_scored}"
    )
    return table


def _check_flavour(flavour: str) -> None:
    if flavour not in registry.FLAVOURS:
        console.print(f"[red]--flavour must be one of {', '.join(registry.FLAVOURS)}[/]")
        raise typer.Exit(2)


@app.command("shadow-report")
def shadow_report(flavour: FlavourOption = "full", replay_days: ReplayOption = None) -> None:
    """Champion against challenger: AP, recall at 1% FPR, alert volume, score correlation."""
    # Imported here: they need the `ml` extra (scikit-learn, MLflow), which images without
    # it (the datamarts API) never load when they run `lakehouse serve`.
    from lakehouse.monitoring import promotion, shadow

    _check_flavour(flavour)
    settings = get_settings()
    if replay_days:
        evidence = promotion.replay_evidence(settings, flavour, replay_days)
    else:
        client, _ = registry.mlflow_client(settings.mlflow_tracking_uri)
        name = registry.model_name(settings, flavour)
        found = registry.version_by_alias(client, name, registry.CHALLENGER)
        if found is None:
            console.print(f"No challenger registered for {name}.")
            raise typer.Exit(1)
        evidence = shadow.live_evidence(settings, flavour, str(found.version), datetime.now(UTC))
        if evidence is None:
            console.print(
                "No shadowed traffic logged yet: score requests with the scoring API "
                "(the challenger shadows them), or use --replay-days N."
            )
            raise typer.Exit(1)
    console.print(_evidence_table(evidence))


@app.command("promote")
def promote(flavour: FlavourOption = "full", replay_days: ReplayOption = None) -> None:
    """Promote the challenger if it beats the champion on shadowed (or replayed) traffic."""
    from lakehouse.monitoring import promotion  # needs the `ml` extra, as above

    _check_flavour(flavour)
    decision = promotion.decide(get_settings(), flavour, replay_days=replay_days)
    if decision.evidence is not None:
        console.print(_evidence_table(decision.evidence))
    style = "green" if decision.promoted else "yellow"
    console.print(f"[{style}]{decision.reason}[/]")
    console.print(
        "The decision and its evidence are on the challenger's registry version "
        "(tags shadow_promotion, shadow_evidence)."
    )
