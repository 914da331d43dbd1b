"""Prometheus metrics of the pipeline (the HTTP services have theirs in `http.py`).

The orchestrator calls `PipelineMetrics.record(result)` after each stage; `lakehouse pipeline
serve` exposes the registry on `Settings.pipeline_metrics_port` (8000) for Prometheus to
scrape, and Grafana's pipeline dashboard reads these series. The first two names are the
original platform's, kept so its dashboards and alerts still work.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from lakehouse.observability.elasticsearch import ShippingCollector

STAGE_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class StageOutcome(Protocol):
    stage: str
    status: str
    rows_in: int
    rows_out: int
    seconds: float


# What the metrics read of the monitoring jobs' results (`lakehouse.monitoring.skew` and
# `.freshness`): described here, so observability sits below monitoring, not beside it.
class FeatureMismatch(Protocol):
    @property
    def feature(self) -> str: ...
    @property
    def rate(self) -> float: ...


class SkewFigures(Protocol):
    @property
    def matched(self) -> int: ...
    @property
    def features(self) -> Sequence[FeatureMismatch]: ...


class FreshnessFigures(Protocol):
    @property
    def gold_newest_transaction(self) -> datetime | None: ...
    @property
    def source_watermark_lag_seconds(self) -> float | None: ...
    @property
    def recent_label_known_ratio(self) -> float | None: ...


class PipelineMetrics:
    """The pipeline's series, in a registry of their own (several can live in one process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        # The pipeline ships its logs too: its losses are on its /metrics like a service's.
        self.registry.register(ShippingCollector())
        self.duration = Histogram(
            "pipeline_stage_duration_seconds",
            "Wall time of each pipeline stage run.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.status = Counter(
            "pipeline_stage_status_total",
            "Stage runs by final status (success, up_to_date, failed, skipped).",
            ["stage", "status"],
            registry=self.registry,
        )
        self.rows = Counter(
            "pipeline_rows_processed_total",
            "Rows read (direction=in) and written (direction=out) by each stage.",
            ["stage", "direction"],
            registry=self.registry,
        )
        self.last_success = Gauge(
            "pipeline_last_success_timestamp_seconds",
            "Unix time of the last successful (or already up-to-date) run of each stage.",
            ["stage"],
            registry=self.registry,
        )
        # Freshness of the model's data (lakehouse.monitoring.freshness), after each run.
        self.gold_newest = Gauge(
            "pipeline_gold_newest_transaction_timestamp_seconds",
            "Unix time of the newest transaction in gold/ml_features.",
            registry=self.registry,
        )
        self.watermark_lag = Gauge(
            "pipeline_source_watermark_lag_seconds",
            "Newest situation_date in the source system minus the newest in the lake.",
            registry=self.registry,
        )
        self.skew = Gauge(
            "pipeline_feature_skew_ratio",
            "Share of sampled scoring-time feature values differing from their gold row.",
            ["feature"],
            registry=self.registry,
        )
        self.skew_rows = Gauge(
            "pipeline_feature_skew_rows",
            "Sampled scoring-time feature vectors compared with gold by the last skew check.",
            registry=self.registry,
        )
        self.label_known = Gauge(
            "pipeline_recent_label_known_ratio",
            "Share of the last 30 days of transactions whose label is known.",
            registry=self.registry,
        )

    def record(self, outcome: StageOutcome) -> None:
        """Account one finished stage.

        A skipped stage counts only in the status counter; a success or an up-to-date stage
        also sets the stage's last-success time.

        Args:
            outcome: the stage's status, duration and rows in and out.
        """
        self.status.labels(outcome.stage, outcome.status).inc()
        if outcome.status == "skipped":
            return
        self.duration.labels(outcome.stage).observe(outcome.seconds)
        self.rows.labels(outcome.stage, "in").inc(outcome.rows_in)
        self.rows.labels(outcome.stage, "out").inc(outcome.rows_out)
        if outcome.status in ("success", "up_to_date"):
            self.last_success.labels(outcome.stage).set(time.time())

    def record_skew(self, report: SkewFigures) -> None:
        """Export the mismatch rate of every feature the skew job compared.

        Args:
            report: the skew check's figures (rows matched, rate per feature).
        """
        self.skew_rows.set(report.matched)
        for feature in report.features:
            self.skew.labels(feature.feature).set(feature.rate)

    def record_freshness(self, freshness: FreshnessFigures) -> None:
        """Export the freshness measured after a run (figures not measured keep their value).

        Args:
            freshness: newest gold transaction, source watermark lag and recent label ratio;
                None for a figure that was not measured.
        """
        if freshness.gold_newest_transaction is not None:
            newest = freshness.gold_newest_transaction
            stamp = newest.replace(tzinfo=newest.tzinfo or UTC).timestamp()
            self.gold_newest.set(stamp)
        if freshness.source_watermark_lag_seconds is not None:
            self.watermark_lag.set(freshness.source_watermark_lag_seconds)
        if freshness.recent_label_known_ratio is not None:
            self.label_known.set(freshness.recent_label_known_ratio)

    def serve(self, port: int, host: str = "0.0.0.0") -> None:
        """Serve `/metrics` on `port` from a background thread.

        Args:
            port: the TCP port to listen on.
            host: the address to bind.
        """
        start_http_server(port, addr=host, registry=self.registry)
