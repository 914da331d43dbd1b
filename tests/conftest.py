"""Fixtures shared by the whole suite.

- `isolated_settings`: points every location at a fresh temporary data folder.
- `small_raw_dir`: a small generated dataset (the five files), made once per session.
- `pg_url`: a fresh PostgreSQL database on the machine's server, dropped afterwards. Without a
  reachable server the test is skipped with the reason printed — unless
  `LAKEHOUSE_REQUIRE_POSTGRES=1` (set by `.ci/run`), where it fails instead.
- `live_server`: runs a FastAPI app under uvicorn on a free loopback port (real HTTP).
- `s3`: one S3-compatible server process (moto) for the session; `s3_lake`: isolated settings
  whose lake lives in a fresh bucket of it.

`make test` runs the suite on several pytest-xdist workers (`--dist loadgroup`): each test file
is one group, so a file's tests run in order in one process, and a folder whose tests share a
costly session fixture (`SHARED_FOLDERS`) is one group, so the fixture is built once. Tests
never share a database, a Redis key prefix, a port or a folder, so workers cannot collide, and
a session fixture gives its process's environment back once built, so no test depends on
which tests ran before it in its worker.

At the end of a run, each group of skipped tests gets one line: what it needs and the command
that enables it (tests skip through `testkit.skip_missing`, which words the reason so).
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serverkit import S3Server, s3_server
from testkit import (
    PG_ADMIN_URL,
    free_port,
    pg_admin_engine,
    pg_unavailable_reason,
    serve_app,
    wait_http,
)

from lakehouse.config import Settings, get_settings

# Hyperparameter search has its own tests (tests/ml/test_tuning.py); every other training in
# the suite uses the documented defaults, so it stays fast. Subprocesses inherit it.
NO_TUNING = {"LAKEHOUSE_TUNING_TRIALS": "0"}
os.environ.update(NO_TUNING)

SMALL_CLIENTS = 60
SMALL_TRANSACTIONS = 40_000
SMALL_SEED = 7
SMALL_START = "2018-01-01"
SMALL_END = "2018-12-31"

# Folders whose files share a session fixture too costly to build in two workers (the UI's
# platform: pipeline, training and three services, ~45 s).
SHARED_FOLDERS = ("ui",)


@pytest.fixture
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clean LAKEHOUSE_DATA_DIR with every derived location under it."""
    for name in list(os.environ):
        if name.startswith("LAKEHOUSE_") or name in {"MLFLOW_TRACKING_URI", "ELASTICSEARCH_URL"}:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path / "data"))
    for name, value in NO_TUNING.items():
        monkeypatch.setenv(name, value)
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


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a brand-new PostgreSQL database, dropped after the test."""
    import sqlalchemy as sa

    reason = pg_unavailable_reason()
    if reason:
        if os.environ.get("LAKEHOUSE_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + " (LAKEHOUSE_REQUIRE_POSTGRES=1 forbids skipping)")
        pytest.skip(reason)
    name = f"lakehouse_test_{uuid.uuid4().hex[:12]}"
    engine = pg_admin_engine()
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture
def live_server():  # type: ignore[no-untyped-def]
    """`with live_server(app) as url:` — a real HTTP server on loopback."""
    return serve_app


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server as a separate process for the whole session (tests use own buckets)."""
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def s3_lake(s3: S3Server, isolated_settings: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Isolated settings whose lake is in a fresh bucket of the `s3` server."""
    for name, value in s3.lake_env(s3.new_bucket()).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return get_settings()


__all__ = [
    "PG_ADMIN_URL",
    "free_port",
    "pg_admin_engine",
    "pg_unavailable_reason",
    "serve_app",
    "wait_http",
]


# First: xdist's worker reads the `xdist_group` marks in this same hook, and a mark added after
# it ran groups nothing (every test of a file went to any worker, each building its fixtures).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One xdist group per test file, or per folder of `SHARED_FOLDERS` (see the docstring)."""
    tests = Path(__file__).parent
    for item in items:
        if not item.path.is_relative_to(tests):  # named from elsewhere: xdist spreads it per test
            continue
        path = item.path.relative_to(tests)
        group = path.parts[0] if path.parts[0] in SHARED_FOLDERS else path.as_posix()
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """Stop a `--dist loadgroup` run whose groups did not take, before any test runs.

    xdist groups a test by renaming it `<id>@<group>` on the worker; a pytest that keeps ids
    where xdist cannot rename them (9.2 with xdist 3.8) spreads a file's tests over every
    worker, each building the file's fixtures (the Spark sessions, the UI's platform) again,
    silently.
    """
    if node.config.getoption("dist", "no") != "loadgroup":
        return
    ours = [nodeid for nodeid in ids if nodeid.startswith("tests/")]  # what the hook marks
    if ours and not any("@" in nodeid for nodeid in ours):
        pytest.exit(
            "pytest-xdist's --dist loadgroup grouped no test: the marks must come before xdist "
            "reads them (`pytest_collection_modifyitems` above) and pytest must let xdist rename "
            "a test (pyproject.toml pins such a pytest: run `make install`)", returncode=3)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per distinct skip reason: how many tests did not run, and how to run them."""
    reasons: Counter[str] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    if reasons:
        terminalreporter.section("tests not run on this machine")
    for reason, count in sorted(reasons.items()):
        terminalreporter.write_line(f"{count:>3} test(s) {reason}")
