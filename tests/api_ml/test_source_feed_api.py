"""The scoring API's source feed over real HTTP: a batch loaded into the source DB after the
lake's snapshot reaches the card's windows without a pipeline run, counted once.

A real SQLite source DB receives a batch through the real loader; the service (feed every
0.2 s) must show it in `card_tx_count_1h` of the next `/predict`, in `/model/info`
`source_feed` and in the `api_ml_source_feed_*` metrics. Scoring one of the batch's ids again
counts it once.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import httpx
import pandas as pd
import pyarrow.compute as pc
import pytest
from api_ml_lake import payload_from_silver

from api_ml.api.main import create_app
from lakehouse.config import get_settings
from lakehouse.database import create_engine_for
from lakehouse.sources.loader import DateWindow, load_batch

FIRST_ID = 9_300_000_000


def _latest_row(silver) -> dict:  # type: ignore[no-untyped-def]
    last = pc.max(silver.column("ts")).as_py()
    return silver.filter(pc.equal(silver.column("ts"), last)).to_pylist()[0]


def _source_rows(row: dict, start: datetime, count: int) -> pd.DataFrame:
    """`count` swipes on the row's card, one every 20 s from `start`, as the source holds them."""
    return pd.DataFrame(
        [
            {
                "id": str(FIRST_ID + i),
                "date": (start + timedelta(seconds=20 * i)).strftime("%Y-%m-%d %H:%M:%S"),
                "client_id": str(row["client_id"]),
                "card_id": str(row["card_id"]),
                "amount": f"${10 + i}.00",
                "use_chip": "Swipe Transaction",
                "merchant_id": str(row["merchant_id"]),
                "merchant_city": "Springfield",
                "merchant_state": "CA",
                "zip": "90001.0",
                "mcc": str(row["mcc_code"]),
                "errors": "",
            }
            for i in range(count)
        ]
    )


def _count_1h(client: httpx.Client, payload: dict) -> float:
    answer = client.post("/predict", params={"include_features": "true"}, json=payload)
    assert answer.status_code == 200, answer.text
    return answer.json()["features"]["card_tx_count_1h"]


def _wait_for_events(client: httpx.Client, count: int) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        feed = client.get("/model/info").json()["source_feed"]
        if feed["events_added"] >= count:
            return feed
        time.sleep(0.1)
    pytest.fail(f"the feed did not add {count} events: {feed}")


def test_a_batch_after_the_snapshot_reaches_the_windows_once(  # type: ignore[no-untyped-def]
    api_settings, trained_lake, live_server, tmp_path, monkeypatch
) -> None:
    source_url = f"sqlite:///{tmp_path / 'sources.db'}"
    monkeypatch.setenv("LAKEHOUSE_SOURCE_DB_URL", source_url)
    monkeypatch.setenv("LAKEHOUSE_SOURCE_FEED_SECONDS", "0.2")
    get_settings.cache_clear()
    settings = get_settings()
    row = _latest_row(trained_lake.silver)
    start = row["ts"] + timedelta(days=1)
    batch = _source_rows(row, start, 5)
    base = payload_from_silver(row)
    with live_server(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as client:
        engine = create_engine_for(source_url)
        window = DateWindow(datetime(1990, 1, 1).date(), datetime(2100, 1, 1).date())
        assert load_batch(engine, batch, window=window).inserted == 5
        feed = _wait_for_events(client, 5)
        assert feed["enabled"] and feed["failures"] == 0 and feed["lag_seconds"] is not None
        assert feed["newest_transaction"].startswith(batch["date"].iloc[-1].replace(" ", "T"))
        later = start + timedelta(seconds=200)
        new = {**base, "transaction_id": FIRST_ID + 99, "timestamp": later.isoformat()}
        assert _count_1h(client, new) == 5  # the five source transactions, no pipeline run
        # one of the batch's ids scored again (a resend): still one event
        resent = start + timedelta(seconds=20)
        second = {**base, "transaction_id": FIRST_ID + 1, "timestamp": resent.isoformat()}
        assert _count_1h(client, second) == 1
        assert load_batch(engine, batch, window=window).inserted == 0  # loaded again: skipped
        time.sleep(0.5)  # a few more polls
        next_second = (later + timedelta(seconds=1)).isoformat()
        after = {**new, "transaction_id": FIRST_ID + 100, "timestamp": next_second}
        assert _count_1h(client, after) == 6  # the five + the one scored at +200 s
        metrics = client.get("/metrics").text
        info = client.get("/model/info").json()["source_feed"]
        engine.dispose()
    assert info["events_added"] == 5
    assert "api_ml_source_feed_events_total 5.0" in metrics
    assert 'api_ml_source_feed_polls_total{outcome="ok"}' in metrics
    assert "api_ml_source_feed_lag_seconds" in metrics


def test_a_source_that_is_down_is_counted_not_echoed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A poll against an unreachable source DB fails, is counted with its kind only (no URL,
    no values), and the next poll starts over."""
    from types import SimpleNamespace

    from sqlalchemy.exc import OperationalError

    from api_ml.api.feed import feed_summary, make_feed, poll_once
    from lakehouse.config import Settings
    from lakehouse.features.online.memory_store import MemoryStore
    from lakehouse.features.online.store import StoreMeta

    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path, source_db_url="postgresql+psycopg://postgres:secret@127.0.0.1:1/x"
    )
    online = SimpleNamespace(store=MemoryStore(StoreMeta(horizon_s=0)), situation_date=None)
    served = SimpleNamespace(online=online)
    holder = SimpleNamespace(snapshot=SimpleNamespace(models={"full": served}))
    feed = make_feed(settings)
    for _ in range(2):
        with pytest.raises(OperationalError):
            poll_once(holder, feed, settings)  # type: ignore[arg-type]
    summary = feed_summary(feed, 10)
    assert (summary["polls"], summary["failures"], summary["last_success"]) == (2, 2, None)
    assert summary["last_error"] == "OperationalError"
    assert "secret" not in str(summary)
