"""Population stability index (PSI) on fixed bins: how far live inputs drifted from training.

At training (`lakehouse.ml.tracking`), `reference` cuts every model input and the score of
the held-out test window — the latest labeled period, scored by the model just trained —
into fixed bins at its deciles, plus one bin for missing values, and records the share of
rows in each. That reference is stored with the model (`metadata.json`, key
`drift_reference`). The scoring API (`api_ml/api/drift.py`) counts its recent traffic in the
same bins and computes, per feature,

    PSI = sum over bins of (live share - reference share) * ln(live share / reference share)

Conventional reading: below 0.1 stable, 0.1-0.25 moderate shift, above 0.25 a significant
shift (the alert threshold, docs/monitoring.md). Shares are floored at `EPSILON` so an empty
bin gives a large but finite term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

BINS = 10
EPSILON = 1e-4
SCORE = "fraud_probability"  # the score's name among the features of a reference


@dataclass(frozen=True)
class Reference:
    """Bin edges and reference shares per feature (the score under `SCORE`)."""

    edges: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]
    rows: int

    @property
    def features(self) -> list[str]:
        """The binned inputs (and `SCORE`)."""
        return list(self.edges)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form stored in the model's metadata.

        Returns:
            `{"bins", "rows", "features": {name: {"edges", "expected"}}}`.
        """
        return {
            "bins": BINS,
            "rows": self.rows,
            "features": {
                name: {"edges": self.edges[name].tolist(), "expected": self.expected[name].tolist()}
                for name in self.edges
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reference:
        """Rebuild a reference from `as_dict`'s form (the model's metadata).

        Args:
            data: what `as_dict` returned.

        Returns:
            The reference.
        """
        features = data["features"]
        return cls(
            edges={n: np.asarray(f["edges"], dtype="float64") for n, f in features.items()},
            expected={n: np.asarray(f["expected"], dtype="float64") for n, f in features.items()},
            rows=int(data["rows"]),
        )


def bin_index(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The bin of each value: 0..len(edges) by the edges, len(edges)+1 for a missing value.

    Args:
        edges: the bin edges, ascending.
        values: the values (NaN for missing).

    Returns:
        One bin index per value.
    """
    values = np.asarray(values, dtype="float64")
    index = np.searchsorted(edges, values, side="right")
    return np.where(np.isnan(values), len(edges) + 1, index)


def shares(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The share of `values` in each bin of `edges` (missing values last).

    Args:
        edges: the bin edges, ascending.
        values: the values (NaN for missing).

    Returns:
        `len(edges) + 2` shares summing to 1 (all 0 for no values).
    """
    counts = np.bincount(bin_index(edges, values), minlength=len(edges) + 2)
    return counts / max(int(counts.sum()), 1)


def _edges(values: np.ndarray) -> np.ndarray:
    present = values[~np.isnan(values)]
    if not len(present):
        return np.empty(0)
    # Deciles, deduplicated: a flag or a rare count has fewer distinct cut points.
    return np.unique(np.quantile(present, np.linspace(0, 1, BINS + 1)[1:-1]))


def reference(frame: pd.DataFrame, columns: list[str], scores: np.ndarray) -> Reference:
    """Fixed bins and shares for every model input of `frame` and for the `scores`.

    Args:
        frame: the rows the model was evaluated on (its inputs as numbers).
        columns: the model's input columns.
        scores: the model's probabilities for those rows.

    Returns:
        The reference to store with the model.
    """
    data = {c: frame[c].astype("float64").to_numpy(na_value=np.nan) for c in columns}
    data[SCORE] = np.asarray(scores, dtype="float64")
    edges = {name: _edges(values) for name, values in data.items()}
    expected = {name: shares(edges[name], values) for name, values in data.items()}
    return Reference(edges=edges, expected=expected, rows=len(frame))


def psi(expected: np.ndarray, counts: np.ndarray) -> float:
    """The PSI of live bin `counts` against reference shares `expected` (0 with no rows).

    Args:
        expected: the reference shares per bin.
        counts: live counts per bin, same bins.

    Returns:
        The population stability index.
    """
    total = counts.sum()
    if total <= 0:
        return 0.0
    actual = np.maximum(counts / total, EPSILON)
    base = np.maximum(expected, EPSILON)
    return float(np.sum((actual - base) * np.log(actual / base)))
