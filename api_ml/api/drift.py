"""Live drift of the model's inputs and score: PSI over a sliding window, as Prometheus gauges.

The background worker of `monitor.py` hands every scored batch to `DriftMonitor.update`
(never the request itself). Each flavour keeps a `DriftWindow`: the bin of every input and
of the score for the last `LAKEHOUSE_DRIFT_WINDOW` scored transactions no older than
`LAKEHOUSE_DRIFT_WINDOW_SECONDS`, as running counts per bin, with the fixed bins the model
was trained with (`lakehouse.ml.psi`). When Prometheus scrapes `/metrics`,
`collect` turns the counts into `api_ml_drift_psi{flavour, feature}` (the score is the
feature `fraud_probability`) — O(features x bins), no request ever pays for it. A window
with fewer than `LAKEHOUSE_DRIFT_MIN_ROWS` rows exports no PSI: ten requests are noise.
A new model version starts a new window (its bins are its own).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator

import numpy as np
import pandas as pd
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from lakehouse.ml import psi


class DriftWindow:
    """Bin counts of one model's recent traffic, updated as rows enter and leave."""

    def __init__(self, reference: psi.Reference, version: str, rows: int, seconds: float):
        self.reference = reference
        self.version = version
        self.max_rows = rows
        self.max_age = seconds
        self.features = reference.features
        self._edges = [reference.edges[f] for f in self.features]
        width = max(len(e) for e in self._edges) + 2
        self.counts = np.zeros((len(self.features), width), dtype="int64")
        # The counted rows' bins, oldest first, one entry per added batch: (its time, its rows).
        self._batches: deque[tuple[float, np.ndarray]] = deque()
        self._size = 0
        self._positions = np.arange(len(self.features))

    def add(self, inputs: pd.DataFrame, scores: np.ndarray, now: float) -> None:
        """Count these scored rows, then evict what falls out of the window.

        Args:
            inputs: the model's input frame (columns by feature name).
            scores: their fraud probabilities, same order.
            now: the monotonic time of the batch.
        """
        inputs_only = [name for name in self.features if name != psi.SCORE]
        matrix = inputs[inputs_only].to_numpy("float64", na_value=np.nan)  # one pandas call
        by_name = dict(zip(inputs_only, matrix.T, strict=True)) | {psi.SCORE: scores}
        columns = [by_name[name] for name in self.features]
        bins = np.stack(
            [psi.bin_index(e, c) for e, c in zip(self._edges, columns, strict=True)], axis=1
        )
        self.counts += self._tally(bins)
        self._batches.append((now, bins))
        self._size += len(bins)
        self.evict(now)

    def evict(self, now: float) -> None:
        """Forget rows beyond the window's size or age.

        Args:
            now: the monotonic time the age is measured from.
        """
        gone = []
        while self._batches:
            added_at, bins = self._batches[0]
            excess = self._size - self.max_rows
            if added_at >= now - self.max_age and excess < len(bins):
                if excess > 0:  # the oldest rows of this batch leave, the rest stays
                    gone.append(bins[:excess])
                    self._batches[0] = (added_at, bins[excess:])
                    self._size -= excess
                break
            gone.append(self._batches.popleft()[1])
            self._size -= len(bins)
        if gone:  # one vectorised update: a full window evicts a row per row it adds
            self.counts -= self._tally(np.concatenate(gone))

    def _tally(self, bins: np.ndarray) -> np.ndarray:
        """How many of these rows fall in each (feature, bin) cell, shaped as `counts`
        (one `bincount`: `np.add.at` costs six times as much on a 1,000-row batch)."""
        cells = (bins + self._positions * self.counts.shape[1]).ravel()
        return np.bincount(cells, minlength=self.counts.size).reshape(self.counts.shape)

    @property
    def size(self) -> int:
        """Rows now in the window."""
        return self._size

    def values(self) -> dict[str, float]:
        """PSI per feature (and for the score) of the rows in the window.

        Returns:
            Feature name (and `fraud_probability`) to its PSI against the training bins.
        """
        return {
            name: psi.psi(self.reference.expected[name], self.counts[i, : len(e) + 2])
            for i, (name, e) in enumerate(zip(self.features, self._edges, strict=True))
        }


class DriftMonitor(Collector):
    """One `DriftWindow` per flavour; a Prometheus collector of their PSI."""

    def __init__(self, rows: int, seconds: float, min_rows: int) -> None:
        self.rows, self.seconds, self.min_rows = rows, seconds, min_rows
        self.windows: dict[str, DriftWindow] = {}
        self._lock = threading.Lock()

    def update(self, flavour: str, model: object, inputs: pd.DataFrame, scores: np.ndarray) -> None:
        """Count a scored batch of `model` (a `LoadedModel`); models without bins are skipped.

        A new model version of the flavour starts a new, empty window.

        Args:
            flavour: `basic` or `full`.
            model: the model that scored (its `drift_reference` and `version`).
            inputs: the batch's model inputs.
            scores: their fraud probabilities.
        """
        stored = getattr(model, "drift_reference", None)
        if not stored:
            return
        version = str(getattr(model, "version", ""))
        with self._lock:
            window = self.windows.get(flavour)
            if window is None or window.version != version:
                window = DriftWindow(
                    psi.Reference.from_dict(stored), version, self.rows, self.seconds
                )
                self.windows[flavour] = window
            window.add(inputs, np.asarray(scores, dtype="float64"), time.monotonic())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The drift gauges at a scrape (Prometheus `Collector` protocol), after evicting old rows.

        Yields:
            PSI by flavour and feature (windows with at least `min_rows` rows), then window sizes.
        """
        drift = GaugeMetricFamily(
            "api_ml_drift_psi",
            "Population stability index of each model input (and of the score, feature="
            "fraud_probability) over the recent scoring window, against the training bins.",
            labels=["flavour", "feature"],
        )
        size = GaugeMetricFamily(
            "api_ml_drift_window_rows",
            "Scored transactions in the drift window, by flavour.",
            labels=["flavour"],
        )
        with self._lock:
            now = time.monotonic()
            for flavour, window in self.windows.items():
                window.evict(now)
                size.add_metric([flavour], window.size)
                if window.size >= self.min_rows:
                    for feature, value in window.values().items():
                        drift.add_metric([flavour, feature], value)
        yield drift
        yield size
