"""Compiled trees answer LightGBM's raw scores bit for bit, or are not used at all."""

from __future__ import annotations

import logging
import sys
import threading

import lightgbm as lgb
import numpy as np
import pytest

from lakehouse.ml import compiled_trees
from lakehouse.ml.compiled_trees import ZERO_THRESHOLD, compile_trees, probe_rows


def _train(zero_as_missing: bool = False, objective: str = "binary") -> lgb.Booster:
    """A booster with every kind of split: numeric, categorical, missing values, zeros."""
    rng = np.random.default_rng(7)
    n = 3_000
    features = rng.normal(size=(n, 6))
    features[:, 4] = rng.integers(0, 12, n)  # a category code
    features[:, 5] = np.where(rng.random(n) < 0.3, 0.0, features[:, 5])  # many exact zeros
    features[rng.random(features.shape) < 0.1] = np.nan
    signal = np.nan_to_num(features[:, 0]) + (features[:, 4] % 3 == 0) + (features[:, 5] == 0)
    target = (signal + rng.normal(size=n) > 1.2).astype(int)
    params = {
        "objective": objective,
        "num_leaves": 15,
        "verbose": -1,
        "num_threads": 1,
        "zero_as_missing": zero_as_missing,
        "min_data_per_group": 5,
        "cat_smooth": 1,
    }
    if objective == "multiclass":
        params["num_class"] = 3
        target = rng.integers(0, 3, n)
    dataset = lgb.Dataset(features, target, categorical_feature=[4])
    return lgb.train(params, dataset, num_boost_round=40)


@pytest.fixture(scope="module", params=[False, True], ids=["nan-missing", "zero-missing"])
def booster(request: pytest.FixtureRequest) -> lgb.Booster:
    return _train(zero_as_missing=request.param)


def _rows(booster: lgb.Booster, count: int = 2_000) -> np.ndarray:
    rng = np.random.default_rng(8)
    rows = rng.normal(size=(count, booster.num_feature())) * 2
    rows[:, 4] = rng.integers(-2, 15, count)  # unseen and negative categories too
    rows[rng.random(rows.shape) < 0.15] = np.nan
    rows[rng.random(rows.shape) < 0.1] = 0.0
    return np.vstack([rows, probe_rows(booster)])


def _refusal(booster: lgb.Booster, caplog: pytest.LogCaptureFixture) -> str:
    """What the log says when `compile_trees` refuses `booster` (it must return None)."""
    with caplog.at_level(logging.WARNING, logger=compiled_trees.__name__):
        assert compile_trees(booster) is None
    return caplog.text


def test_raw_scores_equal_lightgbm_to_the_bit(booster: lgb.Booster) -> None:
    compiled = compile_trees(booster)
    assert compiled is not None
    rows = _rows(booster)
    expected = booster.predict(rows, raw_score=True, num_threads=1)
    assert np.array_equal(compiled.raw_score(rows), expected)
    for i in range(0, len(rows), 37):  # one row at a time, as /predict scores
        assert np.array_equal(compiled.raw_score(rows[i : i + 1]), expected[i : i + 1])


def test_values_within_lightgbm_zero_threshold_read_as_zero(booster: lgb.Booster) -> None:
    compiled = compile_trees(booster)
    assert compiled is not None
    rows = _rows(booster, 200)
    tiny = np.random.default_rng(9).random(rows.shape) < 0.2
    rows[tiny] = np.array([ZERO_THRESHOLD, -ZERO_THRESHOLD, 1e-40, -5e-324])[
        np.arange(tiny.sum()) % 4
    ]
    untouched = rows.copy()
    expected = booster.predict(rows, raw_score=True, num_threads=1)
    assert np.array_equal(compiled.raw_score(rows), expected)
    assert np.array_equal(rows, untouched, equal_nan=True)  # the caller's matrix is not changed


