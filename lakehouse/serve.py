"""`lakehouse serve ...`: start one HTTP service, the UI, or all of them.

Every service module exposes `create_app() -> FastAPI`; this module runs it under uvicorn
on the port of docs/design.md. `serve all` starts each one as a child process, prints every URL,
and stops them all together on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

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
UI_SCRIPT = Path(__file__).resolve().parent.parent / "api_ml" / "ui" / "streamlit_app.py"


def run_service(name: str, host: str, port: int) -> None:
    """Run one FastAPI service in this process until interrupted."""
    import importlib

    import uvicorn

    from lakehouse.config import get_settings
    from lakehouse.observability.logs import configure_logging

    configure_logging(get_settings().log_level)
    module = importlib.import_module(SERVICES[name][0])
    # log_config=None: uvicorn's own dictConfig would close every handler installed before it
    # (the JSON handler, an Elasticsearch shipper); its warnings still reach stderr.
    uvicorn.run(module.create_app(), host=host, port=port, log_level="warning", log_config=None)


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
    console.print(f"[bold]ui[/] on http://{host}:{port}")
    raise typer.Exit(subprocess.call(ui_command(host, port)))


def start_all(
    host: str,
    names: list[str] | None = None,
    with_ui: bool = True,
    ports: dict[str, int] | None = None,
) -> list[subprocess.Popen[bytes]]:
    """Start the services (and the UI) as child processes; returns them.

    `ports` overrides the default port of some services (the demo's tests use free ports).
    """
    processes = []
    for name in names or list(SERVICES):
        port = (ports or {}).get(name, SERVICES[name][1])
        command = [
            sys.executable,
            "-m",
            "lakehouse.cli",
            "serve",
            name,
            "--host",
            host,
            "--port",
            str(port),
        ]
        processes.append(subprocess.Popen(command, env=os.environ.copy()))
        console.print(f"  {name:<12} http://{host}:{port}/docs")
    if with_ui:
        processes.append(subprocess.Popen(ui_command(host, UI_PORT), env=os.environ.copy()))
        console.print(f"  {'ui':<12} http://{host}:{UI_PORT}")
    return processes


def wait_and_stop(processes: list[subprocess.Popen[bytes]]) -> int:
    """Block until one child exits or Ctrl-C, then stop them all; returns an exit code."""
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
    """Start every service and the UI, print their URLs, stop them all on Ctrl-C."""
    console.print("[bold]Starting the platform[/]")
    raise typer.Exit(wait_and_stop(start_all(host)))
