"""The source feed's background task: batches and labels newer than the lake reach the store.

Started by the app's lifespan when `LAKEHOUSE_SOURCE_FEED_SECONDS` > 0, the loop runs
`lakehouse.features.online.feed.SourceFeed.poll` in a worker thread against the full model's
served online store, reading the source DB at `LAKEHOUSE_SOURCE_DB_URL` through the core
(`lakehouse.sources.recent`). A failed poll (source or Redis down) is counted and retried at
the next tick; scoring never waits for it. `FeedCollector` exports its progress to
`/metrics`, and `feed_summary` is the `source_feed` block of `/model/info`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from api_ml.api.state import ModelHolder
from lakehouse.config import Settings
from lakehouse.database import database_url
from lakehouse.features.online.feed import PollResult, SourceFeed
from lakehouse.sources.schema import source_engine

logger = logging.getLogger("lakehouse.api_ml.feed")
SOURCE_SETTING = "LAKEHOUSE_SOURCE_DB_URL"


def source_reachable(settings: Settings) -> bool:
    """False for an embedded SQLite source file that does not exist (yet): never create it.

    Args:
        settings: where the source DB is (`source_db_url`).

    Returns:
        True for a server database or an existing SQLite file.
    """
    url = database_url(settings.source_db_url or "", SOURCE_SETTING)
    if url.get_backend_name() != "sqlite" or not url.database:
        return True
    return Path(url.database).is_file()


def poll_once(holder: ModelHolder, feed: SourceFeed, settings: Settings) -> PollResult | None:
    """One poll into the served full model's store (None when there is nothing to feed).

    Errors are counted on the feed and raised to the caller.

    Args:
        holder: the model holder; its snapshot's full model owns the online store.
        feed: the source feed, which keeps its progress between polls.
        settings: where the source DB is.

    Returns:
        What the poll added, or None when no full model with an online state is served or
        the source is not reachable.
    """
    served = holder.snapshot.models.get("full")
    if served is None or served.online is None or not source_reachable(settings):
        return None
    online = served.online
    try:
        return feed.poll(online.store, online.situation_date)
    except Exception as error:
        feed.failed(error)
        raise


async def feed_forever(
    holder: ModelHolder, feed: SourceFeed, settings: Settings, every_seconds: float
) -> None:
    """Poll every `every_seconds` until cancelled; the first poll runs at once.

    A failed poll is logged and retried at the next tick.

    Args:
        holder: the model holder whose full model's store is fed.
        feed: the source feed.
        settings: where the source DB is.
        every_seconds: the pause between two polls.
    """
    while True:
        try:
            result = await asyncio.to_thread(poll_once, holder, feed, settings)
            if result is not None and (result.events_added or result.labels_added):
                logger.info(
                    "source feed: %d new events, %d labels", result.events_added,
                    result.labels_added,
                )  # fmt: skip
        except Exception:  # the next tick may succeed; scoring goes on meanwhile
            logger.exception("source feed poll failed")
        await asyncio.sleep(every_seconds)


def make_feed(settings: Settings) -> SourceFeed:
    """A feed on the configured source DB (the engine connects lazily).

    Args:
        settings: the configuration (`source_db_url`).

    Returns:
        A new `SourceFeed` with no progress yet.
    """
    return SourceFeed(source_engine(settings.source_db_url or ""))


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def feed_summary(feed: SourceFeed | None, every_seconds: float) -> dict[str, object]:
    """Progress and lag of the feed (`/model/info` `source_feed`).

    Args:
        feed: the running feed, None when the feed is disabled.
        every_seconds: the configured poll interval.

    Returns:
        Poll, failure, event and label counts, the last success and its lag in seconds, the
        newest transaction and situation date; just `enabled: False` and the interval without
        a feed.
    """
    if feed is None:
        return {"enabled": False, "interval_seconds": every_seconds}
    p = feed.progress
    return {
        "enabled": True,
        "interval_seconds": every_seconds,
        "polls": p.polls,
        "failures": p.failures,
        "last_error": p.last_error,
        "events_read": p.events_read,
        "events_added": p.events_added,
        "labels_read": p.labels_read,
        "labels_added": p.labels_added,
        "last_success": _iso(p.last_success_s),
        "lag_seconds": None
        if p.last_success_s is None
        else round(max(0.0, time.time() - p.last_success_s), 3),
        "newest_transaction": _iso(p.newest_ts_s),
        "newest_situation_date": None
        if p.newest_situation_date is None
        else p.newest_situation_date.isoformat(),
    }


class FeedCollector(Collector):
    """The feed's progress at each scrape: polls, events and labels applied, lag."""

    def __init__(self, feed: SourceFeed) -> None:
        self.feed = feed

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        """The feed's metrics at a scrape (Prometheus `Collector` protocol).

        Yields:
            Polls by outcome, events and labels added, last success time, lag, newest transaction.
        """
        p = self.feed.progress
        polls = CounterMetricFamily(
            "api_ml_source_feed_polls",
            "Polls of the source DB by the online store's feed, by outcome.",
            labels=["outcome"],
        )
        polls.add_metric(["ok"], p.polls - p.failures)
        polls.add_metric(["failed"], p.failures)
        yield polls
        for kind, value in (("events", p.events_added), ("labels", p.labels_added)):
            applied = CounterMetricFamily(
                f"api_ml_source_feed_{kind}",
                f"Source {kind} the feed added to the online store (repeats not counted).",
            )
            applied.add_metric([], value)
            yield applied
        last = GaugeMetricFamily(
            "api_ml_source_feed_last_success_timestamp_seconds",
            "Unix time of the feed's last successful poll (its age is the feed's lag).",
        )
        if p.last_success_s is not None:
            last.add_metric([], p.last_success_s)
        yield last
        lag = GaugeMetricFamily(
            "api_ml_source_feed_lag_seconds",
            "Seconds since the feed's last successful poll (absent before the first).",
        )
        if p.last_success_s is not None:
            lag.add_metric([], max(0.0, time.time() - p.last_success_s))
        yield lag
        newest = GaugeMetricFamily(
            "api_ml_source_feed_newest_transaction_timestamp_seconds",
            "Unix time of the newest source transaction the feed applied to the online store.",
        )
        if p.newest_ts_s is not None:
            newest.add_metric([], float(p.newest_ts_s))
        yield newest
