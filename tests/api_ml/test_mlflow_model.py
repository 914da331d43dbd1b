"""A registered model loads with MLflow's own tools and scores like the serving path.

`models:/fraud-detector@champion` (and the basic flavour) opens with `mlflow.pyfunc`, declares
its signature, carries an input example and its metadata (feature-set version, vocabulary,
threshold), and answers the same calibrated probabilities as `registry.load_model`, which the
scoring API uses.
"""

from __future__ import annotations

import mlflow.artifacts
import mlflow.pyfunc
import numpy as np
import pytest

from api_ml.api.state import vocabulary_of
from lakehouse.config import Settings
from lakehouse.formats import CARD_BRANDS
from lakehouse.ml.features import FEATURE_SET_VERSION, foreign_places
from lakehouse.ml.registry import load_model, model_name


@pytest.mark.parametrize("flavour", ["full", "basic"])
def test_champion_loads_with_mlflow_pyfunc(
    api_settings: Settings,
    trained_lake,  # type: ignore[no-untyped-def]
    flavour: str,
) -> None:
    name = model_name(api_settings, flavour)
    model_uri = f"models:/{name}@champion"
    pyfunc = mlflow.pyfunc.load_model(model_uri)
    served = load_model(name, tracking_uri=trained_lake.tracking_uri)

    metadata = pyfunc.metadata
    assert metadata.metadata["feature_set_version"] == FEATURE_SET_VERSION
    assert metadata.metadata["threshold"] == pytest.approx(served.threshold)
    assert metadata.metadata["vocabulary"]["card_brand"] == list(CARD_BRANDS)
    assert metadata.get_input_schema().input_names() == served.feature_columns
    example = metadata.load_input_example(mlflow.artifacts.download_artifacts(model_uri))
    assert list(example.columns) == served.feature_columns
    assert len(pyfunc.predict(example)) == len(example)

    rows = trained_lake.gold[served.feature_columns].head(200).astype("float64")
    answer = pyfunc.predict(rows)
    expected = served.predict_proba(rows)
    np.testing.assert_allclose(answer["fraud_probability"].to_numpy(), expected, rtol=1e-9)
    assert (answer["is_fraud"].to_numpy() == (expected >= served.threshold)).all()


def test_model_carries_its_training_vocabulary(
    api_settings: Settings,
    trained_lake,  # type: ignore[no-untyped-def]
) -> None:
    """The foreign places of the training data travel with the model: serving reads no lake."""
    places = foreign_places(trained_lake.silver.column("merchant_state").to_pylist())
    assert places, "the small lake has purchases abroad"
    for flavour in ("full", "basic"):
        name = model_name(api_settings, flavour)
        served = load_model(name, tracking_uri=trained_lake.tracking_uri)
        pyfunc = mlflow.pyfunc.load_model(f"models:/{name}@champion")
        assert pyfunc.metadata.metadata["vocabulary"] == served.vocabulary
        assert served.vocabulary["merchant_state"][-len(places):] == places
        assert vocabulary_of(served).countries == tuple(places)
