"""Parity of the engines: the same bronze through the real stage runner on DuckDB and on Spark
gives identical silver and gold Delta tables — datamarts and ML features alike.

Counts, keys, strings, dates and timestamps must be equal exactly; floating-point columns within
1e-9 relative (sums and standard deviations are accumulated in a different order by each
engine, which moves the last bits). The schemas must be identical too: a table written by one
engine can be continued by the other. The data is a few thousand rows of the tiny generator
plus a resent batch (duplicate ids), because Spark's start-up, not the data, dominates; one
SparkSession serves the whole module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from runtime_helpers import assert_tables_match, sorted_table, write_tiny_raw
from testkit import local_spark_engine

from lakehouse import catalog, storage
from lakehouse.config import Settings, get_settings
from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.engines.spark import SparkEngine
from lakehouse.pipeline.feeder import bronze_from_raw_dir as bronze_from_raw
from lakehouse.pipeline.gold import run_gold
from lakehouse.pipeline.silver import run_silver

pytestmark = [pytest.mark.spark, pytest.mark.slow]
RELATIVE_TOLERANCE = 1e-9  # what assert_tables_match allows on float columns


@pytest.fixture(scope="module")
def spark_engine() -> Iterator[SparkEngine]:
    yield from local_spark_engine(shuffle_partitions=4)


def _bronze(raw: Path) -> dict[str, pa.Table]:
    """The five bronze tables as the feeder makes them; one batch per day plus a resend."""
    bronze = bronze_from_raw(raw, "parity-key")
    transactions = bronze["bronze_transactions"]
    # The first 40 rows sent again on a later day: deduplication must keep the first copy.
    resent = transactions.slice(0, 40).set_column(
        transactions.schema.get_field_index("situation_date"), "situation_date",
        pa.array([transactions.column("situation_date")[-1].as_py()] * 40, pa.date32()))
    bronze["bronze_transactions"] = pa.concat_tables(
        [transactions, resent.cast(transactions.schema)])
    return bronze


def _lake(data_dir: Path, bronze: dict[str, pa.Table]) -> Settings:
    settings = Settings(data_dir=data_dir)  # type: ignore[call-arg]
    for name, table in bronze.items():
        storage.write(catalog.location(name, settings), table, settings=settings)
    return settings


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory,
          spark_engine: SparkEngine) -> tuple[Settings, Settings]:
    root = tmp_path_factory.mktemp("parity")
    get_settings.cache_clear()
    bronze = _bronze(write_tiny_raw(root / "raw", clients=12, days=31, per_day=100))
    built = []
    for engine in (DuckDBEngine(threads=1), spark_engine):
        settings = _lake(root / engine.name, bronze)
        for stage in (run_silver, run_gold):
            result = stage(settings, engine)
            assert result.status == "success", (engine.name, result)
        built.append(settings)
    return built[0], built[1]


@pytest.mark.parametrize("table", [*catalog.SILVER_TABLES, *catalog.GOLD_TABLES])
def test_both_engines_write_the_same_table(lakes: tuple[Settings, Settings], table: str) -> None:
    on_duckdb, on_spark = (sorted_table(table, settings) for settings in lakes)
    assert on_duckdb.num_rows > 0, f"{table} is empty: the test data does not exercise it"
    assert_tables_match(on_duckdb, on_spark, f"{table} (DuckDB vs Spark)")


def test_the_resent_rows_were_deduplicated_on_both(lakes: tuple[Settings, Settings]) -> None:
    for settings in lakes:
        silver = storage.read_table(catalog.location("silver_transactions", settings), settings)
        bronze = storage.read_table(catalog.location("bronze_transactions", settings), settings)
        assert silver.num_rows == bronze.num_rows - 40
        assert pc.count_distinct(silver.column("transaction_id")).as_py() == silver.num_rows


def test_features_carry_labels_and_windows(lakes: tuple[Settings, Settings]) -> None:
    """Guard against a vacuous pass: the compared feature table has real signal in it."""
    features = sorted_table("ml_features", lakes[1])
    assert pc.sum(pc.equal(features.column("label"), 1)).as_py() > 0
    assert pc.max(features.column("card_tx_count_30d")).as_py() > 1
    assert pc.max(features.column("merchant_labels_known")).as_py() > 0


def test_the_cli_runs_silver_and_gold_on_spark(
    lakes: tuple[Settings, Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lakehouse pipeline run --engine spark` and `LAKEHOUSE_ENGINE=spark` both reach Spark."""
    from typer.testing import CliRunner

    from lakehouse.cli import app

    reference = lakes[0]
    settings = _lake(tmp_path / "data", {
        name: storage.read_table(catalog.location(name, reference), reference)
        for name in catalog.BRONZE_TABLES})
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    runner = CliRunner()
    silver = runner.invoke(app, ["pipeline", "run", "--stage", "silver", "--engine", "spark"])
    assert silver.exit_code == 0, silver.output
    monkeypatch.setenv("LAKEHOUSE_ENGINE", "spark")
    get_settings.cache_clear()
    gold = runner.invoke(app, ["pipeline", "run", "--stage", "gold"])
    assert gold.exit_code == 0, gold.output
    get_settings.cache_clear()
    for table in ("silver_transactions", "dm_client_features", "ml_features"):
        assert_tables_match(sorted_table(table, reference), sorted_table(table, settings), table)
