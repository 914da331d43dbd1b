"""Every SQL panel of the Grafana dashboards, run on datamarts the pipeline really published.

The path is the production one at small scale: the session's generated raw files are loaded
into the source DB through sources_api's loader, `run_pipeline` (bronze → silver → gold →
publish, training skipped) publishes the datamarts into a fresh PostgreSQL database — the
dialect Grafana's analytics datasource speaks — and each panel's query must run there and
return rows with the columns the panel draws.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from lakehouse.config import get_settings

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def sql_panels() -> list[tuple[str, dict]]:
    """(dashboard: title, panel) for every panel with a SQL target."""
    found = []
    for path in sorted((ROOT / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            if any("rawSql" in target for target in panel["targets"]):
                found.append((f"{path.stem}: {panel['title']}", panel))
    return found


@pytest.fixture(scope="module")
def analytics_url(small_raw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL analytics DB filled by the real pipeline from the generated files."""
    from testkit import PG_ADMIN_URL, serve_app
    from testkit import pg_unavailable_reason as _pg_unavailable_reason

    reason = _pg_unavailable_reason()
    if reason:
        if os.environ.get("LAKEHOUSE_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"lakehouse_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    saved = dict(os.environ)
    try:
        _publish(small_raw_dir, tmp_path_factory.mktemp("grafana_sql") / "data", url, serve_app)
        yield url
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _publish(raw_dir: Path, data_dir: Path, analytics_url: str, serve_app) -> None:  # type: ignore[no-untyped-def]
    from lakehouse.orchestrator import run_pipeline
    from lakehouse.sources.loader import load_batch
    from lakehouse.sources.schema import source_engine
    from sources_api.api import create_app

    for variable in [v for v in os.environ if v.startswith("LAKEHOUSE_")]:
        del os.environ[variable]
    os.environ.update(LAKEHOUSE_DATA_DIR=str(data_dir), LAKEHOUSE_RAW_DIR=str(raw_dir),
                      LAKEHOUSE_ANALYTICS_DB_URL=analytics_url)
    os.environ.pop("ELASTICSEARCH_URL", None)
    get_settings.cache_clear()
    with serve_app(create_app()) as sources_url:
        os.environ["LAKEHOUSE_SOURCES_API_URL"] = sources_url
        get_settings.cache_clear()
        settings = get_settings()
        frame = pd.read_csv(raw_dir / "transactions_data.csv", dtype=str, keep_default_na=False)
        engine = source_engine(settings.source_db_url or "")
        try:
            load_batch(engine, frame)
        finally:
            engine.dispose()
        statuses = {r.stage: r.status for r in run_pipeline(settings, skip=("train",))}
    assert statuses.get("publish") == "success", statuses


@pytest.mark.parametrize(("where", "panel"), sql_panels(), ids=[w for w, _ in sql_panels()])
def test_sql_panel_runs_on_published_datamarts(analytics_url: str, where: str, panel: dict) -> None:
    engine = sa.create_engine(analytics_url)
    try:
        with engine.connect() as connection:
            for target in panel["targets"]:
                result = connection.execute(sa.text(target["rawSql"]))
                columns = list(result.keys())
                rows = result.fetchall()
                assert rows, f"{where}: no rows"
                x_field = panel["options"].get("xField")
                assert x_field is None or x_field in columns, f"{where}: {x_field} not in {columns}"
    finally:
        engine.dispose()


def test_every_dashboard_sql_panel_is_covered() -> None:
    titles = {where.split(": ", 1)[1] for where, _ in sql_panels()}
    assert {"Riskiest clients", "Fraud rate by hour of day"} <= titles
    assert any("merchant category" in title for title in titles)
