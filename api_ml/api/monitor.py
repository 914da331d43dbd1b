"""Model monitoring off the request path: a bounded queue and one background worker.

`scoring.score` makes one call per scored batch, `Monitor.record`, which only puts the batch
(flavour, model, its inputs, its scores, the requests) on a bounded queue — O(1); when the
queue is full the batch is dropped and counted in `api_ml_monitor_dropped_total` rather than
slowing a request down. The worker thread, started and stopped with the app, hands each batch
to the monitors: drift (`drift.py`, PSI gauges per feature) and the feature samples of the
skew job (`LAKEHOUSE_SKEW_SAMPLE_RATE` of the transactions scored with a `transaction_id`,
their model inputs written to `lakehouse.monitoring.store`) and the shadow challenger
(`shadow.py`, both scores written to the same store). The freshness gauges
(`freshness.py`) need no queue: they read the served snapshot when Prometheus scrapes.
"""

from __future__ import annotations

import functools
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy.engine import Engine

from api_ml.api.drift import DriftMonitor
from api_ml.api.freshness import FreshnessCollector
from api_ml.api.shadow import ShadowScorer
from lakehouse.config import Settings
from lakehouse.monitoring import store

logger = logging.getLogger("lakehouse.api_ml.monitor")
DRAIN_MAX = 1_000  # queued batches handled in one pass of the worker
# The worker waits this long after a wake-up before draining. A pass costs ~1.5 ms of CPU
# plus ~10 us a row, holding the GIL the event loop needs: at 1,500 req/s, 0.05 s made ~15
# passes a second (4.5 % of a core), 0.25 s makes 4 (1.5 %; docs/benchmarks.md). The drift
# gauges are scraped every 15 s: a quarter second later changes nothing for them.
COALESCE_SECONDS = 0.25


@dataclass(frozen=True)
class ScoredBatch:
    """What one model call saw and answered, as the monitors need it.

    `matrix` is the model's float64 input matrix (its `feature_columns` order), as the
    request path built it; `inputs` is the same as a frame, built only here, off that path.
    """

    flavour: str
    model: Any  # lakehouse.ml.registry.LoadedModel
    matrix: np.ndarray
    scores: np.ndarray
    requests: Sequence[Any]  # the validated TransactionRequest objects, in input order

    @functools.cached_property
    def inputs(self) -> pd.DataFrame:
        """The inputs by column name (for the drift bins and the challenger)."""
        return pd.DataFrame(self.matrix, columns=list(self.model.feature_columns))


def _merged(batches: list[ScoredBatch]) -> Iterator[ScoredBatch]:
    """Consecutive batches of one flavour and model joined into one, in arrival order."""
    for (flavour, _), group in itertools.groupby(batches, key=lambda b: (b.flavour, id(b.model))):
        parts = list(group)
        if len(parts) == 1:
            yield parts[0]
            continue
        yield ScoredBatch(
            flavour,
            parts[0].model,
            np.concatenate([b.matrix for b in parts]),
            np.concatenate([b.scores for b in parts]),
            [r for b in parts for r in b.requests],
        )


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
        self.settings = settings
        self.shadow = ShadowScorer(settings, registry)
        self._store: Engine | None = None
        self._queue: queue.Queue[ScoredBatch | None] = queue.Queue(settings.monitor_queue)
        self._worker: threading.Thread | None = None

    def record(
        self,
        flavour: str,
        model: Any,
        matrix: np.ndarray,
        scores: Sequence[float],
        requests: Sequence[Any],
    ) -> None:
        """Queue a scored batch for the monitors; never blocks the caller.

        Args:
            flavour: "basic" or "full".
            model: the `LoadedModel` that scored it.
            matrix: its float64 inputs in `model.feature_columns` order.
            scores: the probabilities answered.
            requests: the validated requests, in row order.
        """
        batch = ScoredBatch(flavour, model, matrix, np.asarray(scores, dtype="float64"), requests)
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
        """Let the worker finish what is queued, then stop it and close the monitor DB.

        Args:
            timeout: seconds to wait for the worker to drain the queue.
        """
        if self._worker is not None and self._worker.is_alive():
            self._queue.put(None)
            self._worker.join(timeout)
        self._worker = None
        if self._store is not None:
            self._store.dispose()
            self._store = None

    def join(self) -> None:
        """Wait until every queued batch was handled (tests, shutdown)."""
        self._queue.join()

    def _run(self) -> None:
        while True:
            taken = [self._queue.get()]
            # Let a burst gather first: one wake-up (and one vectorised pass) per interval
            # instead of a thread switch per request, which would compete with the event loop.
            if taken[0] is not None:
                time.sleep(COALESCE_SECONDS)
            # Everything already queued is handled together: one vectorised pass (and one
            # challenger call, one DB write) for many single-transaction requests.
            while len(taken) < DRAIN_MAX:
                try:
                    taken.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                for merged in _merged([b for b in taken if b is not None]):
                    self.handle(merged)
            except Exception:  # a monitor bug must never stop the monitoring thread
                logger.exception("model monitor failed on %d queued batches", len(taken))
            finally:
                for _ in taken:
                    self._queue.task_done()
            if None in taken:
                return

    def handle(self, batch: ScoredBatch) -> None:
        """Feed one batch to every monitor: drift, skew samples and the challenger's shadow scores.

        Args:
            batch: a scored batch (consecutive batches of one model already merged).
        """
        self.drift.update(batch.flavour, batch.model, batch.inputs, batch.scores)
        self._log_samples(batch)
        shadowed = self.shadow.rows(batch)
        if shadowed:
            store.write_shadow(self._engine(), shadowed)

    def _engine(self) -> Engine:
        if self._store is None:  # created on first use: a service that logs nothing opens nothing
            self._store = store.monitor_engine(self.settings)
        return self._store

    def _log_samples(self, batch: ScoredBatch) -> None:
        """Log the inputs of the sampled transactions for the skew job (`feature_samples`)."""
        ids = [getattr(r, "transaction_id", None) for r in batch.requests]
        given = [i for i, tid in enumerate(ids) if tid is not None]
        if not given:
            return
        kept = store.sampled_many(np.array([ids[i] for i in given]), self.settings.skew_sample_rate)
        picked = [(i, ids[i]) for i, keep in zip(given, kept.tolist(), strict=True) if keep]
        if not picked:
            return
        columns = list(batch.model.feature_columns)
        values = batch.matrix
        now = datetime.now(UTC)
        store.write_samples(
            self._engine(),
            [
                {
                    "transaction_id": int(tid),
                    "flavour": batch.flavour,
                    "model_version": str(batch.model.version),
                    "scored_at": now,
                    "features": {
                        c: None if v != v else v  # NaN: missing
                        for c, v in zip(columns, values[i].tolist(), strict=True)
                    },
                }
                for i, tid in picked
            ],
        )
