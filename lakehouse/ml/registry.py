"""The model registry: how a trained model is stored in MLflow and loaded back for scoring.

Training (`lakehouse/ml/tracking.py`) writes each model as two plain files —
`booster.txt` (the LightGBM booster as text) and `metadata.json` (feature list, feature-set
version, calibration, threshold, metrics, Delta versions, request vocabulary) — inside the
MLflow pyfunc model it logs (`lakehouse.ml.mlflow_model`), and registers that model as a
version of `fraud-detector` or `fraud-detector-basic`. The scoring API calls
`load_model` once (one MLflow round trip and two small files, no pickle, no MLflow model
flavour to import) and then scores in memory; it polls `current_version` to hot-reload when a
new champion is promoted.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lakehouse.config import Settings, get_settings

if TYPE_CHECKING:  # MLflow is the `ml` extra's: imported only where a store is used
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

# MLflow's INFO lines ("Validating input example against model signature") and its tqdm bar
# for every artifact download (two a model load) interleave with a command's own progress and
# fill the services' logs with carriage returns; its warnings still show. Set before MLflow is
# imported (every use of it imports this module first); the operator's environment wins.
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

CHAMPION = "champion"
CHALLENGER = "challenger"
MODEL_DIR = "model"
# The pyfunc model's artifact holding BOOSTER_FILE and METADATA_FILE (`model/artifacts/...`).
MODEL_FILES = "model_files"
BOOSTER_FILE = "booster.txt"
METADATA_FILE = "metadata.json"


FLAVOURS = ("full", "basic")
# A prediction on fewer rows than this (by kind) runs on the calling thread alone
# (`num_threads=1`); larger ones get LightGBM's OpenMP threads. Waking the OpenMP team costs
# more than a few rows of trees, and its idle workers then spin-wait, burning CPU the caller
# never sees: on the medium benchmark's model (235 trees), one row costs 20-25 us of CPU on
# one thread against 0.1-1 ms with the team, one TreeSHAP row 0.8 ms against 3-6 ms. The team
# pays off once a call holds some 30 ms of work: from 4,000 plain rows (8 us each; below it,
# 13-40 % more CPU and no shorter wall time) and from 32 TreeSHAP rows (0.85 ms each: 1.6x
# shorter wall time for 7 % more CPU). Thread counts never change the numbers (each row is
# predicted alone, bit for bit: tests/ml/test_registry.py).
PARALLEL_ROWS = {"raw_score": 4_000, "pred_contrib": 32}


def model_name(settings: Settings, flavour: str) -> str:
    """The registered name of one flavour, from `LAKEHOUSE_MODEL_NAME` (`Settings.model_name`).

    Training registers under it and the scoring API loads from it, so renaming the model is
    one setting.

    Args:
        settings: the platform settings.
        flavour: "full" (behavioural features) or "basic" (the seed's eleven fields).

    Returns:
        `<model_name>` for the full model, `<model_name>-basic` for the basic one.
    """
    return settings.model_name if flavour == "full" else f"{settings.model_name}-basic"


def model_names(settings: Settings) -> tuple[str, str]:
    """The registered names of both flavours, full first.

    Args:
        settings: the platform settings.

    Returns:
        `(model_name(settings, "full"), model_name(settings, "basic"))`.
    """
    return model_name(settings, "full"), model_name(settings, "basic")


class ModelNotFoundError(LookupError):
    """No registered model version carries the requested alias."""


@dataclass
class LoadedModel:
    """A registered model in memory: calibrated scores and reason codes without any I/O."""

    name: str
    version: str
    flavour: str
    feature_columns: list[str]
    feature_set_version: str
    threshold: float
    metrics: dict[str, float]
    data_versions: dict[str, int]
    run_id: str
    trained_at: str
    booster: Any = field(repr=False)
    calibration: dict[str, float] = field(default_factory=lambda: {"a": 1.0, "b": 0.0})
    # PSI bins of the inputs and the score at training (`lakehouse.ml.psi`); empty
    # for a model trained before drift monitoring existed.
    drift_reference: dict[str, Any] = field(default_factory=dict, repr=False)
    # The approve/review/decline thresholds chosen with the model (lakehouse.ml.policy);
    # empty for models trained before the policy existed.
    policy: dict[str, Any] = field(default_factory=dict)
    # The categorical values requests may carry, foreign places of its training data included
    # (`lakehouse.ml.features.request_vocabulary`); empty for a model trained before it.
    vocabulary: dict[str, list[str]] = field(default_factory=dict)

    def _matrix(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        if isinstance(features, np.ndarray):
            # already the float matrix in `feature_columns` order (the scoring API's hot
            # path builds it so): no pandas per request
            return features
        if list(features.columns) == self.feature_columns and all(
            dtype == np.float64 for dtype in features.dtypes
        ):
            # already the model's float matrix (the scoring API builds it so): selecting the
            # columns again would cost more than the prediction
            return features.to_numpy()
        missing = [c for c in self.feature_columns if c not in features.columns]
        if missing:
            raise ValueError(f"features lack the model inputs {missing}")
        # Pandas' nullable dtypes become NaN here, which LightGBM treats as "missing".
        return features[self.feature_columns].astype("float64").to_numpy(na_value=np.nan)

    def _predict(self, matrix: np.ndarray, kind: str) -> np.ndarray:
        """`booster.predict(matrix, kind=True)`, on the calling thread alone for few rows."""
        if len(matrix) < PARALLEL_ROWS[kind]:
            return np.asarray(self.booster.predict(matrix, num_threads=1, **{kind: True}))
        return np.asarray(self.booster.predict(matrix, **{kind: True}))

    def raw_score(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The booster's log-odds before calibration.

        Args:
            features: as for `predict_proba`.

        Returns:
            One raw score per row.
        """
        return self._predict(self._matrix(features), "raw_score")

    def predict_proba(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Calibrated P(fraud) per row (Platt scaling fitted on the validation window).

        Args:
            features: a frame holding `feature_columns`, or the float64 matrix of exactly
                those columns in that order.

        Returns:
            One probability per row.
        """
        return platt(self.raw_score(features), self.calibration)

    def contributions(
        self, features: pd.DataFrame | np.ndarray, top: int = 3
    ) -> list[list[tuple[str, float]]]:
        """Per row, the `top` features pushing the score most toward fraud (SHAP log-odds).

        Args:
            features: as for `predict_proba`.
            top: how many reasons per row.

        Returns:
            Per row, `(feature, contribution)` pairs, the largest contribution first.
        """
        return self._top_reasons(self._predict(self._matrix(features), "pred_contrib"), top)

    def contributions_of(
        self, features: pd.DataFrame | np.ndarray, rows: Sequence[int], top: int = 3
    ) -> list[list[tuple[str, float]]]:
        """`contributions` of some rows only: TreeSHAP runs on those rows, not the others.

        TreeSHAP costs about a hundred times the plain prediction, so the scoring API
        explains only the answers that need reasons. A row's contributions depend on that
        row alone: they equal what `contributions` gives for it in the whole batch.

        Args:
            features: as for `predict_proba`.
            rows: positions of the rows to explain, in the order wanted.
            top: how many reasons per row.

        Returns:
            Per position in `rows`, `(feature, contribution)` pairs, the largest first.
        """
        if not len(rows):
            return []
        # A copy of the chosen rows: nothing beside TreeSHAP's ~0.8 ms a row.
        matrix = self._matrix(features)[np.asarray(rows, dtype=np.intp)]
        return self._top_reasons(self._predict(matrix, "pred_contrib"), top)

    def _top_reasons(self, contrib: np.ndarray, top: int) -> list[list[tuple[str, float]]]:
        per_feature = contrib[:, : len(self.feature_columns)]  # last column is the bias
        # One vectorised sort for the whole batch; a stable sort puts tied contributions in
        # column order, the same on every call.
        order = np.argsort(-per_feature, axis=1, kind="stable")[:, :top]
        picked = np.take_along_axis(per_feature, order, axis=1).tolist()
        names = self.feature_columns
        return [
            [(names[i], round(value, 6)) for i, value in zip(row_order, row_values, strict=True)]
            for row_order, row_values in zip(order.tolist(), picked, strict=True)
        ]


def platt(raw: np.ndarray, calibration: dict[str, float]) -> np.ndarray:
    """Map log-odds to a probability with the fitted slope `a` and intercept `b`.

    Args:
        raw: the booster's log-odds.
        calibration: `{"a": slope, "b": intercept}` fitted on the validation window.

    Returns:
        Probabilities, same shape as `raw`.
    """
    z = calibration["a"] * np.asarray(raw, dtype="float64") + calibration["b"]
    # np.clip's values, by two ufuncs: np.clip's own checks cost more than a one-row answer.
    return 1.0 / (1.0 + np.exp(-np.minimum(np.maximum(z, -50.0), 50.0)))


def write_model_files(folder: Path, booster: Any, metadata: dict[str, Any]) -> Path:
    """Write the two files `load_model` needs into `folder` (packed into the pyfunc model).

    Args:
        folder: where to write (created if missing).
        booster: the fitted LightGBM booster.
        metadata: what `model_from_files` reads back (flavour, columns, calibration, ...).

    Returns:
        `folder`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / BOOSTER_FILE).write_text(booster.model_to_string(), encoding="utf-8")
    (folder / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str), "utf-8")
    return folder


