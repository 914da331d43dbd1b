"""Negative downsampling in the engine: a training set that fits one machine, weights corrected.

Fraud is rare (about one labeled transaction in a thousand), so the full feature table is
almost all negatives. When `gold/ml_features` no longer fits the training machine, the engine
that holds it — DuckDB streaming the Delta files, or Spark scanning them on its executors —
keeps **every positive** and a fraction `r` of the negatives, and only that sample is
collected to pandas. Each kept negative stands for `1/r` negatives, so it carries
`sample_weight = 1/r` (positives 1): weighted counts, the weighted base rate and a model
trained with these weights estimate what the full table would give.

The kept negatives are chosen by a hash of the transaction id, not a random draw: the same
rows on every run and on both engines (`KEEP_EXPRESSION` is plain integer arithmetic that
DuckDB and Spark evaluate identically), so a sample is reproducible and engine-independent.

Training (`training_data.load_windows`) samples its training window with this module's SQL
(`choose_rate`, then `downsample_sql`) and drops the weights: the model is calibrated on the
complete validation window instead.

The query is portable SQL that DuckDB and Spark run alike (tests/engines/test_spark_sampling.py
runs it on both and checks the weighted estimates against the full table).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

WEIGHT_COLUMN = "sample_weight"
# Knuth's multiplicative hash of the id, as a fraction in [0, 1): the id is reduced modulo a
# prime first so the product stays far inside BIGINT for any id.
KEEP_EXPRESSION = "(CAST((({key} % 1000003) * 2654435761) % 4294967296 AS DOUBLE) / 4294967296.0)"


def choose_rate(positives: int, negatives: int, negatives_per_positive: float = 40.0,
                max_rows: int | None = None) -> float:
    """The fraction of negatives to keep.

    About `negatives_per_positive` per positive, and no more than `max_rows` rows in all;
    1.0 when the table is already small enough.

    Args:
        positives: labeled frauds.
        negatives: labeled legitimate rows.
        negatives_per_positive: the target ratio in the sample.
        max_rows: a cap on the sample's size (None: none).

    Returns:
        The keep rate, in (0, 1].
    """
    if negatives <= 0:
        return 1.0
    rate = negatives_per_positive * max(positives, 1) / negatives
    if max_rows is not None:
        rate = min(rate, max(max_rows - positives, 1) / negatives)
    return float(min(1.0, max(rate, 1.0 / negatives)))


def downsample_sql(relation: str, rate: float, *, columns: Sequence[str] | None = None,
                   label: str = "label", key: str = "transaction_id",
                   where: str | None = None) -> str:
    """SELECT of the labeled rows of `relation`: all positives, negatives kept at `rate`.

    It adds `sample_weight` (1 for positives, 1/rate for negatives). Portable DuckDB/Spark
    SQL.

    Args:
        relation: the table's name in the query.
        rate: the keep rate of negatives (`choose_rate`).
        columns: the columns selected (None: all).
        label: the 0/1 label column; unlabeled rows are left out.
        key: the integer id the keep hash is computed from.
        where: an extra SQL predicate (e.g. a date range).

    Returns:
        The query text.

    Raises:
        ValueError: `rate` outside (0, 1].
    """
    if not (isinstance(rate, int | float) and math.isfinite(rate) and 0 < rate <= 1):
        raise ValueError(f"the negative sampling rate must be in (0, 1], not {rate!r}")
    select = ", ".join(columns) if columns else "*"
    keep = KEEP_EXPRESSION.format(key=key)
    extra = f" AND ({where})" if where else ""
    return (
        f"SELECT {select}, CAST(CASE WHEN {label} = 1 THEN 1.0 ELSE {1.0 / rate!r} END "
        f"AS DOUBLE) AS {WEIGHT_COLUMN} FROM {relation} "
        f"WHERE {label} IS NOT NULL{extra} AND ({label} = 1 OR {keep} < {float(rate)!r})"
    )
