"""`lakehouse features replay`: prove the online store computes the gold features.

Builds online state from the lake's history before `--from`, streams every silver transaction
of [`--from`, `--to`) through the online update path and compares each vector with its
`gold/ml_features` row (`lakehouse.features.online.replay`). Prints the mismatches per
feature and exits 1 on any: the parity test of the store, and an operator's skew audit.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lakehouse import catalog, storage
from lakehouse.config import get_settings
from lakehouse.features.online.factory import redis_client, store_factory
from lakehouse.features.online.redis_store import drop_prefix
from lakehouse.features.online.replay import ReplayReport, replay

app = typer.Typer(help="Feature definitions: online/offline parity.", no_args_is_help=True)
console = Console()


def _report(report: ReplayReport) -> Table:
    table = Table(title=f"Replay: {report.rows:,} transactions compared with gold")
    table.add_column("feature")
    table.add_column("mismatches", justify="right")
    for feature, count in report.mismatches.most_common():
        table.add_row(feature, f"{count:,}")
    return table


@app.command("replay")
def replay_command(
    start: Annotated[
        datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First replayed day (UTC).")
    ],
    end: Annotated[
        datetime,
        typer.Option("--to", formats=["%Y-%m-%d"], help="Day after the last replayed one."),
    ],
    backend: Annotated[
        str | None, typer.Option(help="memory or redis (default: LAKEHOUSE_ONLINE_STORE).")
    ] = None,
) -> None:
    """Replay [--from, --to) through the online store and compare with gold/ml_features."""
    settings = get_settings()
    if backend is not None:
        settings = settings.model_copy(update={"online_store": backend})
    if end <= start:
        raise typer.BadParameter("--to must be after --from")
    try:
        silver = storage.read_dataset(catalog.location("silver_transactions", settings), settings)
        gold = storage.read_dataset(catalog.location("ml_features", settings), settings)
    except Exception as exc:  # a missing table: say what to run
        console.print(f"[red]cannot read the lake ({exc}): run `lakehouse pipeline run`[/red]")
        raise typer.Exit(2) from exc
    prefix = f"{settings.online_key_prefix}:replay:{uuid.uuid4().hex[:8]}"
    try:
        with console.status("replaying") as status:
            report = replay(
                silver,
                gold,
                start.date(),
                end.date(),
                store_factory(settings, prefix),
                progress=lambda n: status.update(f"replayed {n:,} transactions"),
                settings=settings,
            )
    finally:
        if settings.online_store == "redis":
            drop_prefix(redis_client(settings), prefix)
    if report.mismatches:
        console.print(_report(report))
        for transaction_id, feature, online, gold_value in report.examples:
            console.print(f"  {transaction_id} {feature}: online {online!r}, gold {gold_value!r}")
    if report.missing_gold:
        console.print(
            f"[red]{report.missing_gold:,} transactions have no gold row: "
            "run `lakehouse pipeline run`[/red]"
        )
    if not report.ok:
        console.print(
            "[red]online features differ from gold[/red]"
            if report.rows
            else "[red]no transaction in that range[/red]"
        )
        raise typer.Exit(1)
    console.print(
        f"[green]{report.rows:,} transactions, every feature equal to gold "
        f"({settings.online_store} backend)[/green]"
    )