def test_threads_share_compiled_trees(booster: lgb.Booster) -> None:
    compiled = compile_trees(booster)
    assert compiled is not None
    rows = _rows(booster, 400)
    expected = booster.predict(rows, raw_score=True, num_threads=1)
    got = np.zeros_like(expected)

    def score(part: range) -> None:
        for i in part:
            got[i] = compiled.raw_score(rows[i : i + 1])[0]

    threads = [threading.Thread(target=score, args=(range(k, len(rows), 4),)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert np.array_equal(got, expected)


def test_compiles_in_several_threads_at_once(booster: lgb.Booster) -> None:
    """A champion's reload and a challenger's load may compile at the same moment."""
    compiled: list[object] = [None] * 3

    def build(i: int) -> None:
        compiled[i] = compile_trees(booster)

    threads = [threading.Thread(target=build, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = _rows(booster, 300)
    expected = booster.predict(rows, raw_score=True, num_threads=1)
    for trees in compiled:
        assert trees is not None
        assert np.array_equal(trees.raw_score(rows), expected)  # type: ignore[attr-defined]


def test_wrong_width_and_empty_input(booster: lgb.Booster) -> None:
    compiled = compile_trees(booster)
    assert compiled is not None
    with pytest.raises(ValueError, match="rows of 6 features"):
        compiled.raw_score(np.zeros((2, 5)))
    assert compiled.raw_score(np.zeros((0, 6))).shape == (0,)


def test_differing_trees_are_not_used(
    booster: lgb.Booster, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = compiled_trees.CompiledTrees.raw_score
    # One row one ulp off: the probe must notice it.
    monkeypatch.setattr(
        compiled_trees.CompiledTrees,
        "raw_score",
        lambda self, matrix: np.nextafter(real(self, matrix), np.inf),
    )
    assert "differ from LightGBM" in _refusal(booster, caplog)


def test_without_lleaves_lightgbm_answers(
    booster: lgb.Booster, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "lleaves", None)  # `import lleaves` fails
    logged = _refusal(booster, caplog)
    assert "trees not compiled (ModuleNotFoundError: import of lleaves halted" in logged


def test_linear_trees_are_refused_by_the_probe(caplog: pytest.LogCaptureFixture) -> None:
    """lleaves compiles a linear-tree booster without its leaves' linear models: the probe
    rows must see the difference (a real one, not a patched one) and refuse the code."""
    rng = np.random.default_rng(10)
    features = rng.normal(size=(500, 4))
    params = {"objective": "binary", "linear_tree": True, "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(features, (features[:, 0] > 0).astype(int)), 5)
    assert "differ from LightGBM" in _refusal(booster, caplog)


def test_a_changed_lleaves_leaves_lightgbm_in_charge(
    booster: lgb.Booster, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The binding reads lleaves' compiled entry point (`_c_entry_func`): a release that
    renames it must not stop a model from loading."""

    def renamed(self: object, model: object, columns: int) -> None:
        raise AttributeError("'Model' object has no attribute '_c_entry_func'")

    monkeypatch.setattr(compiled_trees.CompiledTrees, "__init__", renamed)
    assert "trees not compiled (AttributeError" in _refusal(booster, caplog)


def test_multiclass_booster_is_not_compiled() -> None:
    assert compile_trees(_train(objective="multiclass")) is None


def test_the_service_booster_uses_them_and_answers_the_same(booster: lgb.Booster) -> None:
    from api_ml.api.state import single_threaded
    from lakehouse.ml.registry import LoadedModel

    model = LoadedModel(
        name="m",
        version="1",
        flavour="full",
        feature_columns=[f"f{i}" for i in range(6)],
        feature_set_version="x",
        threshold=0.5,
        metrics={},
        data_versions={},
        run_id="r",
        trained_at="t",
        booster=booster,
    )
    compiled, plain = single_threaded(model, compiled=True), single_threaded(model)
    assert compiled.booster.compiled and not plain.booster.compiled
    rows = _rows(booster, 300)
    assert np.array_equal(compiled.predict_proba(rows), plain.predict_proba(rows))
    assert np.array_equal(compiled.predict_proba(rows[:1]), plain.predict_proba(rows[:1]))
    # TreeSHAP stays LightGBM's
    assert compiled.contributions(rows[:5]) == plain.contributions(rows[:5])
