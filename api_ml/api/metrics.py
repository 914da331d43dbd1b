"""Scoring metrics, added to the service's Prometheus registry next to the HTTP ones.

`instrument_app` already counts and times every request; this module adds what only the
scoring API knows: how long the model itself takes per transaction, the distribution of the
scores it hands out, its decisions by flavour, and which model version is live (a gauge set
to 1 for the serving version, so Grafana can draw version changes over time).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SCORE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
MODEL_BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ScoringMetrics:
    """Prediction latency, score distribution, decisions and model version, by flavour."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.latency = Histogram(
            "api_ml_prediction_seconds",
            "Time to score one request (normalise, features, model), by flavour.",
            ["flavour"],
            buckets=MODEL_BUCKETS,
            registry=registry,
        )
        self.scores = Histogram(
            "api_ml_fraud_probability",
            "Distribution of the fraud probabilities returned, by flavour.",
            ["flavour"],
            buckets=SCORE_BUCKETS,
            registry=registry,
        )
        self.decisions = Counter(
            "api_ml_decisions_total",
            "Scored transactions by flavour and decision (fraud / legitimate).",
            ["flavour", "decision"],
            registry=registry,
        )
        self.groups = Histogram(
            "api_ml_predict_group_requests",
            "Requests to /predict answered by one scoring call: those that arrived together "
            "(api_ml/api/lean.py, `Coalescer`).",
            buckets=GROUP_BUCKETS,
            registry=registry,
        )
        self.model_info = Gauge(
            "api_ml_model_info",
            "1 for the model version being served, by flavour.",
            ["flavour", "name", "version"],
            registry=registry,
        )
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.online_errors = Counter(
            "api_ml_online_store_errors_total",
            "Online feature store calls that failed (read or write); the answer was degraded.",
            ["operation"],
            registry=registry,
        )
        self.reloads = Counter(
            "api_ml_model_reloads_total",
            "Model swaps, by flavour and outcome (loaded / failed).",
            ["flavour", "outcome"],
            registry=registry,
        )

    def observe(
        self,
        flavour: str,
        seconds: float,
        scores: list[float],
        decisions: list[bool],
        requests: int = 1,
    ) -> None:
        """Count one scored batch: its latency, each score and the fraud/legitimate decisions.

        Args:
            flavour: the model flavour that answered.
            seconds: the time the batch took to score.
            scores: the fraud probabilities.
            decisions: whether each transaction was called fraud.
            requests: how many requests the batch answered, each of which waited `seconds`
                (several `/predict` requests scored together: `routes.predict_together`).
        """
        latency = self._child(self.latency, flavour)
        for _ in range(requests):
            latency.observe(seconds)
        histogram = self._child(self.scores, flavour)
        for score in scores:
            histogram.observe(score)
        frauds = sum(decisions)
        if frauds:
            self._child(self.decisions, flavour, "fraud").inc(frauds)
        if len(decisions) - frauds:
            self._child(self.decisions, flavour, "legitimate").inc(len(decisions) - frauds)

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, looked up once: `labels()` takes a lock and builds a key
        on every call, a few microseconds of each request."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def serving(self, flavour: str, name: str, version: str | None, previous: str | None) -> None:
        """Point the served-model gauge at `version`, dropping the previous version's series.

        Args:
            flavour: the model flavour.
            name: its registered model name.
            version: the version now served, None when none is.
            previous: the version served before, None when none was.
        """
        if previous is not None and previous != version:
            self.model_info.remove(flavour, name, previous)
        if version is not None:
            self.model_info.labels(flavour, name, version).set(1)
