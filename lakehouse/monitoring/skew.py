"""Online/offline skew: the features the scoring API computed against their gold rows.

The scoring API logs a sample of the model inputs it computed, keyed by `transaction_id`
(`lakehouse.monitoring.store.feature_samples`). Once the pipeline has ingested those
transactions, `run` reads the samples of the last `SKEW_DAYS` days, fetches the same
transactions' rows of `gold/ml_features` (DuckDB over the Delta snapshot, joined on the
sampled ids only) and compares every logged feature: equal when both are missing or within
1e-9 (relative and absolute, the replay parity's tolerance). Samples whose transaction is
not in gold yet wait for a later run.

The report gives, per feature, the rows compared, the mismatches and example rows
(transaction id, online value, gold value); `lakehouse monitor skew` prints it and exits 1
on any mismatch, and the orchestrator exports the rates after each run
(`pipeline_feature_skew_ratio{feature}`, alert `FeatureSkew`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.engines.duckdb import session
from lakehouse.monitoring import store

SKEW_DAYS = 7
TOLERANCE = 1e-9
EXAMPLES = 5


@dataclass
class FeatureSkew:
    """One feature's comparison: rows compared, mismatches, a few mismatching rows."""

    feature: str
    compared: int
    mismatched: int
    examples: list[tuple[int, float | None, float | None]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Share of the compared rows whose served value differs from gold (0.0: none compared)."""
        return self.mismatched / self.compared if self.compared else 0.0


@dataclass
class SkewReport:
    """The whole comparison: samples read, those with a gold row, one entry per feature."""

    samples: int
    matched: int
    features: list[FeatureSkew]

    @property
    def skewed(self) -> list[FeatureSkew]:
        """Features with at least one mismatch, worst first."""
        return sorted((f for f in self.features if f.mismatched), key=lambda f: -f.rate)


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def compare(samples: pd.DataFrame, gold: pd.DataFrame) -> SkewReport:
    """Compare logged feature vectors with gold rows.

    Args:
        samples: `store.read_samples` output (transaction_id, features dict, ...).
        gold: gold `ml_features` rows of (some of) those transactions.

    Returns:
        The per-feature report over the samples that have a gold row.
    """
    gold = gold.drop_duplicates("transaction_id").set_index("transaction_id")
    present = samples[samples["transaction_id"].isin(gold.index)]
    online = pd.DataFrame(list(present["features"]), index=present["transaction_id"].to_numpy())
    features = []
    for column in [c for c in online.columns if c in gold.columns]:
        served = online[column].astype("float64").to_numpy()
        expected = gold.loc[online.index, column].astype("float64").to_numpy()
        same = (np.isnan(served) & np.isnan(expected)) | np.isclose(
            served, expected, rtol=TOLERANCE, atol=TOLERANCE
        )
        wrong = np.flatnonzero(~same)
        features.append(
            FeatureSkew(
                column,
                len(same),
                len(wrong),
                [
                    (int(online.index[i]), _number(served[i]), _number(expected[i]))
                    for i in wrong[:EXAMPLES]
                ],
            )
        )
    return SkewReport(samples=len(samples), matched=len(present), features=features)


def gold_rows(settings: Settings, transaction_ids: list[int]) -> pd.DataFrame:
    """The `gold/ml_features` rows of these transactions.

    Args:
        settings: where the lake is.
        transaction_ids: the sampled transactions.

    Returns:
        Their gold rows, all columns; an empty frame with `transaction_id` only before the
        first run or for no ids.
    """
    uri = catalog.location("ml_features", settings)
    if not transaction_ids or not storage.exists(uri, settings):
        return pd.DataFrame({"transaction_id": pd.Series(dtype="int64")})
    wanted = pa.table({"transaction_id": pa.array(transaction_ids, pa.int64())})
    inputs = {"ml_features": storage.read_dataset(uri, settings), "wanted": wanted}
    with session(inputs, settings) as connection:
        return connection.execute(
            "SELECT f.* FROM ml_features f JOIN wanted USING (transaction_id)"
        ).df()


def run(settings: Settings, days: int = SKEW_DAYS, now: datetime | None = None) -> SkewReport:
    """Compare the samples of the last `days` days with gold; older samples are deleted.

    Args:
        settings: where the monitoring database and the lake are.
        days: how many days of online samples to compare.
        now: the current time (default: now, UTC).

    Returns:
        The skew report: samples read, samples found in gold, mismatches per feature.
    """
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    engine = store.monitor_engine(settings)
    try:
        store.prune_samples(engine, since)
        samples = store.read_samples(engine, since)
    finally:
        engine.dispose()
    ids = sorted({int(i) for i in samples["transaction_id"]})
    return compare(samples, gold_rows(settings, ids))
