"""Fixtures shared by the whole suite.

- `isolated_settings`: points every location at a fresh temporary data folder.
- `small_raw_dir`: a small generated dataset (the five files), made once per session.
- `pg_url`: a fresh PostgreSQL database on the machine's server, dropped afterwards. Without a
  reachable server the test is skipped with the reason printed — unless
  `LAKEHOUSE_REQUIRE_POSTGRES=1` (set by `.ci/run`), where it fails instead.
- `live_server`: runs a FastAPI app under uvicorn on a free loopback port (real HTTP).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lakehouse.config import get_settings

PG_ADMIN_URL = os.environ.get(
    "LAKEHOUSE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SMALL_CLIENTS = 60
SMALL_TRANSACTIONS = 40_000
SMALL_SEED = 7
SMALL_START = "2018-01-01"
SMALL_END = "2018-12-31"


@pytest.fixture
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clean LAKEHOUSE_DATA_DIR with every derived location under it."""
    for name in list(os.environ):
        if name.startswith("LAKEHOUSE_") or name in {"MLFLOW_TRACKING_URI", "ELASTICSEARCH_URL"}:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def small_raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The five source files of DATA.md, generated small (shared, treat as read-only)."""
    from lakehouse.datagen import generate

    out = tmp_path_factory.mktemp("raw")
    generate(
        out,
        clients=SMALL_CLIENTS,
        transactions=SMALL_TRANSACTIONS,
        seed=SMALL_SEED,
        start=SMALL_START,
        end=SMALL_END,
    )
    return out


def _pg_admin_engine():  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def _pg_unavailable_reason() -> str | None:
    try:
        import sqlalchemy as sa

        engine = _pg_admin_engine()
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure means "no usable server"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}: {exc}"
    return None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a brand-new PostgreSQL database, dropped after the test."""
    import sqlalchemy as sa

    reason = _pg_unavailable_reason()
    if reason:
        if os.environ.get("LAKEHOUSE_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + " (LAKEHOUSE_REQUIRE_POSTGRES=1 forbids skipping)")
        pytest.skip(reason)
    name = f"lakehouse_test_{uuid.uuid4().hex[:12]}"
    engine = _pg_admin_engine()
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_app(app, host: str = "127.0.0.1") -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Run `app` under uvicorn in a thread; yields its base URL; stops it afterwards."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base_url = f"http://{host}:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"server on {base_url} did not start")
        time.sleep(0.02)
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server():  # type: ignore[no-untyped-def]
    """`with live_server(app) as url:` — a real HTTP server on loopback."""
    return serve_app


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