def model_from_files(
    folder: Path, *, name: str = "", version: str = "", run_id: str = ""
) -> LoadedModel:
    """Build a `LoadedModel` from a folder written by `write_model_files`.

    Args:
        folder: holds `BOOSTER_FILE` and `METADATA_FILE`.
        name: registered model name (empty outside the registry).
        version: registered version.
        run_id: the MLflow run that logged it.

    Returns:
        The model, ready to score in memory.
    """
    import lightgbm as lgb

    metadata = json.loads((folder / METADATA_FILE).read_text("utf-8"))
    booster = lgb.Booster(model_str=(folder / BOOSTER_FILE).read_text("utf-8"))
    return LoadedModel(
        name=name,
        version=str(version),
        flavour=metadata["flavour"],
        feature_columns=list(metadata["feature_columns"]),
        feature_set_version=metadata["feature_set_version"],
        threshold=float(metadata["threshold"]),
        metrics={k: float(v) for k, v in metadata.get("metrics", {}).items()},
        data_versions={k: int(v) for k, v in metadata.get("data_versions", {}).items()},
        run_id=run_id,
        trained_at=metadata["trained_at"],
        booster=booster,
        calibration={k: float(v) for k, v in metadata["calibration"].items()},
        drift_reference=metadata.get("drift_reference", {}),
        policy=dict(metadata.get("policy") or {}),
        vocabulary={k: list(v) for k, v in (metadata.get("vocabulary") or {}).items()},
    )


