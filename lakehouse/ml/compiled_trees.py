"""A LightGBM booster's trees compiled to machine code, for the scoring API's raw scores.

`Booster.predict` walks every tree through LightGBM's generic predictor: about 10 us a row
for the benchmark's full model (235 trees), the largest single cost of a `/predict/batch` row.
lleaves compiles the booster's text into native code with LLVM (through the llvmlite wheel:
no system compiler, nothing downloaded): the same trees in about a third of that time for a
batch, and a plain C call for one row.

The compiled code must answer what LightGBM answers, to the bit, or a score would change
with the path that computed it. So the trees are compiled as one block in the booster's order
(`fblocksize` = the number of trees: LightGBM's summation order) into raw scores (the
calibration stays `registry.platt`), and `compile_trees` checks the result against
`Booster.predict` on probe rows built from the booster's own split thresholds, each taken
exactly, one ulp below and one above, and missing (inputs within LightGBM's zero threshold
are read as 0.0 first, as LightGBM reads them). Anything else (no lleaves, a compiler
error, a multi-class booster, one differing bit, e.g. a linear-tree booster, whose leaves'
linear models lleaves drops) leaves the booster's own predictor in charge, said once in the
log. Inlining is off: a compile of ~1.5 s instead of ~20 s for the benchmark's model, for
trees 8-25 % slower than inlined ones (docs/benchmarks.md).
"""

from __future__ import annotations

import ctypes
import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# The compiled entry point, `void forest(double *rows, double *out, int start, int end)`, taking
# plain addresses (cheaper per call than typed pointers). Through `CFUNCTYPE` the call gives the
# GIL back; through `PYFUNCTYPE` it keeps it. A thread that gives the GIL back while another is
# busy in Python waits up to the switch interval (5 ms) to win it back, so a call keeps it unless
# its trees take longer than that wait (a request's row, or a batch of at most 1,000 rows: 3.4 ms
# of trees for the benchmark's model, measured a little faster over HTTP holding the GIL).
_ARGUMENTS = (None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32)
_RELEASING_GIL = ctypes.CFUNCTYPE(*_ARGUMENTS)
_HOLDING_GIL = ctypes.PYFUNCTYPE(*_ARGUMENTS)
RELEASE_GIL_ROWS = 2_048  # from this many rows the call gives the GIL back
PROBE_ROWS = 512
_COMPILING = threading.Lock()
# LightGBM's `kZeroThreshold` (1e-35f): its predictor reads any |value| up to it as 0.0 (a
# "missing" zero for its zero-missing splits), where the compiled code tests `== 0.0`.
ZERO_THRESHOLD = float(np.float32(1e-35))


class CompiledTrees:
    """The raw scores of one booster from its compiled trees (thread-safe: the compiled code
    keeps no state, and each call has its own output array)."""

    def __init__(self, model: Any, columns: int) -> None:
        """Bind to a compiled `lleaves.Model` (kept alive: it owns the machine code).

        Args:
            model: the compiled lleaves model (raw scores, float64).
            columns: the booster's number of features.
        """
        self._model = model
        address = ctypes.cast(model._c_entry_func, ctypes.c_void_p).value
        self._releasing = _RELEASING_GIL(address)
        self._holding = _HOLDING_GIL(address)
        self.columns = columns

    def raw_score(self, matrix: np.ndarray) -> np.ndarray:
        """What `booster.predict(matrix, raw_score=True)` answers, to the bit.

        Args:
            matrix: shape (rows, features), in the booster's feature order (NaN: missing).

        Returns:
            One raw score per row.

        Raises:
            ValueError: the matrix is not two-dimensional with the booster's width.
        """
        data = np.ascontiguousarray(matrix, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] != self.columns:
            raise ValueError(f"expected rows of {self.columns} features, got shape {data.shape}")
        # LightGBM's zeros, read as LightGBM reads its input (`count_nonzero`, not `any`: the
        # latter goes through a Python wrapper on the request path).
        tiny = (np.abs(data) <= ZERO_THRESHOLD) & (data != 0.0)
        if np.count_nonzero(tiny):
            data = np.where(tiny, 0.0, data)
        out = np.empty(len(data), dtype=np.float64)
        if len(data):
            entry = self._releasing if len(data) >= RELEASE_GIL_ROWS else self._holding
            entry(data.ctypes.data, out.ctypes.data, 0, len(data))
        return out


