"""Page "Model": what is serving, how good it is, and how it compares with the challenger.

Two sources: the scoring API's `GET /model/info` says which version of each flavour answers
`/predict` right now (with its threshold and feature set); the MLflow store
(`Settings.mlflow_tracking_uri`, read by `api_ml.ui.model_registry`) holds every registered
version's run — test metrics, the logistic baseline's metrics, the promotion decision and the
ROC, precision-recall and feature-importance plots logged at training. The champion's plots
are shown, and its metrics side by side with the challenger's (a version trained later that
did not beat it), when there is one.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from api_ml.ui import model_registry
from api_ml.ui.client import LakehouseClient, ServiceError
from lakehouse.config import get_settings
from lakehouse.ml.registry import model_names

HEADLINE_METRICS = ("average_precision", "roc_auc", "recall_at_1pct_fpr",
                    "precision_at_threshold", "recall_at_threshold")


@st.cache_data(ttl=60, show_spinner="Reading the MLflow registry…")
def _registered(tracking_uri: str) -> list[model_registry.RegisteredVersion]:
    return model_registry.registered_versions(tracking_uri)


def serving_rows(info: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per flavour the scoring API serves (or why it does not).

    Args:
        info: the scoring API's `/model/info` answer.

    Returns:
        Per flavour: model name, version and status "serving" with its threshold, feature
        count, feature set and training time; or dashes and the reason it is not loaded.
    """
    rows = []
    for flavour, model in info.get("models", {}).items():
        if model is None:
            rows.append({"flavour": flavour, "model": "—", "version": "—",
                         "status": info.get("unavailable", {}).get(flavour, "not loaded")})
            continue
        rows.append({"flavour": flavour, "model": model["name"], "version": model["version"],
                     "status": "serving", "threshold": round(model["threshold"], 4),
                     "features": len(model["feature_columns"]),
                     "feature set": model["feature_set_version"],
                     "trained at": model["trained_at"]})
    return rows


def _serving(client: LakehouseClient) -> None:
    st.subheader("Serving now (scoring API)")
    try:
        info = client.model_info()
    except ServiceError as exc:
        st.error(f"Cannot ask the scoring API which model serves. {exc}")
        return
    st.dataframe(pd.DataFrame(serving_rows(info)), hide_index=True, width="stretch")


def _champion(version: model_registry.RegisteredVersion) -> None:
    st.markdown(f"#### {version.name} — version {version.version} (champion)")
    metrics = version.test_metrics()
    cells = st.columns(len(HEADLINE_METRICS))
    for cell, name in zip(cells, HEADLINE_METRICS, strict=True):
        value = metrics.get(name)
        cell.metric(name.replace("_", " "), "n/a" if value is None else f"{value:.3f}")
    if version.promotion:
        st.caption(f"Promotion: {version.promotion}")
    _mechanisms(version)
    shown = [n for n in ("roc_curve.png", "pr_curve.png", "feature_importance.png")
             if n in version.plots]
    if not shown:
        st.info("This run logged no plots.")
        return
    for column, name in zip(st.columns(len(shown)), shown, strict=True):
        column.image(version.plots[name], caption=model_registry.PLOTS[name], width="stretch")


def _mechanisms(version: model_registry.RegisteredVersion) -> None:
    rows = model_registry.mechanism_rows(version)
    if not rows:
        return  # trained without the generator's ground truth (e.g. the real dataset)
    st.markdown("**Per fraud mechanism** (test window; each mechanism's frauds against all "
                "legitimate transactions)")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    delay = model_registry.breach_delay_text(version)
    if delay:
        st.caption(delay)


def render(client: LakehouseClient) -> None:
    """Draw the model page: what serves now, the champion's metrics and plots, and the comparison.

    Args:
        client: the UI's client, to ask the scoring API what it serves.
    """
    st.header("Model")
    _serving(client)
    tracking_uri = str(get_settings().mlflow_tracking_uri)
    try:
        versions = _registered(tracking_uri)
    except model_registry.RegistryUnavailable as exc:
        st.error(str(exc))
        return
    if not versions:
        st.warning(f"No registered model in the MLflow store at {tracking_uri}: "
                   "run `lakehouse train`.")
        return
    st.subheader("Champion")
    for version in versions:
        if version.alias == "champion":
            _champion(version)
    st.subheader("Champion and challenger")
    for name in model_names(get_settings()):
        mine = [v for v in versions if v.name == name]
        if not mine:
            continue
        if len(mine) == 1:
            st.caption(f"{name}: no challenger registered — the champion is the only version "
                       "with an alias.")
        st.dataframe(pd.DataFrame(model_registry.comparison_rows(mine)), hide_index=True,
                     width="stretch")
