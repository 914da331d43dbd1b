"""The engine adapters: DuckDB runs SQL over Arrow tables, datasets and readers; every model's
SQL is portable to Spark's dialect (a guard for the Spark adapter, which runs it unchanged)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import sqlglot

from lakehouse.config import Settings
from lakehouse.engines import ENGINE_NAMES, EngineError, get_engine
from lakehouse.engines.base import Engine, translate_sql
from lakehouse.engines.duckdb import DuckDBEngine, session
from lakehouse.pipeline.models import MODELS

AMOUNTS = pa.table({"client_id": [1, 1, 2], "amount": [10.0, 20.0, 5.0]})
TOTALS_SQL = "SELECT client_id, SUM(amount) AS total FROM tx GROUP BY client_id ORDER BY client_id"


def _totals(table: pa.Table) -> list[dict]:
    return table.to_pylist()


def test_session_is_capped_by_the_settings_and_closes(tmp_path: Path) -> None:
    """Every DuckDB connection outside the runner obeys LAKEHOUSE_DUCKDB_* too."""
    settings = Settings(
        data_dir=tmp_path, duckdb_memory_limit="512MB", duckdb_threads=3,
        duckdb_temp_directory=tmp_path / "spill" / "duckdb",
    )
    with session({"tx": AMOUNTS}, settings, threads=2) as connection:
        [(limit, threads, spill)] = connection.execute(
            "SELECT current_setting('memory_limit'), current_setting('threads'), "
            "current_setting('temp_directory')"
        ).fetchall()
        totals = connection.sql(TOTALS_SQL).to_arrow_table()
    assert limit in ("512.0 MiB", "488.2 MiB") and threads == 2  # 512 MB in DuckDB's units
    assert spill == str(tmp_path / "spill" / "duckdb") and (tmp_path / "spill").is_dir()
    assert _totals(totals) == [{"client_id": 1, "total": 30.0}, {"client_id": 2, "total": 5.0}]
    with pytest.raises(Exception, match="closed"):
        connection.execute("SELECT 1")


def test_duckdb_engine_satisfies_the_protocol() -> None:
    engine = DuckDBEngine()
    assert isinstance(engine, Engine)
    assert engine.name == "duckdb"


def test_run_sql_over_an_arrow_table() -> None:
    result = DuckDBEngine().run_sql(TOTALS_SQL, {"tx": AMOUNTS})
    assert isinstance(result, pa.Table)
    assert _totals(result) == [{"client_id": 1, "total": 30.0}, {"client_id": 2, "total": 5.0}]


def test_run_sql_over_a_parquet_dataset(tmp_path: Path) -> None:
    pq.write_table(AMOUNTS.slice(0, 2), tmp_path / "part-0.parquet")
    pq.write_table(AMOUNTS.slice(2), tmp_path / "part-1.parquet")
    dataset = pads.dataset(tmp_path, format="parquet")
    result = DuckDBEngine().run_sql(TOTALS_SQL, {"tx": dataset})
    assert _totals(result) == [{"client_id": 1, "total": 30.0}, {"client_id": 2, "total": 5.0}]


def test_run_sql_over_a_record_batch_reader() -> None:
    reader = pa.RecordBatchReader.from_batches(AMOUNTS.schema, AMOUNTS.to_batches(max_chunksize=1))
    result = DuckDBEngine().run_sql(TOTALS_SQL, {"tx": reader})
    assert _totals(result) == [{"client_id": 1, "total": 30.0}, {"client_id": 2, "total": 5.0}]


def test_several_inputs_join_by_name() -> None:
    clients = pa.table({"client_id": [1, 2], "name": ["ann", "bob"]})
    sql = (
        "SELECT c.name, SUM(t.amount) AS total FROM tx AS t "
        "JOIN clients AS c ON t.client_id = c.client_id GROUP BY c.name ORDER BY c.name"
    )
    result = DuckDBEngine().run_sql(sql, {"tx": AMOUNTS, "clients": clients})
    assert result.to_pylist() == [{"name": "ann", "total": 30.0}, {"name": "bob", "total": 5.0}]


def test_calls_share_no_state() -> None:
    engine = DuckDBEngine()
    engine.run_sql("SELECT * FROM tx", {"tx": AMOUNTS})
    with pytest.raises(EngineError, match="tx"):
        engine.run_sql("SELECT * FROM tx", {})


def test_bad_sql_raises_a_clear_engine_error() -> None:
    with pytest.raises(EngineError, match=r"DuckDB failed.*no_such_column"):
        DuckDBEngine().run_sql("SELECT no_such_column FROM tx", {"tx": AMOUNTS})


def test_settings_cap_memory_and_threads(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakehouse.config import get_settings

    monkeypatch.setenv("LAKEHOUSE_DUCKDB_MEMORY_LIMIT", "256MB")
    monkeypatch.setenv("LAKEHOUSE_DUCKDB_THREADS", "1")
    get_settings.cache_clear()
    engine = get_engine()
    assert isinstance(engine, DuckDBEngine)
    settings = engine.run_sql(
        "SELECT current_setting('threads') AS threads, "
        "current_setting('memory_limit') AS memory_limit",
        {},
    ).to_pylist()[0]
    assert settings["threads"] == 1
    assert settings["memory_limit"].startswith("244") or "256" in settings["memory_limit"]


def test_invalid_memory_limit_names_the_setting() -> None:
    with pytest.raises(EngineError, match="LAKEHOUSE_DUCKDB_MEMORY_LIMIT"):
        DuckDBEngine(memory_limit="lots").run_sql("SELECT 1", {})


def test_unknown_engine_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="duckdb"):
        get_engine("oracle")
    assert "duckdb" in ENGINE_NAMES and "spark" in ENGINE_NAMES


def _rendered(name: str) -> str:
    model = MODELS[name]
    return model.render_sql({param: 604800 for param in model.params})


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_every_model_parses_in_both_dialects(name: str, dialect: str) -> None:
    statements = sqlglot.parse(_rendered(name), read=dialect)
    assert len(statements) == 1
    assert isinstance(statements[0], sqlglot.exp.Query)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_reads_only_its_declared_inputs(name: str) -> None:
    statement = sqlglot.parse_one(_rendered(name), read="duckdb")
    ctes = {cte.alias for cte in statement.find_all(sqlglot.exp.CTE)}
    tables = {table.name for table in statement.find_all(sqlglot.exp.Table)} - ctes
    assert tables == set(MODELS[name].inputs)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_translation_to_spark_keeps_the_sql_portable(name: str) -> None:
    spark_sql = translate_sql(_rendered(name), "spark")
    # Spark must not see DuckDB-only syntax; the translation parses back in Spark's dialect.
    assert "::" not in spark_sql and " QUALIFY " not in spark_sql.upper()
    assert sqlglot.parse_one(spark_sql, read="spark") is not None


def test_calls_from_several_threads_run_side_by_side() -> None:
    from concurrent.futures import ThreadPoolExecutor

    engine = DuckDBEngine(threads=1)

    def total(client: int) -> float:
        table = pa.table({"client_id": [client] * 3, "amount": [1.0, 2.0, float(client)]})
        result = engine.run_sql("SELECT SUM(amount) AS total FROM tx", {"tx": table})
        return result.column("total")[0].as_py()

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(total, range(8))) == [3.0 + client for client in range(8)]
    engine.close()
    assert total(1) == 4.0  # a closed engine reopens on the next call



def test_a_query_larger_than_the_memory_cap_spills_instead_of_failing(tmp_path: Path) -> None:
    """A sort of ~160 MB of rows under a 64 MB cap finishes, and DuckDB's profile shows it
    went through the spill folder the settings name."""
    rows = 4_000_000
    rng = np.random.default_rng(1)
    data = pa.table({"id": np.arange(rows), "key": rng.integers(0, 1 << 40, rows),
                     "x": rng.random(rows), "y": rng.random(rows)})
    spill = tmp_path / "spill" / "duckdb"
    engine = DuckDBEngine(memory_limit="64MB", threads=2, temp_directory=spill)
    profile = tmp_path / "profile.json"
    connection = engine.connect()
    try:
        connection.register("tx", data)
        connection.execute("PRAGMA enable_profiling='json'")
        connection.execute(f"PRAGMA profiling_output='{profile}'")
        ordered = connection.sql("SELECT * FROM tx ORDER BY key").to_arrow_table()
    finally:
        connection.close()
    keys = ordered.column("key").to_numpy()
    assert ordered.num_rows == rows and np.all(keys[1:] >= keys[:-1])
    system = json.loads(profile.read_text())["system"]
    assert system["total_bytes_spilled"] > 0 and system["peak_buffer_memory"] <= 64 * 10**6 * 1.1
