"""The source feed: batches and labels that reach the source system after the lake's watermark
reach the online store without a pipeline run.

A generated year (the session's `small_raw_dir`) goes through the real bronze, silver and
`ml_features` models. The online store is built from the lake *cut before one week* — the
lake a pipeline run left — while that week's transactions are loaded, day by day, into a real
source DB (SQLite file, fresh PostgreSQL database) with the real loader. One poll of the feed
(it reads the batch dates after the lake's newest one) must then make every week
transaction's feature vector equal its gold row (computed by the batch SQL over the whole
year): the cards' and clients' windows see the new batches. On the memory backend and on the
real Redis (127.0.0.1:6379, this test's own key prefix).

Idempotence: a transaction already scored under its id, or already in the lake, or read again
by a second feed, counts once. A label an analyst records reaches the merchant/MCC/global
label tallies from the first midnight after it became known (the known-day rule), once, and a
changed label replaces it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import redis
from sqlalchemy.engine import Engine
from testkit import REDIS_URL

from lakehouse.database import create_engine_for
from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.features.declarations import FEATURE_COLUMNS
from lakehouse.features.online.builder import (
    fill_store,
    lake_cut,
    meta_for,
    situation_watermark_of,
    watermark_of,
)
from lakehouse.features.online.compute import known_day_of
from lakehouse.features.online.feed import SourceFeed, event_from_source
from lakehouse.features.online.memory_store import MemoryStore
from lakehouse.features.online.redis_store import RedisStore, drop_prefix
from lakehouse.features.online.replay import event_of, same_value, scoring_row, vector_of
from lakehouse.features.online.store import OnlineStore
from lakehouse.formats import TRANSACTIONS_FILE
from lakehouse.pipeline.build import build_models
from lakehouse.pipeline.feeder import bronze_from_raw_dir
from lakehouse.pipeline.models import SILVER_MODELS, run_model
from lakehouse.sources.labels import record_labels
from lakehouse.sources.loader import DateWindow, load_batch
from lakehouse.sources.schema import ensure_schema

CUT = date(2018, 1, 8)  # the lake holds the transactions before this day
WEEK_END = date(2018, 1, 15)
DELAY_DAYS = 7
WINDOW = DateWindow(date(1990, 1, 1), date(2100, 1, 1))


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


@pytest.fixture(scope="module")
def year(small_raw_dir: Path) -> tuple[pa.Table, pa.Table]:
    """silver_transactions and ml_features of the generated year (the batch SQL's answer)."""
    engine = DuckDBEngine(threads=2)
    bronze = bronze_from_raw_dir(small_raw_dir, "test-key")
    params = {"label_delay_days": DELAY_DAYS}
    silver = build_models(engine, SILVER_MODELS, bronze, params)["silver_transactions"]
    gold = run_model(engine, "ml_features", {"silver_transactions": silver})
    return silver, gold


def _before(silver: pa.Table, day: date) -> pa.Table:
    return silver.filter(pc.less(silver["ts"], pa.scalar(_midnight(day), pa.timestamp("us"))))


def _raw_days(raw_dir: Path, first: date, end: date) -> pd.DataFrame:
    """The source file's rows of [first, end), as text, as a client would upload them."""
    raw = pd.read_csv(raw_dir / TRANSACTIONS_FILE, dtype=str, keep_default_na=False)
    days = raw["date"].str[:10]
    return raw[(days >= first.isoformat()) & (days < end.isoformat())]


@pytest.fixture(params=["sqlite", "postgres"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty source DB: a SQLite file, or a fresh database on the machine's PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sources.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = create_engine_for(url)
    ensure_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["memory", "redis"])
def lake_store(request: pytest.FixtureRequest, year) -> Iterator[tuple[OnlineStore, date]]:  # type: ignore[no-untyped-def]
    """The store the scoring API builds from the lake cut before `CUT`, and the lake's newest
    batch date."""
    lake = _before(year[0], CUT)
    watermark = watermark_of(lake)
    assert watermark is not None
    cut = lake_cut(watermark, horizon_days=7)
    meta = meta_for(cut, watermark, 1)
    prefix = f"test-feed-{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(REDIS_URL)
    store: OnlineStore
    if request.param == "memory":
        store = MemoryStore(meta)
    else:
        store = RedisStore.create(client, prefix, meta)
    fill_store(store, lake, cut, tiles_bulk=store.add_tiles)  # type: ignore[attr-defined]
    situation = situation_watermark_of(lake)
    assert situation == CUT - timedelta(days=1)
    yield store, situation
    drop_prefix(client, prefix)


def _load_days(engine: Engine, raw: pd.DataFrame, first: date, end: date) -> int:
    loaded = 0
    day = first
    while day < end:
        rows = raw[raw["date"].str[:10] == day.isoformat()]
        if len(rows):
            loaded += load_batch(engine, rows, day, window=WINDOW).inserted
        day += timedelta(days=1)
    return loaded


def _week(silver: pa.Table) -> pa.Table:
    """silver's rows of [CUT, WEEK_END): the batches loaded after the lake's watermark."""
    until = _before(silver, WEEK_END)
    start = pa.scalar(_midnight(CUT), pa.timestamp("us"))
    return until.filter(pc.greater_equal(until["ts"], start))


def _mismatches(store: OnlineStore, silver: pa.Table, gold: pa.Table) -> dict[str, int]:
    """Feature mismatches of the week's transactions against their gold rows."""
    gold_rows = {r["transaction_id"]: r for r in gold.to_pylist()}
    wrong: dict[str, int] = {}
    for row in _week(silver).to_pylist():
        vector = vector_of(store, scoring_row(row))
        expected = gold_rows[row["transaction_id"]]
        for column in FEATURE_COLUMNS:
            if not same_value(vector[column], expected[column]):
                wrong[column] = wrong.get(column, 0) + 1
    return wrong


def test_batches_after_the_watermark_reach_the_windows_once(  # type: ignore[no-untyped-def]
    year, lake_store, source, small_raw_dir
) -> None:
    silver, gold = year
    store, lake_date = lake_store
    raw = _raw_days(small_raw_dir, CUT - timedelta(days=1), WEEK_END)
    # the lake's last day arrives again in a later batch: its rows count once
    last_day = raw[raw["date"] < CUT.isoformat()]
    in_lake = load_batch(source, last_day, CUT, window=WINDOW).inserted
    new = _load_days(source, raw, CUT, WEEK_END)
    assert in_lake > 0 and new > 300
    # three of the week's transactions were scored through /predict before the poll
    first_rows = raw[raw["date"] >= CUT.isoformat()].head(3)
    scored = [event_from_source(r) for r in first_rows.itertuples()]
    assert store.add_events(scored, journal=True) == 3
    before = _mismatches(store, silver, gold)
    assert before.get("card_tx_count_30d", 0) > 0  # the store did not know the week yet

    feed = SourceFeed(source)
    result = feed.poll(store, lake_date)
    assert (result.events_read, result.events_added) == (in_lake + new, new - 3)
    assert _mismatches(store, silver, gold) == {}  # every window sees the new batches

    again = feed.poll(store, lake_date)  # nothing changed in the source: nothing read
    assert (again.events_read, again.events_added) == (0, 0)
    other = SourceFeed(source).poll(store, lake_date)  # another replica, a restart
    assert (other.events_read, other.events_added) == (in_lake + new, 0)
    rescored = [event_of(scoring_row(r)) for r in _week(silver).slice(0, 50).to_pylist()]
    assert store.add_events(rescored) == 0  # scoring them again counts once too
    assert _mismatches(store, silver, gold) == {}
    assert feed.progress.events_added == new - 3 and feed.progress.newest_situation_date == (
        WEEK_END - timedelta(days=1)
    )


def _tallies(store: OnlineStore, event, day: date) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """(merchant fraud, merchant labeled, global labeled) known on `day`."""
    state = store.read(
        event.card_id, event.client_id, event.merchant_id, event.mcc_code,
        (day - date(1970, 1, 1)).days,
    )  # fmt: skip
    merchant, everyone = state.tallies.merchant, state.tallies.global_
    return merchant.get("fraud", 0), merchant.get("labeled", 0), everyone.get("labeled", 0)


def test_an_analyst_label_reaches_the_tallies_from_the_next_midnight(  # type: ignore[no-untyped-def]
    lake_store, source, small_raw_dir
) -> None:
    store, lake_date = lake_store
    raw = _raw_days(small_raw_dir, CUT, CUT + timedelta(days=1))
    _load_days(source, raw, CUT, CUT + timedelta(days=1))
    feed = SourceFeed(source)
    feed.poll(store, lake_date)
    event = event_from_source(next(raw.itertuples()))
    known_at = datetime(2018, 1, 9, 15, 30, tzinfo=UTC)
    usable = date(2018, 1, 10)  # the first midnight after it became known
    assert known_day_of(known_at.timestamp()) == (usable - date(1970, 1, 1)).days
    day_before, on_day = _tallies(store, event, usable - timedelta(days=1)), _tallies(
        store, event, usable
    )
    label = {"transaction_id": event.transaction_id, "is_fraud": True, "source": "analyst_review",
             "reviewer": "ana", "label_known_at": known_at}  # fmt: skip
    record_labels(source, [label])
    result = feed.poll(store, lake_date)
    assert (result.labels_read, result.labels_added) == (1, 1)
    assert _tallies(store, event, usable - timedelta(days=1)) == day_before  # not yet known
    fraud, labeled, everyone = on_day
    assert _tallies(store, event, usable) == (fraud + 1, labeled + 1, everyone + 1)
    assert feed.poll(store, lake_date).labels_added == 0  # unchanged: not read again
    assert SourceFeed(source).poll(store, lake_date).labels_added == 0  # read again: once
    # a lead overturns it: the label is replaced, not added
    record_labels(source, [{**label, "is_fraud": False, "label_known_at": known_at}])
    assert feed.poll(store, lake_date).labels_added == 1
    assert _tallies(store, event, usable) == (fraud, labeled + 1, everyone + 1)
