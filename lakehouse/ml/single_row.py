"""One-row predictions through LightGBM's "fast single row" C API.

`Booster.predict` builds a predictor, checks and converts its input and sizes its output on
every call: for the scoring API's one-row requests that Python work costs more than the
trees (about 190 us for a TreeSHAP row against 75 us through this path, measured on the
benchmark's model). LightGBM's `LGBM_BoosterPredictForMatSingleRowFast` keeps that set-up
in a `FastConfig` made once per prediction kind; the answer is the same array
`Booster.predict` returns for that row (the same predictor code runs, bit for bit).
A `FastConfig` may be shared by threads: LightGBM guards its buffers with a lock, and each
call here has its own output array.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import numpy as np

# LightGBM's C API constants (c_api.h).
_FLOAT64 = 1
PREDICT_KINDS = {"raw_score": 1, "pred_contrib": 3}


class SingleRowPredictor:
    """Fast one-row raw scores and TreeSHAP contributions of one booster."""

    def __init__(self, booster: Any, num_threads: int = 1) -> None:
        """Bind to a loaded booster (kept alive as long as this object).

        Args:
            booster: a `lightgbm.Booster`.
            num_threads: LightGBM threads per call (1: the calling thread only).
        """
        from lightgbm.basic import _LIB

        self._lib = _LIB
        # The prediction through a `PyDLL` view of the same library keeps the GIL: given back
        # around one row's call, it had to be won back from any busy thread (the monitor's),
        # up to the interpreter's switch interval (5 ms) later, for under a millisecond of work.
        self._holding_gil = ctypes.PyDLL(_LIB._name)
        self._booster = booster
        self._columns = int(booster.num_feature())
        self._parameters = f"num_threads={num_threads}".encode()
        self._configs: dict[str, ctypes.c_void_p] = {}
        self._lock = threading.Lock()

    def _config(self, kind: str) -> ctypes.c_void_p:
        config = self._configs.get(kind)
        if config is None:
            with self._lock:
                config = self._configs.get(kind)
                if config is None:
                    config = ctypes.c_void_p()
                    self._check(
                        self._lib.LGBM_BoosterPredictForMatSingleRowFastInit(
                            self._booster._handle,
                            ctypes.c_int(PREDICT_KINDS[kind]),
                            ctypes.c_int(0),  # start iteration
                            # as `Booster.predict` with no num_iteration (-1: every tree)
                            ctypes.c_int(int(self._booster.best_iteration)),
                            ctypes.c_int(_FLOAT64),
                            ctypes.c_int32(self._columns),
                            ctypes.c_char_p(self._parameters),
                            ctypes.byref(config),
                        )
                    )
                    self._configs[kind] = config
        return config

    def predict(self, row: np.ndarray, kind: str) -> np.ndarray:
        """What `booster.predict(row, **{kind: True})` answers for one row.

        Args:
            row: shape (1, features), float64, in the booster's feature order.
            kind: "raw_score" (shape (1,)) or "pred_contrib" (shape (1, features + 1)).

        Returns:
            The prediction, shaped as `Booster.predict` shapes it.
        """
        values = np.ascontiguousarray(row, dtype=np.float64).reshape(-1)
        width = self._columns + 1 if kind == "pred_contrib" else 1
        out = np.empty(width, dtype=np.float64)
        length = ctypes.c_int64()
        self._check(
            self._holding_gil.LGBM_BoosterPredictForMatSingleRowFast(
                self._config(kind),
                values.ctypes.data_as(ctypes.c_void_p),
                ctypes.byref(length),
                out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            )
        )
        return out.reshape(1, width) if kind == "pred_contrib" else out

    def accepts(self, data: object, options: dict[str, Any]) -> str | None:
        """The prediction kind this predictor answers for a `Booster.predict` call, if any.

        Args:
            data: the call's input.
            options: its keyword arguments.

        Returns:
            "raw_score" or "pred_contrib" for one float64 row of the booster's width asking
            only for that; None for anything else (the caller uses `Booster.predict`).
        """
        if not (
            isinstance(data, np.ndarray)
            and data.dtype == np.float64
            and data.shape == (1, self._columns)
            and len(options) == 1
        ):
            return None
        kind, wanted = next(iter(options.items()))
        return kind if kind in PREDICT_KINDS and wanted is True else None

    def _check(self, status: int) -> None:
        if status != 0:
            raise RuntimeError(self._lib.LGBM_GetLastError().decode("utf-8"))

    def __del__(self) -> None:
        for config in getattr(self, "_configs", {}).values():
            self._lib.LGBM_FastConfigFree(config)
