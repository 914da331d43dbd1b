"""`lakehouse demo` (`make run`): the whole platform on a laptop, in one command.

A readable sequence of steps, each shown with progress:
1. generate a dataset into the raw folder (unless the five files are already there);
2. load it into the source DB as monthly batches, in order (the way history is replayed);
3. start sources_api in the background (the feeder fetches reference files from it);
4. run the pipeline — bronze, silver, gold, publish, train — with its summary;
5. print the tables it produced (rows, location) and a few rows of each datamart;
6. start every service and the UI; once every one answers its health check (the scoring API
   with its models loaded) print one line with their URLs; stop them all on Ctrl-C.
7. score the newest transactions through the scoring API, so the analysts' review queue fills,
   and print a one-time password for a lead account to review it with (before the ready line).
Everything lands under `LAKEHOUSE_DATA_DIR` (default `./data`).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lakehouse import catalog, formats, storage
from lakehouse.cases import auth
from lakehouse.cases.replay import replay_recent
from lakehouse.cases.schema import ensure_schema as ensure_case_schema
from lakehouse.config import Settings, get_settings
from lakehouse.datagen import generate
from lakehouse.observability.logs import configure_logging
from lakehouse.pipeline.publish import analytics_engine
from lakehouse.pipeline_cli import run_once
from lakehouse.serve import announce_when_ready, service_urls, start_all, wait_and_stop
from lakehouse.sources.loader import load_batch
from lakehouse.sources.schema import ensure_schema, source_engine, table_stats
from lakehouse.sources.split import split_transactions

console = Console(stderr=True)
REPLAYED_TRANSACTIONS = 1000
DEMO_LEAD = "demo-lead"


def _step(number: int, text: str) -> None:
    console.rule(f"[bold]Step {number}[/] · {text}", align="left")


def generate_if_absent(settings: Settings, clients: int, transactions: int, seed: int,
                       start: str, end: str) -> None:
    """Generate the five raw files unless they are all present already.

    Args:
        settings: where the raw folder is.
        clients: clients to generate.
        transactions: transactions to generate.
        seed: the generator's seed.
        start: first day of the history (YYYY-MM-DD).
        end: last day of the history.
    """
    raw = settings.raw_path
    if all((raw / name).is_file() for name in formats.ALL_FILES):
        console.print(f"Raw files already in {raw}; keeping them (delete them to regenerate).")
        return
    with Progress(TextColumn("generate"), BarColumn(), TextColumn("{task.completed:,} rows"),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("generate", total=transactions)
        summary = generate(raw, clients=clients, transactions=transactions, seed=seed,
                           start=start, end=end,
                           progress=lambda done, _total: progress.update(task, completed=done))
    console.print(f"{summary.rows:,} transactions of {summary.clients:,} clients in {raw}.")


def load_monthly_batches(settings: Settings) -> None:
    """Split the transactions by month and load each file as one batch, oldest first.

    Args:
        settings: the raw folder and the source DB.
    """
    engine = source_engine(settings.source_db_url or "")
    try:
        ensure_schema(engine)
        stats = table_stats(engine)
        if stats["rows"]:
            console.print(f"The source DB already holds {stats['rows']:,} rows "
                          f"(up to {stats['max_situation_date']}); not loading again.")
            return
        with tempfile.TemporaryDirectory(prefix="lakehouse-batches-") as folder:
            paths = split_transactions(settings.raw_path / formats.TRANSACTIONS_FILE, "month",
                                       None, Path(folder)).paths
            with Progress(TextColumn("load {task.description}"), BarColumn(),
                          TextColumn("{task.completed}/{task.total} batches"),
                          TimeElapsedColumn(), console=console) as progress:
                task = progress.add_task("monthly batches", total=len(paths))
                for path in paths:
                    load_batch(engine, path)
                    progress.advance(task)
        console.print(f"Loaded {len(paths)} monthly batches into the source DB.")
    finally:
        engine.dispose()


def _wait_healthy(url: str, timeout: float = 60.0) -> None:
    """Until `url`/health answers below 500 (the scoring API says 503 while models load)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url}/health did not answer within {timeout:.0f} s; see the log above")


