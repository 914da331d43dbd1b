"""`lakehouse generate`: write the five source files of DATA.md from the command line.

Registered by `lakehouse/cli.py`. Reads the default output folder from the settings (the raw
folder), calls `lakehouse.datagen.generate` with a rich progress bar, prints a summary table,
and exits non-zero with a message saying what to do when something is wrong.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from lakehouse import formats
from lakehouse.config import get_settings
from lakehouse.datagen import generate as run_generate
from lakehouse.datagen.params import GenerationSummary

console = Console(stderr=True)


def _check_date(value: str, option: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2010-01-01",
                                 param_hint=option) from None
    return value


def _summary_table(summary: GenerationSummary) -> Table:
    table = Table(title=f"Generated dataset in {summary.out_dir}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("transactions", f"{summary.rows:,}")
    table.add_row("clients / cards / merchants",
                  f"{summary.clients:,} / {summary.cards:,} / {summary.merchants:,}")
    table.add_row("labeled", f"{summary.labeled:,} ({summary.labeled / max(summary.rows, 1):.1%})")
    table.add_row("fraud (all / labeled)", f"{summary.frauds:,} / {summary.labeled_frauds:,}")
    table.add_row("fraud rate of labeled", f"{summary.labeled_fraud_rate:.4%}")
    for name, size in summary.files.items():
        table.add_row(name, f"{size / 1e6:,.1f} MB" if size >= 1e5 else f"{size / 1e3:,.1f} kB")
    table.add_row("time", f"{summary.seconds:,.1f} s ({summary.rows_per_second:,.0f} rows/s)")
    return table


def generate(
    out: Path = typer.Option(None, "--out", "-o",
                             help="Folder for the five files (default: the raw folder, "
                                  "$LAKEHOUSE_DATA_DIR/raw)."),
    clients: int = typer.Option(2000, min=1, help="Number of clients (users)."),
    transactions: int = typer.Option(13_305_915, min=1, help="Number of transactions."),
    seed: int = typer.Option(42, help="Random seed; the same seed gives byte-identical files."),
    start: str = typer.Option("2010-01-01", help="First day of transactions (YYYY-MM-DD)."),
    end: str = typer.Option("2019-10-31", help="Last day of transactions (YYYY-MM-DD)."),
    fraud_multiplier: float = typer.Option(1.0, min=0.0,
                                           help="Multiply the fraud rate (~0.15 %) by this."),
    force: bool = typer.Option(False, "--force", "-f",
                               help="Overwrite source files already in the folder."),
) -> None:
    """Generate the five source files of DATA.md (synthetic, same format as the real dataset).

    Writes transactions_data.csv, cards_data.csv, users_data.csv, mcc_codes.json and
    train_fraud_labels.json. The defaults produce the full-size dataset (13.3 M rows).
    """
    _check_date(start, "--start")
    _check_date(end, "--end")
    target = Path(out) if out is not None else get_settings().raw_path
    existing = [name for name in formats.ALL_FILES if (target / name).exists()]
    if existing and not force:
        console.print(f"[red]Error:[/] {target} already holds {', '.join(existing)}. "
                      "Use --force to overwrite them, or choose another folder with --out.")
        raise typer.Exit(code=1)
    columns = (TextColumn("[bold]generating"), BarColumn(), MofNCompleteColumn(),
               TextColumn("rows"), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("generate", total=transactions)
            summary = run_generate(
                target, clients=clients, transactions=transactions, seed=seed, start=start,
                end=end, fraud_multiplier=fraud_multiplier,
                progress=lambda done, total: progress.update(task, completed=done),
            )
    except (ValueError, OSError) as exc:
        console.print(f"[red]Error:[/] {exc}. Check the options (see `lakehouse generate "
                      "--help`) and that the folder is writable.")
        raise typer.Exit(code=1) from exc
    Console().print(_summary_table(summary))
