"""Model monitoring off the request path: a bounded queue and one background worker.

`scoring.score` makes one call per scored batch, `Monitor.record`, which only puts the batch
(flavour, model, its inputs, its scores, the requests) on a bounded queue — O(1); when the
queue is full the batch is dropped and counted in `api_ml_monitor_dropped_total` rather than
slowing a request down. The worker thread, started and stopped with the app, hands each batch
to the monitors: drift (`drift.py`, PSI gauges per feature). The freshness gauges
(`freshness.py`) need no queue: they read the served snapshot when Prometheus scrapes.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry, Counter

from api_ml.api.drift import DriftMonitor
from api_ml.api.freshness import FreshnessCollector
from lakehouse.config import Settings

logger = logging.getLogger("lakehouse.api_ml.monitor")


@dataclass(frozen=True)
class ScoredBatch:
    """What one model call saw and answered, as the monitors need it."""

    flavour: str
    model: Any  # lakehouse.ml.registry.LoadedModel
    inputs: pd.DataFrame
    scores: np.ndarray
    requests: Sequence[Any]  # the validated TransactionRequest objects, in input order


class Monitor:
    """The scoring API's model monitors behind one bounded queue."""

    def __init__(
        self, settings: Settings, registry: CollectorRegistry, snapshot: Callable[[], Any]
    ) -> None:
        self.freshness = FreshnessCollector(snapshot)
        registry.register(self.freshness)
        self.drift = DriftMonitor(
            settings.drift_window, settings.drift_window_seconds, settings.drift_min_rows
        )
        registry.register(self.drift)
        self.dropped = Counter(
            "api_ml_monitor_dropped_total",
            "Scored batches the monitors skipped because their queue was full.",
            registry=registry,
        )
        self._queue: queue.Queue[ScoredBatch | None] = queue.Queue(settings.monitor_queue)
        self._worker: threading.Thread | None = None

    def record(
        self,
        flavour: str,
        model: Any,
        inputs: pd.DataFrame,
        scores: Sequence[float],
        requests: Sequence[Any],
    ) -> None:
        """Queue a scored batch for the monitors; never blocks the caller."""
        batch = ScoredBatch(flavour, model, inputs, np.asarray(scores, dtype="float64"), requests)
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            self.dropped.inc()

    def start(self) -> None:
        """Start the worker (idempotent)."""
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._run, name="model-monitor", daemon=True)
            self._worker.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Let the worker finish what is queued, then stop it."""
        if self._worker is not None and self._worker.is_alive():
            self._queue.put(None)
            self._worker.join(timeout)
        self._worker = None

    def join(self) -> None:
        """Wait until every queued batch was handled (tests, shutdown)."""
        self._queue.join()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            try:
                if batch is None:
                    return
                self.handle(batch)
            except Exception:  # a monitor bug must never stop the monitoring thread
                logger.exception("model monitor failed on a %s batch", batch and batch.flavour)
            finally:
                self._queue.task_done()

    def handle(self, batch: ScoredBatch) -> None:
        """Feed one batch to every monitor."""
        self.drift.update(batch.flavour, batch.model, batch.inputs, batch.scores)
