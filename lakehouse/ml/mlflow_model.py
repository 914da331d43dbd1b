"""How a trained fraud model is packaged for MLflow: a pyfunc model MLflow's own tools load.

Training (`tracking`) hands each fitted flavour here. `save_pyfunc` writes an MLflow model
folder — `MLmodel` with a signature, an input example and metadata (flavour, feature-set
version, feature columns, threshold, the request vocabulary), and the booster plus its
calibration as artifacts — which tracking logs as the run's `model/` and registers. So
`mlflow.pyfunc.load_model("models:/fraud-detector@champion")` answers calibrated
probabilities and decisions; the scoring API loads the same artifacts with
`registry.load_model`, without going through pyfunc on the request path.

MLflow keeps this file with the model ("models from code") and runs it to load the model,
so loading needs the `lakehouse` package and its `ml` extra, but unpickles nothing. It imports
MLflow at module level: only training and MLflow's loader import it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
from mlflow.models import infer_signature, set_model
from mlflow.pyfunc import PythonModel, PythonModelContext, save_model

from lakehouse.ml.features import request_vocabulary
from lakehouse.ml.registry import MODEL_FILES, LoadedModel, model_from_files

EXAMPLE_ROWS = 5


class FraudModel(PythonModel):
    """Calibrated P(fraud) and the decision at the model's own threshold, per row."""

    def load_context(self, context: PythonModelContext) -> None:
        """Read the booster, calibration and threshold from the model's artifacts.

        Args:
            context: MLflow's model context; its `MODEL_FILES` artifact is the model folder.
        """
        self.model: LoadedModel = model_from_files(Path(context.artifacts[MODEL_FILES]))

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: Any = None
    ) -> pd.DataFrame:
        """Score rows holding the model's feature columns.

        Args:
            context: MLflow's model context (unused once loaded).
            model_input: one row per transaction, the signature's columns.
            params: unused.

        Returns:
            `fraud_probability` (calibrated) and `is_fraud` (probability >= threshold).
        """
        return _predictions(self.model, model_input)


def _predictions(model: LoadedModel, rows: pd.DataFrame) -> pd.DataFrame:
    probability = model.predict_proba(rows)
    return pd.DataFrame(
        {"fraud_probability": probability, "is_fraud": probability >= model.threshold}
    )


def save_pyfunc(path: Path, files: Path, metadata: dict[str, Any], examples: pd.DataFrame) -> Path:
    """Write an MLflow pyfunc model folder at `path`.

    Args:
        path: the folder to create (logged as the run's `model/` artifact).
        files: the folder `registry.write_model_files` wrote (booster and metadata).
        metadata: what the model carries; its flavour, feature columns, feature-set version,
            threshold and request vocabulary go into `MLmodel` too.
        examples: training-window rows holding the feature columns; the first few become
            the input example, from which the signature is inferred.

    Returns:
        `path`.
    """
    columns = list(metadata["feature_columns"])
    # Every input is a number to the booster (it reads a float matrix; missing is NaN).
    example = examples[columns].head(EXAMPLE_ROWS).astype("float64").reset_index(drop=True)
    signature = infer_signature(example, _predictions(model_from_files(files), example))
    save_model(
        path=str(path),
        # Models from code: MLflow keeps this file and runs it to load the model (no pickle).
        python_model=str(Path(__file__).resolve()),
        artifacts={MODEL_FILES: str(files)},
        signature=signature,
        input_example=example,
        # Named here: inferring them would load the model in a subprocess at every training.
        pip_requirements=[
            f"lightgbm=={lightgbm.__version__}",
            f"numpy=={np.__version__}",
            f"pandas=={pd.__version__}",
        ],
        metadata={
            "flavour": metadata["flavour"],
            "feature_set_version": metadata["feature_set_version"],
            "feature_columns": columns,
            "threshold": metadata["threshold"],
            "vocabulary": metadata.get("vocabulary") or request_vocabulary(),
        },
    )
    return path


# What MLflow loads when it runs this file as the model's code (see `save_pyfunc`).
set_model(FraudModel())
