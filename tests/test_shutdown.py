"""SIGTERM stops every long-running process cleanly: exit 0, nothing cut in half, logs flushed.

Real subprocesses: each HTTP service as `lakehouse serve <name>`, and `lakehouse pipeline
serve`, which runs as PID 1 in its container (no default SIGTERM handling there). The
pipeline gets its signal while its first stage is inside a request to sources_api. A
loopback stand-in for sources_api holds that request until the signal has been sent. The
stage must finish, no other stage may start, the logs must say so, and the process must exit 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from testkit import free_port, wait_http

from lakehouse.orchestrator import STOPPING

LAKEHOUSE = [sys.executable, "-m", "lakehouse.cli"]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    env.pop("ELASTICSEARCH_URL", None)
    return {
        **env,
        "LAKEHOUSE_DATA_DIR": str(data_dir),
        "MLFLOW_TRACKING_URI": f"sqlite:///{data_dir / 'mlflow.db'}",
        "LAKEHOUSE_MODEL_POLL_SECONDS": "0",
        **extra,
    }


@pytest.mark.parametrize("service", ["sources-api", "api", "api-ml"])
def test_each_service_exits_0_on_sigterm(service: str, tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*LAKEHOUSE, "serve", service, "--port", str(port)],
        env=_env(tmp_path / "data"), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=120)  # any answer: it serves
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr[-2000:]


class _HeldSourcesApi(ThreadingHTTPServer):
    """Answers 503 to every request, but holds the first one until `release` is set."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), _HeldHandler)


class _HeldHandler(BaseHTTPRequestHandler):
    server: _HeldSourcesApi

    def do_GET(self) -> None:
        self.server.arrived.set()
        self.server.release.wait(60)
        body = b'{"error": "held", "status": 503}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def held_sources_api() -> Iterator[_HeldSourcesApi]:
    server = _HeldSourcesApi()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def test_pipeline_serve_finishes_the_stage_and_exits_0_on_sigterm(
    tmp_path: Path, held_sources_api: _HeldSourcesApi
) -> None:
    url = f"http://127.0.0.1:{held_sources_api.server_address[1]}"
    env = _env(
        tmp_path / "data", LAKEHOUSE_SOURCES_API_URL=url, LAKEHOUSE_RETRY_ATTEMPTS="1",
        LAKEHOUSE_LOG_LEVEL="INFO",
    )  # fmt: skip
    command = [*LAKEHOUSE, "pipeline", "serve", "--interval", "3600", "--port", str(free_port())]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert held_sources_api.arrived.wait(120), "the bronze stage never asked sources_api"
        process.send_signal(signal.SIGTERM)  # while bronze waits for its answer
        held_sources_api.release.set()
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr[-3000:]
    assert "sources_api not reachable" in stderr  # bronze ran to its end (a failed fetch)
    assert STOPPING in stderr  # and no stage started after the signal
    assert "pipeline serve stopped on a signal" in stderr  # the last log line was flushed
