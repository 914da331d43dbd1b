"""`lakehouse monitor ...`: the model-monitoring jobs an operator runs by hand.

`skew` compares the feature vectors the scoring API logged with their gold `ml_features`
rows (`lakehouse.monitoring.skew`), prints one line per feature (rows compared, mismatches,
rate) and the mismatching rows, and exits 1 when any feature differs.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lakehouse.config import get_settings
from lakehouse.monitoring import skew as skew_check

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
