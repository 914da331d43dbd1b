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

Training (`train.load_windows`) samples its training window with this module's SQL
(`choose_rate`, then `downsample_sql`) and drops the weights: the model is calibrated on the
complete validation window instead.

Data arrives as the feature table (a Delta location, or any `TableLike` the engines accept)
and leaves as an Arrow table or a pandas DataFrame with one extra column `sample_weight`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from lakehouse import catalog, storage
from lakehouse.config import Settings, get_settings
from lakehouse.engines import get_engine
from lakehouse.engines.base import Engine, TableLike

if TYPE_CHECKING:
    import pandas as pd

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


def downsample(engine: Engine, table: TableLike, rate: float, *,
               relation: str = "ml_features", **options: object) -> pa.Table:
    """Run `downsample_sql` on `engine` over `table`; only the sample leaves the engine.

    Args:
        engine: DuckDB or Spark.
        table: the feature table.
        rate: the keep rate of negatives.
        relation: the table's name in the query.
        **options: `downsample_sql`'s keyword arguments.

    Returns:
        The sample, with `sample_weight`.
    """
    sql = downsample_sql(relation, rate, **options)  # type: ignore[arg-type]
    return engine.run_sql(sql, {relation: table})


def label_counts(engine: Engine, table: TableLike, *, relation: str = "ml_features",
                 label: str = "label") -> tuple[int, int]:
    """(positives, negatives) among the labeled rows, counted in the engine.

    Args:
        engine: DuckDB or Spark.
        table: the feature table.
        relation: the table's name in the query.
        label: the 0/1 label column.

    Returns:
        `(positives, negatives)`.
    """
    counts = engine.run_sql(
        f"SELECT CAST(COALESCE(SUM(CASE WHEN {label} = 1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS p, "
        f"CAST(COUNT({label}) AS BIGINT) AS n FROM {relation}", {relation: table},
    ).to_pylist()[0]
    return int(counts["p"]), int(counts["n"]) - int(counts["p"])


def weighted_base_rate(labels: Sequence[int] | pa.Array, weights: Sequence[float] | pa.Array,
                       ) -> float:
    """Σ w·y / Σ w: the fraud rate of the full table, estimated from the weighted sample.

    Args:
        labels: the sample's 0/1 labels.
        weights: their `sample_weight`.

    Returns:
        The estimated rate (NaN for an empty sample).
    """
    ys = labels.to_pylist() if isinstance(labels, pa.Array | pa.ChunkedArray) else list(labels)
    ws = weights.to_pylist() if isinstance(weights, pa.Array | pa.ChunkedArray) else list(weights)
    total = sum(ws)
    return sum(w * y for w, y in zip(ws, ys, strict=True)) / total if total else float("nan")


def sample_features(settings: Settings | None = None, *, engine_name: str | None = None,
                    negatives_per_positive: float = 40.0, max_rows: int | None = 2_000_000,
                    columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The downsampled, weighted labeled rows of `gold/ml_features` as pandas.

    On Spark the table is scanned by the executors (`read_delta`) and only the sample is
    collected to the driver; on DuckDB the Delta files are streamed.

    Args:
        settings: the platform settings; None means `get_settings()`.
        engine_name: `duckdb` or `spark` (None: `Settings.engine`).
        negatives_per_positive: the target ratio in the sample.
        max_rows: a cap on the sample's size.
        columns: the columns kept (None: all).

    Returns:
        The sample, with `sample_weight`.
    """
    settings = settings or get_settings()
    engine = get_engine(engine_name or settings.engine)
    uri = catalog.location("ml_features", settings)
    table: object
    if engine.name == "spark":
        from lakehouse.storage.spark_delta import read_delta  # PySpark: the `spark` extra

        session = engine.session.newSession()  # type: ignore[attr-defined]
        table = read_delta(session, uri, settings)
        positives, negatives = _spark_counts(table)
        rate = choose_rate(positives, negatives, negatives_per_positive, max_rows)
        sql = downsample_sql("ml_features", rate, columns=columns)
        frame = engine.dataframe(sql, {"ml_features": table}, session)  # type: ignore[attr-defined]
        return frame.toArrow().to_pandas()
    table = storage.read_dataset(uri, settings)
    positives, negatives = label_counts(engine, table)  # type: ignore[arg-type]
    rate = choose_rate(positives, negatives, negatives_per_positive, max_rows)
    return downsample(engine, table, rate, columns=columns).to_pandas()  # type: ignore[arg-type]


def _spark_counts(frame: object) -> tuple[int, int]:
    from pyspark.sql import functions as F

    row = frame.agg(  # type: ignore[attr-defined]
        F.sum(F.when(F.col("label") == 1, 1).otherwise(0)).alias("p"),
        F.count("label").alias("n"),
    ).collect()[0]
    positives = int(row["p"] or 0)
    return positives, int(row["n"]) - positives
