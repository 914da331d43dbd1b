"""Negative downsampling in the engine (`lakehouse.ml.sampling`): every positive kept, the
negatives thinned to a rate r and weighted 1/r, so the weighted base rate and weighted counts
match the full table's; the same rows on DuckDB and on Spark; bad rates refused.

The table is synthetic (40 000 labeled rows, 2 % positives, some unlabeled rows); the tolerance
on the weighted base rate (4 %) is about three standard errors of the kept-negative count for
r = 0.2 — the sample is a fixed hash of the ids, so the test is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from testkit import local_spark_engine

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.ml.sampling import (
    WEIGHT_COLUMN,
    choose_rate,
    downsample,
    downsample_sql,
    label_counts,
    sample_features,
    weighted_base_rate,
)

ROWS = 40_000
RATE = 0.2


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