def resolve_tracking_uri(tracking_uri: str | None) -> str:
    """The MLflow store to use: `tracking_uri`, else `Settings.mlflow_tracking_uri`.

    Args:
        tracking_uri: an explicit store, or None.

    Returns:
        The store's URI.
    """
    if tracking_uri:
        return tracking_uri
    uri = get_settings().mlflow_tracking_uri
    assert uri is not None
    return uri


def mlflow_client(tracking_uri: str | None) -> tuple[MlflowClient, str]:
    """An MLflow client on this store, and the store's URI.

    Args:
        tracking_uri: the store (None: `Settings.mlflow_tracking_uri`).

    Returns:
        `(MlflowClient, uri)`.
    """
    from mlflow.tracking import MlflowClient

    # An explicit client, never `mlflow.set_tracking_uri`: that one also rewrites the
    # MLFLOW_TRACKING_URI environment variable, which would leak into every later Settings.
    uri = resolve_tracking_uri(tracking_uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri), uri


def version_by_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The registered version behind `alias`, None when the model or the alias is missing.

    Args:
        client: an MLflow client (`mlflow_client`).
        name: the registered model name.
        alias: `champion` or `challenger`.

    Returns:
        MLflow's `ModelVersion`, or None.
    """
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        # Both "no such model" and "no such alias" mean: nothing to load yet.
        return None


def current_version(
    name: str, alias: str = CHAMPION, tracking_uri: str | None = None
) -> str | None:
    """The version number behind `alias`, or None — one small registry query, for hot reload.

    Args:
        name: the registered model name (`model_name`).
        alias: `champion` or `challenger`.
        tracking_uri: the store (None: `Settings.mlflow_tracking_uri`).

    Returns:
        The version as text, or None when nothing carries the alias.
    """
    client, _ = mlflow_client(tracking_uri)
    found = version_by_alias(client, name, alias)
    return None if found is None else str(found.version)


def load_model(
    name: str, alias: str = CHAMPION, tracking_uri: str | None = None
) -> LoadedModel:
    """Download the version behind `alias` once and return it ready to score in memory.

    Args:
        name: the registered model name (`model_name`).
        alias: `champion` or `challenger`.
        tracking_uri: the store (None: `Settings.mlflow_tracking_uri`).

    Returns:
        The model, with its metadata (threshold, policy, vocabulary, drift reference).

    Raises:
        ModelNotFoundError: nothing is registered under that name and alias yet.
    """
    import mlflow.artifacts

    client, uri = mlflow_client(tracking_uri)
    found = version_by_alias(client, name, alias)
    if found is None:
        raise ModelNotFoundError(
            f"no version of model {name!r} has alias {alias!r} in the MLflow registry at "
            f"{uri}; run `lakehouse train` first"
        )
    with tempfile.TemporaryDirectory(prefix="lakehouse-model-") as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=found.source, dst_path=tmp, tracking_uri=uri
        )
        files = Path(local) / "artifacts" / MODEL_FILES
        # Versions logged before the pyfunc packaging keep the two files at the top.
        model = model_from_files(
            files if files.is_dir() else Path(local),
            name=name,
            version=str(found.version),
            run_id=found.run_id or "",
        )
    log.info("loaded model %s version %s (%s)", name, model.version, alias)
    return model
