"""Helpers for tests that need real servers: free ports, uvicorn on loopback, polling.

Import them as `from testkit import free_port, serve_app, wait_http` (a unique module name:
`from conftest import ...` is ambiguous because sub-folders have their own conftest.py).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator

import httpx

PG_ADMIN_URL = os.environ.get(
    "LAKEHOUSE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
def pg_admin_engine():  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def pg_unavailable_reason() -> str | None:
    try:
        import sqlalchemy as sa

        engine = pg_admin_engine()
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure means "no usable server"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}: {exc}"
    return None


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