def compile_trees(booster: Any) -> CompiledTrees | None:
    """The booster's trees compiled, or None when they cannot serve (the reason logged).

    Args:
        booster: a `lightgbm.Booster` with one model per iteration (binary or regression).

    Returns:
        Compiled trees whose raw scores equal `Booster.predict`'s on the probe rows, or None.
    """
    models = booster.num_model_per_iteration()
    if models != 1:
        logger.info("trees not compiled: %d models per iteration", models)
        return None
    start = time.perf_counter()
    try:
        import lleaves

        # One compile at a time: llvmlite works in LLVM's global context, which is not
        # thread-safe (a champion's reload and a challenger's load may overlap).
        with _COMPILING, tempfile.TemporaryDirectory(prefix="lakehouse-trees-") as folder:
            path = Path(folder) / "booster.txt"
            path.write_text(booster.model_to_string(), encoding="utf-8")
            model = lleaves.Model(model_file=str(path))
            trees = max(model.num_trees(), 1)
            model.compile(raw_score=True, fblocksize=trees, finline=False)
        compiled = CompiledTrees(model, int(booster.num_feature()))
        probe = probe_rows(booster)
        same = np.array_equal(
            compiled.raw_score(probe), booster.predict(probe, raw_score=True, num_threads=1)
        )
    except Exception as error:  # an optional speed-up: LightGBM's own predictor still answers
        reason = f"{type(error).__name__}: {str(error)[:200]}"
        logger.warning("trees not compiled (%s): LightGBM's predictor answers", reason)
        return None
    if not same:
        logger.warning("compiled trees differ from LightGBM's on probe rows: not used")
        return None
    logger.info(
        "%d trees compiled in %.1f s (raw scores equal LightGBM's on %d probe rows)",
        trees,
        time.perf_counter() - start,
        len(probe),
    )
    return compiled


def split_values(booster: Any) -> list[list[float]]:
    """Each feature's split thresholds (numeric) and categories (categorical splits).

    Args:
        booster: a `lightgbm.Booster`.

    Returns:
        Per feature index, the values its splits test (possibly none).
    """
    values: list[set[float]] = [set() for _ in range(int(booster.num_feature()))]
    pending = [tree["tree_structure"] for tree in booster.dump_model()["tree_info"]]
    while pending:
        node = pending.pop()
        if "split_feature" not in node:
            continue
        threshold = node["threshold"]
        if isinstance(threshold, str):  # a categorical split: "3||7||12"
            values[node["split_feature"]].update(float(c) for c in threshold.split("||"))
        else:
            values[node["split_feature"]].add(float(threshold))
        pending += [node["left_child"], node["right_child"]]
    return [sorted(v) for v in values]


def probe_rows(booster: Any, rows: int = PROBE_ROWS, seed: int = 0) -> np.ndarray:
    """Rows that take every kind of branch: each feature at a split value, one ulp below or
    above one, missing, zero or negative, drawn with a fixed seed.

    Args:
        booster: a `lightgbm.Booster`.
        rows: how many rows.
        seed: the draw's seed.

    Returns:
        A float64 matrix of `rows` rows in the booster's feature order.
    """
    rng = np.random.default_rng(seed)
    columns = []
    for values in split_values(booster):
        split = np.asarray(values or [0.0])
        base = split[rng.integers(0, len(split), rows)]
        candidates = np.stack(
            [
                base,
                np.nextafter(base, -np.inf),
                np.nextafter(base, np.inf),
                np.full(rows, np.nan),
                np.zeros(rows),
                -1.0 - base,
            ]
        )
        columns.append(candidates[rng.integers(0, len(candidates), rows), np.arange(rows)])
    return np.ascontiguousarray(np.column_stack(columns), dtype=np.float64)
