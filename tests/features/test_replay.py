"""Parity by replay: the online store computes every gold feature, on both backends.

A generated year (the session's `small_raw_dir`) goes through the real bronze, silver and
`ml_features` models into a Delta lake; `lakehouse features replay` then streams one week of
it through the online update path — memory backend, and the real Redis at 127.0.0.1:6379
under this test's own key prefix — and must find 0 mismatches. The week is checked to hold
what could break parity: refunds, errors, online and abroad rows, cards first seen that week,
labels becoming usable during it. A corrupted gold value must be named by the command.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import redis
from testkit import REDIS_URL
from typer.testing import CliRunner

from lakehouse import catalog, storage
from lakehouse.cli import app
from lakehouse.config import Settings, get_settings
from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.features.online.redis_store import drop_prefix
from lakehouse.pipeline.build import build_models
from lakehouse.pipeline.feeder import bronze_from_raw_dir
from lakehouse.pipeline.models import SILVER_MODELS, run_model

WEEK = ("2018-01-08", "2018-01-15")
DELAY_DAYS = 7


@pytest.fixture(scope="module")
def lake(small_raw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table]:
    """A lake holding silver_transactions and ml_features of the generated year."""
    engine = DuckDBEngine(threads=2)
    bronze = bronze_from_raw_dir(small_raw_dir, "test-key")
    params = {"label_delay_days": DELAY_DAYS}
    silver = build_models(engine, SILVER_MODELS, bronze, params)["silver_transactions"]
    gold = run_model(engine, "ml_features", {"silver_transactions": silver})
    data_dir = tmp_path_factory.mktemp("replay") / "data"
    settings = Settings(data_dir=data_dir, label_delay_days=DELAY_DAYS)
    storage.write(catalog.location("silver_transactions", settings), silver, settings=settings)
    storage.write(catalog.location("ml_features", settings), gold, settings=settings)
    return data_dir, silver


@pytest.fixture
def lake_env(lake, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Settings for the CLI: the lake above and this test's own Redis key prefix."""
    prefix = f"test-replay-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(lake[0]))
    monkeypatch.setenv("LAKEHOUSE_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("LAKEHOUSE_ONLINE_KEY_PREFIX", prefix)
    get_settings.cache_clear()
    yield prefix
    get_settings.cache_clear()
    client = redis.Redis.from_url(REDIS_URL)
    assert drop_prefix(client, prefix) == 0  # the command cleaned up after itself


def _week(silver: pa.Table) -> pa.Table:
    start, end = (pa.scalar(pa.scalar(d).cast(pa.date32()), pa.date32()) for d in WEEK)
    return silver.filter(
        pc.and_(pc.greater_equal(silver["tx_date"], start), pc.less(silver["tx_date"], end))
    )


def test_the_week_holds_what_could_break_parity(lake) -> None:  # type: ignore[no-untyped-def]
    silver = lake[1]
    week = _week(silver)
    assert week.num_rows > 300
    for flag in ("is_refund", "has_error", "is_online", "is_abroad"):
        assert pc.sum(week[flag]).as_py() > 0, flag
    before = silver.filter(pc.less(silver["tx_date"], week["tx_date"][0]))
    new_cards = set(week["card_id"].to_pylist()) - set(before["card_id"].to_pylist())
    assert new_cards, "no card is first seen during the week"
    known = pc.cast(week["label_known_at"], pa.date32())
    assert pc.sum(pc.is_valid(known)).as_py() > 0


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_replay_finds_no_mismatch(lake_env: str, backend: str) -> None:
    result = CliRunner().invoke(
        app, ["features", "replay", "--from", WEEK[0], "--to", WEEK[1], "--backend", backend]
    )
    assert result.exit_code == 0, result.output
    assert "every feature equal to gold" in result.output


def test_replay_names_a_corrupted_feature(lake, lake_env: str) -> None:  # type: ignore[no-untyped-def]
    settings = get_settings()
    uri = catalog.location("ml_features", settings)
    gold = storage.read_table(uri, settings)
    row = _week(lake[1])["transaction_id"][5].as_py()
    values = gold["card_tx_count_24h"].to_pylist()
    position = gold["transaction_id"].to_pylist().index(row)
    values[position] += 1
    column = gold.schema.get_field_index("card_tx_count_24h")
    corrupted = gold.set_column(
        column, "card_tx_count_24h", pa.array(values, gold.schema.field(column).type)
    )
    storage.write(uri, corrupted, settings=settings)
    try:
        result = CliRunner().invoke(
            app, ["features", "replay", "--from", WEEK[0], "--to", WEEK[1], "--backend", "memory"]
        )
    finally:
        storage.write(uri, gold, settings=settings)
    assert result.exit_code == 1, result.output
    assert "card_tx_count_24h" in result.output and str(row) in result.output
