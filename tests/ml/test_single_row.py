"""`SingleRowPredictor` answers what `Booster.predict` answers, for one row, bit for bit."""

from __future__ import annotations

import threading

import lightgbm as lgb
import numpy as np
import pytest

from lakehouse.ml.single_row import SingleRowPredictor


@pytest.fixture(scope="module")
def booster() -> lgb.Booster:
    rng = np.random.default_rng(3)
    features = rng.normal(size=(2_000, 6))
    features[rng.random(features.shape) < 0.1] = np.nan  # missing values take their own path
    target = (np.nan_to_num(features[:, 0]) + rng.normal(size=2_000) > 1).astype(int)
    params = {"objective": "binary", "num_leaves": 15, "verbose": -1, "num_threads": 1}
    return lgb.train(params, lgb.Dataset(features, target), num_boost_round=30)


@pytest.mark.parametrize("kind", ["raw_score", "pred_contrib"])
def test_one_row_equals_booster_predict(booster: lgb.Booster, kind: str) -> None:
    predictor = SingleRowPredictor(booster)
    rows = np.random.default_rng(4).normal(size=(200, 6))
    rows[::3, ::2] = np.nan
    for i in range(len(rows)):
        row = rows[i : i + 1]
        assert predictor.accepts(row, {kind: True}) == kind
        expected = booster.predict(row, num_threads=1, **{kind: True})
        got = predictor.predict(row, kind)
        assert got.shape == expected.shape
        assert np.array_equal(got, expected)


def test_only_single_rows_of_one_kind_are_accepted(booster: lgb.Booster) -> None:
    predictor = SingleRowPredictor(booster)
    row = np.zeros((1, 6))
    assert predictor.accepts(np.zeros((2, 6)), {"raw_score": True}) is None
    assert predictor.accepts(row.astype("float32"), {"raw_score": True}) is None
    assert predictor.accepts(np.zeros((1, 5)), {"raw_score": True}) is None
    assert predictor.accepts(row, {"raw_score": True, "pred_contrib": True}) is None
    assert predictor.accepts(row, {"pred_leaf": True}) is None
    assert predictor.accepts(row, {"raw_score": False}) is None
    assert predictor.accepts([[0.0] * 6], {"raw_score": True}) is None


def test_threads_share_one_predictor(booster: lgb.Booster) -> None:
    predictor = SingleRowPredictor(booster)
    rows = np.random.default_rng(5).normal(size=(400, 6))
    expected = booster.predict(rows, pred_contrib=True, num_threads=1)
    got = np.zeros_like(expected)

    def score(part: range) -> None:
        for i in part:
            got[i] = predictor.predict(rows[i : i + 1], "pred_contrib")[0]

    threads = [threading.Thread(target=score, args=(range(k, 400, 4),)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert np.array_equal(got, expected)
