"""Prometheus metrics of the case queue, read from the case store at each scrape.

Counted in the database rather than in this process, so every replica of the scoring API
reports the same queue: open cases by state, the age of the oldest one still active (the
`CaseQueueOverSla` alert compares it with `api_ml_case_sla_seconds`, the setting
`LAKEHOUSE_CASE_SLA_HOURS`), decisions per analyst, the precision of reviewed alerts (confirmed
fraud among closed cases), the share of today's review capacity used, and the cases still
waiting in this replica's outbox. While the analytics DB is unreachable only
`api_ml_case_store_up 0` and the outbox are reported.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from api_ml.api.casework import CaseDesk
from lakehouse.cases import store
from lakehouse.cases.workflow import STATES
from lakehouse.config import Settings

logger = logging.getLogger("lakehouse.api_ml.case_metrics")


def _gauge(
    name: str, documentation: str, value: float | None = None, labels: list[str] | None = None
) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value, labels=labels)


class CaseQueueCollector(Collector):
    """Collects the queue's gauges from the case store when Prometheus scrapes."""

    def __init__(self, desk: CaseDesk, settings: Settings) -> None:
        self.desk = desk
        self.sla_seconds = settings.case_sla_hours * 3600
        self.capacity = settings.review_capacity_per_day

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The case queue's gauges at a scrape (Prometheus `Collector` protocol).

        Yields:
            The outbox backlog and the SLA, then `api_ml_case_store_up` and, when the store
            answered, cases by state, the oldest active case's age, decisions, review precision and
            capacity used.
        """
        yield _gauge(
            "api_ml_case_outbox_pending",
            "Cases written to this replica's outbox, not yet in the case store.",
            self.desk.outbox.pending(),
        )
        yield _gauge(
            "api_ml_case_sla_seconds",
            "Age an active case may reach (LAKEHOUSE_CASE_SLA_HOURS).",
            self.sla_seconds,
        )
        try:
            families = list(self._from_store())
        except SQLAlchemyError as exc:
            logger.warning("case metrics unavailable: %s", exc)
            yield _gauge("api_ml_case_store_up", "1 when the case store answered.", 0)
            return
        yield _gauge("api_ml_case_store_up", "1 when the case store answered.", 1)
        yield from families

    def _from_store(self) -> Iterator[GaugeMetricFamily]:
        engine = self.desk.ready_engine()
        now = datetime.now(UTC)
        summary = store.queue_summary(engine)
        by_state = _gauge("api_ml_cases", "Cases in the store, by state.", labels=["state"])
        for state in STATES:
            by_state.add_metric([state], summary["by_state"].get(state, 0))
        yield by_state
        oldest = summary["oldest_active"]
        yield _gauge(
            "api_ml_case_oldest_active_age_seconds",
            "Age of the oldest open, assigned or escalated case (0 when none).",
            (now - oldest).total_seconds() if oldest else 0.0,
        )
        decided = _gauge(
            "api_ml_case_decisions",
            "Cases decided, by analyst and outcome.",
            labels=["analyst", "outcome"],
        )
        closed = {"confirmed_fraud": 0, "legitimate": 0}
        for analyst, state, count in store.decision_counts(engine):
            decided.add_metric([analyst, state], count)
            if state in closed:
                closed[state] += count
        yield decided
        total = sum(closed.values())
        yield _gauge(
            "api_ml_case_review_precision",
            "Confirmed fraud among closed cases (NaN before the first one).",
            closed["confirmed_fraud"] / total if total else float("nan"),
        )
        reviews = store.reviews_since(engine, now - timedelta(days=1))
        yield _gauge(
            "api_ml_case_capacity_used_ratio",
            "Review cases of the last 24 h over LAKEHOUSE_REVIEW_CAPACITY_PER_DAY.",
            reviews / self.capacity if self.capacity else float("inf"),
        )
