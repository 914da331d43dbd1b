"""postgres/initdb.sh + init.sql on the machine's real PostgreSQL: databases and privileges.

The container runs the same script with the default names; here every database and role
gets a unique suffix (roles are cluster-wide, other tests share the server) and everything
is dropped afterwards. Each role is then held to its least privilege by trying what it must
and must not do. The server trusts local connections, so passwords are not what is tested —
the grants are.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from testkit import APT, skip_missing

ROOT = Path(__file__).resolve().parents[2]
SERVER: dict[str, str] = {}  # the server of the running test, for `_run`
pytestmark = pytest.mark.postgres


@pytest.fixture
def cluster(pg_url: str) -> Iterator[dict[str, str]]:
    """Runs initdb.sh with unique names; yields them; drops databases and roles.

    `pg_url` (a fresh, empty database) gives the server and is where psql first connects.
    """
    if shutil.which("psql") is None:
        skip_missing("psql", f"{APT} postgresql-client")
    suffix = uuid.uuid4().hex[:8]
    names = {
        "SOURCE_DB_NAME": f"lh_src_{suffix}", "ANALYTICS_DB_NAME": f"lh_an_{suffix}",
        "MLFLOW_DB_NAME": f"lh_ml_{suffix}", "SOURCE_DB_ROLE": f"lh_source_{suffix}",
        "PIPELINE_DB_ROLE": f"lh_pipeline_{suffix}", "ANALYTICS_READER_ROLE": f"lh_reader_{suffix}",
        "MLFLOW_DB_ROLE": f"lh_mlflow_{suffix}",
    }
    admin = sa.make_url(pg_url)
    env = {
        **os.environ, **names,
        "PGHOST": admin.host or "127.0.0.1", "PGPORT": str(admin.port or 5432),
        "POSTGRES_USER": admin.username or "postgres", "POSTGRES_DB": admin.database or "postgres",
        "SOURCE_DB_PASSWORD": "t1", "PIPELINE_DB_PASSWORD": "t2",
        "ANALYTICS_READER_PASSWORD": "t3", "MLFLOW_DB_PASSWORD": "t4",
        "LAKEHOUSE_INIT_SQL": str(ROOT / "postgres" / "init.sql"),
    }
    try:
        result = subprocess.run(["bash", str(ROOT / "postgres" / "initdb.sh")], env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        yield {**names, "URL": pg_url}
    finally:
        engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            for key in ("SOURCE_DB_NAME", "ANALYTICS_DB_NAME", "MLFLOW_DB_NAME"):
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{names[key]}" WITH (FORCE)'))
            for key in ("SOURCE_DB_ROLE", "PIPELINE_DB_ROLE", "ANALYTICS_READER_ROLE",
                        "MLFLOW_DB_ROLE"):
                connection.execute(sa.text(f'DROP ROLE IF EXISTS "{names[key]}"'))
        engine.dispose()


def _run(role: str, database: str, sql: str) -> list[tuple]:
    url = sa.make_url(SERVER["url"]).set(username=role, database=database, password=None)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            result = connection.execute(sa.text(sql))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _denied(role: str, database: str, sql: str) -> None:
    with pytest.raises(DBAPIError, match=r"permission denied|must be owner"):
        _run(role, database, sql)


def test_initdb_creates_databases_with_least_privilege_roles(cluster: dict[str, str]) -> None:
    SERVER["url"] = cluster["URL"]
    source, analytics, mlflow = (cluster["SOURCE_DB_NAME"], cluster["ANALYTICS_DB_NAME"],
                                 cluster["MLFLOW_DB_NAME"])
    source_role, pipeline, reader, mlflow_role = (
        cluster["SOURCE_DB_ROLE"], cluster["PIPELINE_DB_ROLE"],
        cluster["ANALYTICS_READER_ROLE"], cluster["MLFLOW_DB_ROLE"],
    )

    # The source system creates and fills its table; the pipeline may read it, not change it.
    _run(source_role, source, "CREATE TABLE transaction_data (id BIGINT PRIMARY KEY, amount TEXT)")
    _run(source_role, source, "INSERT INTO transaction_data VALUES (1, '$1.00')")
    assert _run(pipeline, source, "SELECT count(*) FROM transaction_data") == [(1,)]
    _denied(pipeline, source, "INSERT INTO transaction_data VALUES (2, '$2.00')")
    _denied(pipeline, source, "CREATE TABLE intruder (x INT)")

    # The pipeline publishes into analytics; readers (API, Grafana) can only select.
    _run(pipeline, analytics, "CREATE TABLE dm_mcc_fraud_risk (mcc_code INT, fraud_rate FLOAT8)")
    _run(pipeline, analytics, "INSERT INTO dm_mcc_fraud_risk VALUES (5411, 0.01)")
    assert _run(reader, analytics, "SELECT mcc_code FROM dm_mcc_fraud_risk") == [(5411,)]
    _denied(reader, analytics, "INSERT INTO dm_mcc_fraud_risk VALUES (1, 0.5)")
    _denied(reader, analytics, "CREATE TABLE intruder (x INT)")
    _denied(reader, analytics, "DROP TABLE dm_mcc_fraud_risk")

    # MLflow owns its database; nobody else may even connect to what is not theirs.
    _run(mlflow_role, mlflow, "CREATE TABLE experiments (id INT)")
    for role, database in ((reader, source), (reader, mlflow), (mlflow_role, analytics),
                           (source_role, analytics), (pipeline, mlflow)):
        _denied(role, database, "SELECT 1")
