"""Freshness of what the scoring API serves, read from its current snapshot at each scrape.

Two gauges, computed when Prometheus scrapes `/metrics` (nothing on the request path):
`api_ml_online_newest_transaction_timestamp_seconds`, the time of the newest transaction the
full model's online state knows (its lake watermark, or the newest transaction the source feed
added since, `api_ml/api/feed.py`), and `api_ml_model_trained_timestamp_seconds{flavour,
version}`, when each served champion was trained. Their ages (`time() - ...`) drive the
`OnlineStateStale` and `ChampionModelOld` alerts and the Model health dashboard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


def timestamp(value: Any) -> float:
    """Unix seconds of an ISO string or datetime; a naive time is UTC, as the lake stores it.

    Args:
        value: a `datetime` or anything whose `str` is an ISO 8601 time.

    Returns:
        Seconds since the epoch.
    """
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=moment.tzinfo or UTC).timestamp()


class FreshnessCollector(Collector):
    """Ages of the served state and models, from `snapshot()` (the holder's current one)."""

    def __init__(self, snapshot: Callable[[], Any]) -> None:
        self.snapshot = snapshot
        # the newest transaction the source feed added (set when the feed runs)
        self.fed_newest: Callable[[], int | None] = lambda: None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The two freshness gauges at a scrape (Prometheus `Collector` protocol).

        Yields:
            The online state's newest transaction time, then each champion's training time.
        """
        online = GaugeMetricFamily(
            "api_ml_online_newest_transaction_timestamp_seconds",
            "Unix time of the newest transaction in the full model's online state.",
        )
        trained = GaugeMetricFamily(
            "api_ml_model_trained_timestamp_seconds",
            "Unix time at which each served champion was trained.",
            labels=["flavour", "version"],
        )
        for flavour, served in self.snapshot().models.items():
            trained.add_metric([flavour, served.version], timestamp(served.model.trained_at))
            if served.online is not None:
                # the newest transaction the state was built from (no store call per scrape)
                newest = [served.online.meta.watermark_s, self.fed_newest()]
                known = [value for value in newest if value is not None]
                if known:
                    online.add_metric([], float(max(known)))
        yield online
        yield trained
