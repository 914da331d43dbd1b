"""`lakehouse serve ...`: start one HTTP service, the UI, or all of them.

Every service module exposes `create_app() -> FastAPI`; this module runs it under uvicorn
on the port of docs/design.md. `serve all` starts each one as a child process, waits until every
one answers its health check (the scoring API only once its models are loaded), ends with one
line saying the platform is ready with every URL, and stops them all together on Ctrl-C.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer
import uvicorn
from rich.console import Console

from lakehouse.config import get_settings
from lakehouse.observability.logs import configure_logging

if TYPE_CHECKING:  # the CLI starts without importing FastAPI
    from fastapi import FastAPI

app = typer.Typer(help="Start the HTTP services and the UI.", no_args_is_help=True)
console = Console(stderr=True)

HostOption = Annotated[str, typer.Option(help="Interface to listen on.")]

# name -> (module with create_app, default port)
SERVICES: dict[str, tuple[str, int]] = {
    "sources-api": ("sources_api.api", 9998),
    "api": ("api.fastapi_app", 9999),
    "api-ml": ("api_ml.api.main", 9997),
}
UI_PORT = 8501
UI_NAME = "ui"
# What each one answers once it can serve: /health is 200 only when the service's own
# dependencies are in place (api_ml: models loaded; api: datamarts published).
HEALTH_PATHS = {**{name: "/health" for name in SERVICES}, UI_NAME: "/_stcore/health"}
READY_TIMEOUT_SECONDS = 300.0
WORKER_HEALTHCHECK_SECONDS = 120
UI_SCRIPT = Path(__file__).resolve().parent.parent / "api_ml" / "ui" / "streamlit_app.py"


def run_service(name: str, host: str, port: int) -> None:
    """Run one FastAPI service in this process until interrupted.

    uvicorn uses uvloop and httptools (dependencies of the project) for its event loop and
    HTTP parsing. The scoring API runs `LAKEHOUSE_API_ML_WORKERS` processes on one port.

    Args:
        name: a key of `SERVICES`.
        host: interface to listen on.
        port: port to listen on.

    Raises:
        typer.BadParameter: several api-ml workers on the in-process online store.
    """
    settings = get_settings()
    configure_logging(settings.log_level)
    # uvicorn stops gracefully on SIGTERM (in-flight requests finish, the lifespan closes the
    # audit shipper), then raises the signal again: this handler turns that into exit 0, as
    # `docker stop` expects, instead of death by signal (which PID 1 would even ignore).
    signal.signal(signal.SIGTERM, _exit_cleanly)
    # log_config=None: uvicorn's own dictConfig would close every handler installed before it
    # (the JSON handler, an Elasticsearch shipper); its warnings still reach stderr.
    options: dict[str, Any] = {
        "host": host, "port": port, "log_level": "warning", "log_config": None
    }
    workers = settings.api_ml_workers if name == "api-ml" else 1
    if workers > 1:
        if settings.online_store != "redis":
            raise typer.BadParameter(
                f"LAKEHOUSE_API_ML_WORKERS={workers} needs LAKEHOUSE_ONLINE_STORE=redis: each "
                "worker process would keep its own in-process online state and see only its "
                "share of a card's transactions"
            )
        # Each worker process imports the factory by name and builds its own app. Loading the
        # models and attaching to the state takes seconds on a busy host, during which
        # uvicorn's default 5 s health check would kill and restart the worker forever.
        uvicorn.run(
            f"{__name__}:api_ml_worker_app",
            factory=True,
            workers=workers,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            **options,
        )
        return
    uvicorn.run(importlib.import_module(SERVICES[name][0]).create_app(), **options)


def api_ml_worker_app() -> FastAPI:
    """The scoring API in one of several worker processes (uvicorn calls this factory there).

    Returns:
        The app of `api_ml.api.main.create_app`, with the platform's logging set up.
    """
    configure_logging(get_settings().log_level)
    return importlib.import_module(SERVICES["api-ml"][0]).create_app()


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _service_command(name: str) -> None:
    default_port = SERVICES[name][1]

    def command(
        host: HostOption = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = default_port,
    ) -> None:
        console.print(f"[bold]{name}[/] on http://{host}:{port}  (docs: /docs, metrics: /metrics)")
        run_service(name, host, port)

    command.__doc__ = f"Start {name} (default port {default_port})."
    app.command(name)(command)


for _name in SERVICES:
    _service_command(_name)


def ui_command(host: str, port: int) -> list[str]:
    """The command line that starts the Streamlit UI with this interpreter.

    Args:
        host: interface to listen on.
        port: port to listen on.

    Returns:
        The argv list (headless, no usage statistics).
    """
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(UI_SCRIPT),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]


@app.command("ui")
def ui(
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = UI_PORT,
) -> None:
    """Start the Streamlit UI (default port 8501)."""
    get_settings()  # a configuration error stops here, as a message, not inside Streamlit
    console.print(f"[bold]ui[/] on http://{host}:{port}")
    raise typer.Exit(subprocess.call(ui_command(host, port)))


def service_urls(
    host: str,
    names: list[str] | None = None,
    with_ui: bool = True,
    ports: dict[str, int] | None = None,
) -> dict[str, str]:
    """The base URL of each service (and of the UI) `start_all` starts.

    Args:
        host: interface the services listen on.
        names: keys of `SERVICES` (default: all of them).
        with_ui: include the Streamlit UI.
        ports: overrides of the default ports (the demo's tests use free ports).

    Returns:
        `{name: "http://host:port"}` in start order, the UI last.
    """
    chosen = {name: (ports or {}).get(name, SERVICES[name][1]) for name in names or SERVICES}
    if with_ui:
        chosen[UI_NAME] = (ports or {}).get(UI_NAME, UI_PORT)
    return {name: f"http://{host}:{port}" for name, port in chosen.items()}


def start_all(
    host: str,
    names: list[str] | None = None,
    with_ui: bool = True,
    ports: dict[str, int] | None = None,
) -> list[subprocess.Popen[bytes]]:
    """Start the services (and the UI) as child processes.

    Args:
        host: interface the services listen on.
        names: keys of `SERVICES` (default: all of them).
        with_ui: start the Streamlit UI too.
        ports: overrides of the default ports (the demo's tests use free ports).

    Returns:
        The child processes, in start order.
    """
    processes = []
    for name, url in service_urls(host, names, with_ui, ports).items():
        port = url.rsplit(":", 1)[1]
        if name == UI_NAME:
            # Streamlit prints its own "you can now view" banner; the ready line replaces it.
            command, stdout = ui_command(host, int(port)), subprocess.DEVNULL
        else:
            command = [sys.executable, "-m", "lakehouse.cli", "serve", name]
            command, stdout = [*command, "--host", host, "--port", port], None
        processes.append(subprocess.Popen(command, env=os.environ.copy(), stdout=stdout))
    console.print(
        f"Starting {', '.join(service_urls(host, names, with_ui, ports))}; waiting "
        "until each answers its health check…"
    )
    return processes


def not_ready(urls: dict[str, str]) -> dict[str, str]:
    """Ask each service its health check once.

    Args:
        urls: `{name: base URL}` as `service_urls` returns.

    Returns:
        `{name: why it is not ready}` — empty when every one answers 200.
    """
    reasons = {}
    for name, base in urls.items():
        try:
            response = httpx.get(base + HEALTH_PATHS[name], timeout=5)
        except httpx.HTTPError as exc:
            reasons[name] = f"not answering ({type(exc).__name__})"
            continue
        if response.status_code != 200:
            reasons[name] = f"{response.status_code} {response.text[:200]}"
    return reasons


def wait_until_ready(
    urls: dict[str, str],
    processes: list[subprocess.Popen[bytes]],
    timeout: float = READY_TIMEOUT_SECONDS,
) -> dict[str, str]:
    """Poll the health checks until all pass, a child exits, or `timeout` seconds pass.

    Args:
        urls: `{name: base URL}` as `service_urls` returns.
        processes: the children serving them; one exiting ends the wait.
        timeout: how long to wait at most.

    Returns:
        `{name: why it is not ready}` — empty when every service is ready.
    """
    deadline = time.monotonic() + timeout
    while True:
        reasons = not_ready(urls)
        if not reasons or time.monotonic() > deadline:
            return reasons
        if any(p.poll() is not None for p in processes):
            return reasons
        time.sleep(0.5)


def ready_line(urls: dict[str, str]) -> str:
    """The one line that says the platform is up, with where to find each part.

    Args:
        urls: `{name: base URL}` of every service.

    Returns:
        "Ready — ..." with each service's docs page (the UI's home page).
    """
    pages = {name: base if name == UI_NAME else f"{base}/docs" for name, base in urls.items()}
    where = " · ".join(f"{name} {page}" for name, page in pages.items())
    return f"Ready — every service answers its health check, models loaded: {where}"


def announce_when_ready(urls: dict[str, str], processes: list[subprocess.Popen[bytes]]) -> None:
    """Wait for every service, then print the ready line, or what is not ready and why.

    Args:
        urls: `{name: base URL}` of every service to wait for.
        processes: the children serving them.
    """
    reasons = wait_until_ready(urls, processes)
    for name, reason in reasons.items():
        console.print(f"[yellow]{name} is not ready[/] ({urls[name]}): {reason}", soft_wrap=True)
    if not reasons:
        console.print(f"[green]{ready_line(urls)}[/] (Ctrl-C stops everything)", soft_wrap=True)


def wait_and_stop(processes: list[subprocess.Popen[bytes]]) -> int:
    """Block until one child exits or Ctrl-C, then stop them all.

    Args:
        processes: the children serving the platform.

    Returns:
        The first failed child's exit code, or 0 (Ctrl-C or a clean exit).
    """
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        failed = [p for p in processes if p.returncode not in (None, 0)]
        return failed[0].returncode if failed else 0
    except KeyboardInterrupt:
        return 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@app.command("all")
def serve_all(host: HostOption = "127.0.0.1") -> None:
    """Start every service and the UI, say when all are ready, stop them all on Ctrl-C."""
    # SIGTERM (docker stop, systemd) stops the children like Ctrl-C does, then exits 0.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    processes = start_all(host)
    announce_when_ready(service_urls(host), processes)
    raise typer.Exit(wait_and_stop(processes))
