"""`LoadedModel`'s predictions: the same numbers on one thread or many, and reasons of a
subset of rows equal to those of the whole batch."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from lakehouse.ml.registry import PARALLEL_ROWS, LoadedModel

COLUMNS = [f"f{i}" for i in range(6)]
# Enough rows for every kind to take LightGBM's threaded path too.
ROWS = 2 * max(PARALLEL_ROWS.values())


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    rng = np.random.default_rng(3)
    features = rng.normal(size=(3_000, len(COLUMNS)))
    features[rng.random(features.shape) < 0.1] = np.nan  # missing values take their own path
    target = (np.nan_to_num(features[:, 0]) + rng.normal(size=3_000) > 1).astype(int)
    params = {"objective": "binary", "num_leaves": 15, "verbose": -1}
    booster = lgb.train(params, lgb.Dataset(features, target), num_boost_round=40)
    return LoadedModel(
        name="m", version="1", flavour="full", feature_columns=COLUMNS,
        feature_set_version="test", threshold=0.5, metrics={}, data_versions={}, run_id="",
        trained_at="", booster=booster, calibration={"a": 0.9, "b": -0.1},
    )


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    matrix = np.random.default_rng(4).normal(size=(ROWS, len(COLUMNS)))
    matrix[::3, ::2] = np.nan
    return matrix


@pytest.mark.parametrize("kind", ["raw_score", "pred_contrib"])
def test_thread_counts_give_bit_identical_predictions(
    model: LoadedModel, rows: np.ndarray, kind: str
) -> None:
    threaded = model.booster.predict(rows, **{kind: True})
    alone = model.booster.predict(rows, num_threads=1, **{kind: True})
    assert np.array_equal(threaded, alone)
    for n in (1, 7, PARALLEL_ROWS[kind] - 1, PARALLEL_ROWS[kind], ROWS):
        # `_predict` on either side of the threshold answers what LightGBM's default does.
        assert np.array_equal(model._predict(rows[:n], kind), threaded[:n]), n


def test_scores_are_the_same_in_any_batch(model: LoadedModel, rows: np.ndarray) -> None:
    whole = model.predict_proba(rows)
    assert np.array_equal(np.concatenate([model.predict_proba(rows[i : i + 1]) for i in range(50)]),
                          whole[:50])


def test_reasons_of_a_subset_equal_those_of_the_whole_batch(
    model: LoadedModel, rows: np.ndarray
) -> None:
    everything = model.contributions(rows, top=3)
    assert len(everything) == ROWS and all(len(r) == 3 for r in everything)
    picks = [[], [5], [9, 2, 2, 40], list(range(0, ROWS, 3)), list(range(ROWS))]
    for picked in picks:
        assert model.contributions_of(rows, picked, top=3) == [everything[i] for i in picked]
    assert model.contributions_of(rows[:1], [0], top=2) == [everything[0][:2]]
