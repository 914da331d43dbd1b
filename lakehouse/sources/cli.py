"""`lakehouse sources load|split`: the source system's command-line side.

`load` sends transaction CSV files into the source DB (`Settings.source_db_url`, or
`--db-url`), one batch per file, through the same loader as `POST /transactions/csv`.
`split` cuts a large transactions CSV into month, day or equal-size files so history can be
loaded batch by batch. Both show rich progress and end with a summary table; failures print
what went wrong and what to do, and exit with code 1.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from lakehouse.config import get_settings
from lakehouse.database import DatabaseUrlError
from lakehouse.sources.loader import BatchRejected, DateWindow, LoadError, load_batch
from lakehouse.sources.schema import source_engine
from lakehouse.sources.split import SplitError, split_transactions

app = typer.Typer(
    help="The source system: load transaction batches into the source DB, split big CSVs.",
    no_args_is_help=True,
)
console = Console()
errors_console = Console(stderr=True)
SHOWN_ERRORS = 20


def _parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2019-10-31") from None


def _fail(message: str) -> typer.Exit:
    errors_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(1)


def _show_rejection(path: Path, exc: BatchRejected) -> None:
    table = Table(title=f"{path.name}: first invalid rows (nothing written)")
    for column in ("row", "column", "reason"):
        table.add_column(column)
    for error in exc.errors[:SHOWN_ERRORS]:
        table.add_row(str(error.row), error.column, error.reason)
    errors_console.print(table)
    more = "+" if exc.truncated else ""
    errors_console.print(
        f"[bold red]{path}: {len(exc.errors)}{more} problem(s); batch rejected, nothing "
        "written.[/] Fix the rows (rows are numbered from the first data row) and run the "
        "command again; batches already loaded are skipped on a resend."
    )


@app.command("load")
def load(
    files: Annotated[
        list[Path],
        typer.Argument(help="Transactions CSV files, one batch each, loaded in the order given."),
    ],
    situation_date: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="Situation date (YYYY-MM-DD) for every batch. Default: max(latest "
            "present + 1 day, latest transaction date in the batch).",
        ),
    ] = None,
    db_url: Annotated[
        str | None,
        typer.Option(
            help="Source DB URL (default: LAKEHOUSE_SOURCE_DB_URL or the embedded SQLite)."
        ),
    ] = None,
) -> None:
    """Load transaction CSV files into the source DB, each as one atomic batch."""
    day = _parse_day(situation_date)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise _fail(f"no such file: {', '.join(missing)}")
    settings = get_settings()
    try:
        engine = source_engine(db_url or settings.source_db_url or "")
    except DatabaseUrlError as exc:
        raise _fail(str(exc)) from None
    summary = Table(title=f"Loaded into {engine.url.render_as_string(hide_password=True)}")
    for column in ("file", "situation_date", "received", "inserted", "skipped"):
        summary.add_column(column, justify="right" if column != "file" else "left")
    try:
        _load_files(engine, files, day, DateWindow.from_settings(settings), summary)
    except typer.Exit:
        if summary.row_count:
            console.print(summary)
        raise
    finally:
        engine.dispose()
    console.print(summary)


def _load_files(
    engine: Engine, files: list[Path], day: date | None, window: DateWindow, summary: Table
) -> None:
    """Load each file as one batch, adding a summary row; any failure exits with a message."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=errors_console,
    ) as progress:
        for path in files:
            task = progress.add_task(f"load {path.name}", total=None)
            try:
                result = load_batch(
                    engine,
                    path,
                    day,
                    window=window,
                    on_progress=lambda n, t=task: progress.update(t, completed=n),
                )
            except BatchRejected as exc:
                progress.stop()
                _show_rejection(path, exc)
                raise typer.Exit(1) from None
            except LoadError as exc:
                raise _fail(f"{path}: {exc}") from None
            except SQLAlchemyError as exc:
                reason = _first_line(getattr(exc, "orig", None) or exc)
                raise _fail(
                    f"{path}: the source DB failed ({reason}); check LAKEHOUSE_SOURCE_DB_URL "
                    "and that the database is up, then run the command again"
                ) from None
            except Exception as exc:  # never a traceback: say what failed and what to do
                raise _fail(
                    f"{path}: {type(exc).__name__}: {_first_line(exc)}; nothing of this file "
                    "was written, fix the cause and run the command again"
                ) from None
            progress.update(task, completed=result.received, total=result.received)
            summary.add_row(
                path.name,
                str(result.situation_date),
                f"{result.received:,}",
                f"{result.inserted:,}",
                f"{result.skipped:,}",
            )


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


@app.command("split")
def split(
    file: Annotated[Path, typer.Argument(help="A transactions_data.csv file, sorted by date.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the batch files.")],
    by: Annotated[
        str | None,
        typer.Option(
            help="month, day, or parts N (N files of equal row counts).", show_default="month"
        ),
    ] = None,
    count: Annotated[
        int | None,
        typer.Argument(
            metavar="[N]", help="With --by parts: the number of files.", show_default=False
        ),
    ] = None,
    parts: Annotated[int | None, typer.Option(help="Same as `--by parts N`.")] = None,
) -> None:
    """Cut a transactions CSV by time into files that replay history batch by batch."""
    parts = parts if parts is not None else count
    by = by or ("parts" if parts is not None else "month")
    if by not in {"month", "day", "parts"}:
        raise _fail(f"--by must be month, day or parts, not {by!r}")
    if by == "parts" and parts is None:
        raise _fail("--by parts needs the number of files: --by parts 12 (or --parts 12)")
    if by != "parts" and parts is not None:
        raise _fail(f"a number of files only goes with --by parts, not --by {by}")
    if not file.is_file():
        raise _fail(f"{file} does not exist or is not a file")
    try:
        with Progress(
            TextColumn("split {task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=errors_console,
        ) as progress:
            task = progress.add_task(file.name, total=file.stat().st_size)
            report = split_transactions(
                file,
                by,
                parts,
                out,  # type: ignore[arg-type]
                on_progress=lambda n: progress.update(task, completed=n),
            )
    except SplitError as exc:
        raise _fail(str(exc)) from None
    table = Table(title=f"{file.name} → {out} ({len(report.rows)} files)")
    table.add_column("file")
    table.add_column("rows", justify="right")
    paths = report.paths
    shown = paths if len(paths) <= 40 else [*paths[:20], *paths[-20:]]
    for index, path in enumerate(shown):
        if len(paths) > 40 and index == 20:
            table.add_row("...", "")
        table.add_row(path.name, f"{report.rows[path]:,}")
    table.add_row("[bold]total", f"[bold]{report.total_rows:,}")
    console.print(table)
    if report.out_of_order:
        console.print(
            f"[yellow]note:[/] the file was not sorted by date; {report.out_of_order} "
            "time(s) a period came back and its file was appended to."
        )
    console.print(f"Load them in order with: lakehouse sources load {out}/*.csv")
