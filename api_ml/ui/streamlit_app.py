"""The fraud analysts' UI (port 8501): `lakehouse serve ui` runs `streamlit run` on this file.

Streamlit re-runs this script on every interaction. It draws the sidebar (page choice, the
services' URLs and health — `api_ml.ui.sidebar`), then the chosen page: scoring a transaction
through the scoring API (`page_score`), the analysts' case queue behind a login
(`page_review`), exploring the datamarts through the datamarts API
(`page_explore`), or the registered models from the scoring API and MLflow (`page_model`).
Data reaches the UI only over those services' HTTP APIs, plus two reads the APIs do not
offer: a small sample of labeled lake rows for the quick scenarios, and MLflow's plots.
"""

from __future__ import annotations

import streamlit as st

from api_ml.ui import page_explore, page_model, page_review, page_score
from api_ml.ui.sidebar import PAGES, render_sidebar

RENDERERS = dict(zip(
    PAGES, (page_score.render, page_review.render, page_explore.render, page_model.render),
    strict=True,
))


def main() -> None:
    """Draw the sidebar, then the chosen page (Streamlit reruns this on every interaction)."""
    st.set_page_config(page_title="Lakehouse · fraud analysts", page_icon="🛡️", layout="wide")
    page, client = render_sidebar()
    RENDERERS[page](client)


main()
