"""The sidebar: which page, where the services are, and whether each one is up.

The URLs start from the environment (`LAKEHOUSE_API_URL`, `LAKEHOUSE_API_ML_URL`,
`LAKEHOUSE_SOURCES_API_URL`, through `lakehouse.config.Settings`) and can be edited here for
this browser session; the `LakehouseClient` built from them is what every page uses. Each
service's `/health` is shown as one line — a green tick, or the service's own reason and the
command that starts it — so a service that is down reads as a message, never a stack trace.
"""

from __future__ import annotations

import streamlit as st

from api_ml.ui.client import Endpoints, LakehouseClient, ServiceHealth

PAGES = ("Score a transaction", "Explore the datamarts", "Model")
URL_FIELDS = {"api_ml_url": "Scoring API (api_ml)", "api_url": "Datamarts API (api)",
              "sources_api_url": "Source system (sources_api)"}


def health_line(health: ServiceHealth) -> str:
    """Markdown for one service: tick and status, or cross and what went wrong."""
    if health.ok and health.message == "ok":
        return f"✅ **{health.label}** — ok"
    if health.ok:
        return f"⚠️ **{health.label}** — {health.message}"
    return f"❌ **{health.label}** — {health.message}"


def render_sidebar() -> tuple[str, LakehouseClient]:
    """Draw the sidebar; returns the chosen page and the client for the configured URLs."""
    defaults = Endpoints.from_settings()
    with st.sidebar:
        st.title("Lakehouse")
        st.caption("Fraud analyst console")
        page = st.radio("Page", PAGES, key="page")
        with st.expander("Service URLs", expanded=False):
            urls = {field: st.text_input(label, value=getattr(defaults, field), key=field)
                    for field, label in URL_FIELDS.items()}
        client = LakehouseClient(Endpoints(**{k: v.strip() for k, v in urls.items()}),
                                 timeout=15.0)
        st.subheader("Health")
        for health in client.health():
            # The scoring API answers 503 "not ready" with its reason while models load.
            st.markdown(health_line(health))
        if st.button("Refresh", key="refresh_health"):
            st.rerun()
    return str(page), client
