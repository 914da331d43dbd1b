"""`lakehouse pipeline run | serve`: run the medallion pipeline once, or on a schedule.

`run` drives the orchestrator with a rich progress display and ends with a summary table
(stage, status, rows in, rows out, seconds); a failed stage names itself, says what to do,
and exits non-zero. `serve --interval N` reruns the pipeline every N seconds and serves the
pipeline's Prometheus metrics on `Settings.pipeline_metrics_port` (8000); on SIGTERM or
SIGINT it lets the running stage finish, starts no other, flushes its logs and exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from lakehouse.config import get_settings
from lakehouse.engines import ENGINE_NAMES
from lakehouse.observability.elasticsearch import install_elasticsearch_handler
from lakehouse.observability.logs import configure_logging
from lakehouse.observability.metrics import PipelineMetrics
from lakehouse.orchestrator import STAGES, run_pipeline

app = typer.Typer(help="Run the medallion pipeline (bronze → silver → gold → publish → train).",
                  no_args_is_help=True)
console = Console(stderr=True)
logger = logging.getLogger("lakehouse.pipeline")

StageOption = Annotated[str | None, typer.Option(
    "--stage", help="Run only this stage: bronze, silver, gold, publish or train.")]
SkipOption = Annotated[list[str] | None, typer.Option(
    "--skip", help="Leave this stage out (repeatable), e.g. --skip train.")]
EngineOption = Annotated[str | None, typer.Option(
    "--engine", help="Engine for silver and gold: duckdb or spark (default: LAKEHOUSE_ENGINE).")]

NEXT_STEP = {
    "bronze": "check that sources_api is running (`lakehouse serve sources-api`) and that the "
              "source DB holds batches (`lakehouse sources load`)",
    "silver": "fix the reported check or SQL error, then rerun `lakehouse pipeline run`",
    "gold": "fix the reported check or SQL error, then rerun `lakehouse pipeline run`",
    "publish": "check LAKEHOUSE_ANALYTICS_DB_URL and that the database accepts connections",
    "train": "see the training error above; the published datamarts are unaffected",
    "maintain": "see the error above; the tables are intact, and the next run maintains them",
}
STATUS_STYLE = {"success": "green", "up_to_date": "cyan", "failed": "bold red", "skipped": "yellow"}


def _setup_logging() -> object:
    settings = get_settings()
    configure_logging(settings.log_level)
    return install_elasticsearch_handler(settings.elasticsearch_url)


def run_once(stage: str | None, engine: str | None, metrics: PipelineMetrics | None,
             skip: tuple[str, ...] = (), stop: threading.Event | None = None) -> bool:
    """Run the pipeline with a progress display and print the summary.

    Args:
        stage: run just this stage (None: every stage).
        engine: the engine override of the run, if any.
        metrics: where each stage's outcome is recorded for Prometheus.
        skip: stages left out of this run.
        stop: set to stop after the running stage (SIGTERM).

    Returns:
        True when no stage failed.
    """
    if stage is not None and stage in STAGES and STAGES[stage].upstream:
        console.print(f"Running stage [bold]{stage}[/] alone; it reads {STAGES[stage].reads} "
                      f"as left by the last `{STAGES[stage].upstream[0]}` run.")
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        tasks: dict[str, int] = {}

        def on_stage(name: str, result: object) -> None:
            if result is None:
                tasks[name] = progress.add_task(f"{name}: running", total=None)
            elif name in tasks:
                status = getattr(result, "status", "")
                progress.update(tasks[name], description=f"{name}: {status}", total=1, completed=1)

        results = run_pipeline(get_settings(), only=stage, skip=skip, engine_name=engine,
                               metrics=metrics, on_stage=on_stage, stop=stop)
    table = Table(title="Pipeline summary")
    for column in ("stage", "status", "rows in", "rows out", "seconds", "tables written"):
        table.add_column(column, justify="right" if column.startswith(("rows", "sec")) else "left")
    for r in results:
        style = STATUS_STYLE.get(r.status, "")
        table.add_row(r.stage, f"[{style}]{r.status}[/]", f"{r.rows_in:,}", f"{r.rows_out:,}",
                      f"{r.seconds:.1f}", _tables_cell(r))
    console.print(table)
    failed = [r for r in results if r.status == "failed"]
    for r in failed:
        console.print(f"[bold red]Stage {r.stage} failed:[/] {r.message}\n"
                      f"Previous tables are intact. Next: {NEXT_STEP.get(r.stage, 'see the log')}.")
    return not failed


def _tables_cell(result: object) -> str:
    tables = getattr(result, "tables", {})
    if tables:
        return f"{len(tables)}: " + ", ".join(sorted(tables))[:48]
    return str(getattr(result, "message", ""))[:60]


@app.command("run")
def run(stage: StageOption = None, engine: EngineOption = None, skip: SkipOption = None) -> None:
    """Run the pipeline once (all stages in dependency order, or one with --stage)."""
    if stage is not None and stage not in STAGES:
        console.print(f"[red]Unknown stage {stage!r}.[/] Choose one of: {', '.join(STAGES)}.")
        raise typer.Exit(2)
    unknown = [name for name in skip or [] if name not in STAGES]
    if unknown:
        console.print(f"[red]Unknown stage {unknown[0]!r} in --skip.[/] "
                      f"Choose from: {', '.join(STAGES)}.")
        raise typer.Exit(2)
    if engine is not None and engine not in ENGINE_NAMES:
        console.print(f"[red]Unknown engine {engine!r}.[/] Choose {' or '.join(ENGINE_NAMES)}.")
        raise typer.Exit(2)
    shipper = _setup_logging()
    ok = run_once(stage, engine, PipelineMetrics(), tuple(skip or ()))
    if shipper is not None:
        shipper.flush(timeout=2.0)  # type: ignore[attr-defined]
    raise typer.Exit(0 if ok else 1)


@app.command("serve")
def serve(
    interval: Annotated[float, typer.Option(min=1, help="Seconds between runs.")] = 3600,
    engine: EngineOption = None,
    port: Annotated[int | None, typer.Option(
        help="Metrics port (default: LAKEHOUSE_PIPELINE_METRICS_PORT, 8000).")] = None,
) -> None:
    """Run the pipeline every --interval seconds; serve its metrics for Prometheus."""
    settings = get_settings()
    shipper = _setup_logging()
    metrics = PipelineMetrics()
    metrics_port = port or settings.pipeline_metrics_port
    try:
        metrics.serve(metrics_port)
    except OSError as exc:
        console.print(f"[red]Cannot serve metrics on port {metrics_port}: {exc}.[/] "
                      "Pick another with --port or LAKEHOUSE_PIPELINE_METRICS_PORT.")
        raise typer.Exit(1) from exc
    stop = _stop_on_signals()
    console.print(f"Metrics on http://0.0.0.0:{metrics_port}/metrics; a run every {interval:g} s "
                  "(Ctrl-C or SIGTERM to stop).")
    while not stop.is_set():
        started = time.monotonic()
        run_once(None, engine, metrics, stop=stop)
        stop.wait(max(0.0, interval - (time.monotonic() - started)))
    logger.info("pipeline serve stopped on a signal; no stage was cut short")
    if shipper is not None:
        shipper.flush(timeout=2.0)  # type: ignore[attr-defined]
    logging.shutdown()
    console.print("Stopped.")


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT.

    As PID 1 in its container the process gets no default SIGTERM handling, so `docker stop`
    would kill it after the grace period with its logs unflushed. The handler only sets the
    event (logging from a signal handler could deadlock on a lock the interrupted code holds).
    """
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop
