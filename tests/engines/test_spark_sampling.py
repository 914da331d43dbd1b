"""Negative downsampling in the engine (`lakehouse.ml.sampling`): every positive kept, the
negatives thinned to a rate r and weighted 1/r, so the weighted base rate and weighted counts
match the full table's; the same rows on DuckDB and on Spark; bad rates refused.

The table is synthetic (40 000 labeled rows, 2 % positives, some unlabeled rows); the tolerance
on the weighted base rate (4 %) is about three standard errors of the kept-negative count for
r = 0.2 — the sample is a fixed hash of the ids, so the test is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from testkit import local_spark_engine

from lakehouse import catalog, storage
from lakehouse.config import Settings, get_settings
from lakehouse.engines import get_engine
from lakehouse.engines.base import Engine, TableLike
from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.ml.sampling import WEIGHT_COLUMN, choose_rate, downsample_sql

ROWS = 40_000
RATE = 0.2


# ------------------------------------------------------------ the sample, run in an engine --
# How a caller would run `downsample_sql` and read the weighted sample back (training runs the
# SQL inside its own DuckDB session instead): kept here, where they are used.

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



@pytest.fixture(scope="module")
def features() -> pa.Table:
    rng = np.random.default_rng(11)
    labels = (rng.random(ROWS) < 0.02).astype("int32")
    label = pa.array(labels, pa.int32(), mask=rng.random(ROWS) < 0.1)  # 10 % unlabeled
    return pa.table({
        "transaction_id": pa.array(np.arange(7_000_000, 7_000_000 + ROWS), pa.int64()),
        "amount": pa.array(rng.gamma(2.0, 30.0, ROWS)),
        "label": label,
    })


def _check_sample(full: pa.Table, sample: pa.Table) -> None:
    labeled = full.filter(pa.compute.is_valid(full["label"]))
    positives = pa.compute.sum(labeled["label"]).as_py()
    negatives = labeled.num_rows - positives
    kept = sample.filter(pa.compute.equal(sample["label"], 0)).num_rows
    # All positives, about r of the negatives, nothing unlabeled.
    assert pa.compute.sum(sample["label"]).as_py() == positives
    assert sample["label"].null_count == 0
    assert kept == pytest.approx(RATE * negatives, rel=0.05)
    # The weights restore the full table: counts and base rate.
    assert pa.compute.sum(sample[WEIGHT_COLUMN]).as_py() == pytest.approx(labeled.num_rows,
                                                                          rel=0.04)
    rate = weighted_base_rate(sample["label"], sample[WEIGHT_COLUMN])
    assert rate == pytest.approx(positives / labeled.num_rows, rel=0.04)
    # ... while the unweighted sample's base rate is inflated about 1/r times.
    assert pa.compute.mean(sample["label"]).as_py() > 3 * positives / labeled.num_rows


def test_duckdb_sample_keeps_positives_and_weights_negatives(features: pa.Table) -> None:
    sample = downsample(DuckDBEngine(threads=1), features, RATE)
    assert sample.schema.field(WEIGHT_COLUMN).type == pa.float64()
    _check_sample(features, sample)


def test_the_rate_and_its_bounds() -> None:
    assert choose_rate(100, 1_000_000, 40) == pytest.approx(0.004)
    assert choose_rate(100, 1_000, 40) == 1.0
    assert choose_rate(100, 1_000_000, 40, max_rows=1_100) == pytest.approx(0.001)
    for bad in (0, -0.5, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"\(0, 1\]"):
            downsample_sql("t", bad)


def test_label_counts_ignore_unlabeled_rows(features: pa.Table) -> None:
    positives, negatives = label_counts(DuckDBEngine(threads=1), features)
    assert positives + negatives == ROWS - features["label"].null_count


@pytest.fixture(scope="module")
def spark_engine() -> Iterator[object]:
    yield from local_spark_engine()


@pytest.mark.spark
def test_spark_keeps_exactly_the_rows_duckdb_keeps(features: pa.Table, spark_engine) -> None:  # type: ignore[no-untyped-def]
    on_spark = downsample(spark_engine, features, RATE).sort_by("transaction_id")
    on_duckdb = downsample(DuckDBEngine(threads=1), features, RATE).sort_by("transaction_id")
    assert on_spark.equals(on_duckdb)
    _check_sample(features, on_spark)


@pytest.mark.spark
def test_sample_features_from_the_delta_table(features: pa.Table, spark_engine,  # type: ignore[no-untyped-def]
                                              tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)  # type: ignore[call-arg]
    storage.write(catalog.location("ml_features", settings), features, settings=settings)
    frames = {name: sample_features(settings, engine_name=name, negatives_per_positive=10)
              for name in ("duckdb", "spark")}
    for frame in frames.values():
        assert set(frame.columns) == {"transaction_id", "amount", "label", WEIGHT_COLUMN}
        positives = int(frame["label"].sum())
        weighted = float((frame[WEIGHT_COLUMN] * frame["label"]).sum() / frame[WEIGHT_COLUMN].sum())
        assert weighted == pytest.approx(positives / (ROWS - features["label"].null_count),
                                         rel=0.05)
    assert sorted(frames["spark"]["transaction_id"]) == sorted(frames["duckdb"]["transaction_id"])