def show_tables(settings: Settings, sample_rows: int = 5) -> None:
    """Every lake table with its layer, grain and row count, then a few rows of each datamart.

    Args:
        settings: where the lake is.
        sample_rows: rows shown per datamart.
    """
    overview = Table(title="Tables produced")
    for column in ("table", "layer", "grain", "rows", "version", "location"):
        overview.add_column(column, justify="right" if column in ("rows", "version") else "left")
    for name, entry in catalog.CATALOG.items():
        uri = catalog.location(name, settings)
        version = storage.version(uri, settings)
        rows = storage.read_dataset(uri, settings).count_rows() if version is not None else 0
        overview.add_row(name, entry.layer, entry.grain, f"{rows:,}",
                         "-" if version is None else str(version), uri)
    console.print(overview)
    for name in catalog.DATAMARTS:
        uri = catalog.location(name, settings)
        if not storage.exists(uri, settings):
            continue
        head = storage.read_table(uri, settings).slice(0, sample_rows).to_pylist()
        sample = Table(title=f"{name} (first {sample_rows} rows)")
        for column in head[0] if head else []:
            sample.add_column(column, overflow="fold")
        for row in head:
            sample.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()))
        console.print(sample)


def demo(
    clients: Annotated[int, typer.Option(min=1, help="Clients to generate.")] = 200,
    transactions: Annotated[int, typer.Option(min=1, help="Transactions to generate.")] = 300_000,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 42,
    start: Annotated[str, typer.Option(help="First day of generated history.")] = "2017-01-01",
    end: Annotated[str, typer.Option(help="Last day of generated history.")] = "2019-10-31",
    host: Annotated[str, typer.Option(help="Interface the services listen on.")] = "127.0.0.1",
    sources_port: Annotated[int, typer.Option(help="Port of sources_api.")] = 9998,
    train: Annotated[bool, typer.Option(help="Train and register the model.")] = True,
    serve: Annotated[bool, typer.Option(help="Start every service at the end.")] = True,
) -> None:
    """Generate data, load it in monthly batches, run the pipeline, show the tables, serve."""
    settings = get_settings()
    configure_logging("WARNING")  # the steps speak for themselves; warnings still show
    _step(1, f"generate data into {settings.raw_path}")
    generate_if_absent(settings, clients, transactions, seed, start, end)
    _step(2, "load the history into the source DB, one batch per month")
    load_monthly_batches(settings)

    _step(3, f"start sources_api on http://{host}:{sources_port}")
    sources_url = f"http://{host}:{sources_port}"
    os.environ["LAKEHOUSE_SOURCES_API_URL"] = sources_url  # the feeder and child processes
    get_settings.cache_clear()
    processes = start_all(host, ["sources-api"], with_ui=False, ports={"sources-api": sources_port})
    try:
        _wait_healthy(sources_url)
        _step(4, "run the pipeline")
        if not run_once(None, None, None, skip=() if train else ("train",)):
            raise typer.Exit(1)
        _step(5, "tables")
        show_tables(get_settings())
    except BaseException:
        wait_and_stop_quietly(processes)
        raise
    if not serve:
        wait_and_stop_quietly(processes)
        return
    _step(6, "serve the platform (Ctrl-C stops everything)")
    processes += start_all(host, ["api", "api-ml"], with_ui=True)
    console.print("Each service also serves /health and Prometheus /metrics.")
    urls = service_urls(host, ports={"sources-api": sources_port})
    if train:
        _step(7, "score the newest transactions: the analysts' queue fills")
        fill_case_queue(get_settings())
    announce_when_ready(urls, processes)
    raise typer.Exit(wait_and_stop(processes))


def fill_case_queue(settings: Settings, count: int = REPLAYED_TRANSACTIONS) -> None:
    """Replay recent traffic through /predict, and create a lead account to review it with.

    Args:
        settings: the scoring API's URL, the lake and the analytics DB.
        count: how many recent transactions to replay.
    """
    _wait_healthy(settings.api_ml_url, timeout=300)
    with Progress(TextColumn("score"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("score", total=count)
        decisions = replay_recent(settings, settings.api_ml_url, count,
                                  lambda done: progress.update(task, completed=done))
    console.print("Decisions: " + ", ".join(f"{n:,} {d}" for d, n in decisions.most_common()))
    # A fresh random password per demo, shown once: the repository holds none.
    password = secrets.token_urlsafe(12)
    engine = analytics_engine(settings.analytics_db_url or "")
    try:
        ensure_case_schema(engine)
        auth.add_user(engine, DEMO_LEAD, "lead", password)
    finally:
        engine.dispose()
    console.print(f"Review queue: open the UI's [bold]Review queue[/] page and log in as "
                  f"[bold]{DEMO_LEAD}[/] with password [bold]{password}[/] "
                  "(`lakehouse cases add-user` creates more analysts).")


def wait_and_stop_quietly(processes: list[subprocess.Popen[bytes]]) -> None:
    """Stop background services started by the demo (SIGTERM, then kill after 10 s).

    Args:
        processes: the children the demo started.
    """
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except Exception:
            process.kill()
