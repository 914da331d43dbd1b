"""The sidebar: which page, where the services are, and whether each one is up.

The URLs are deployment settings (`LAKEHOUSE_API_URL`, `LAKEHOUSE_API_ML_URL`,
`LAKEHOUSE_SOURCES_API_URL`, through `lakehouse.config.Settings`): shown here, never editable
by a visitor, so the UI only ever talks to — and sends a key to — the configured services.
The `LakehouseClient` built from them is what every page uses. Each
service's `/health` is shown as one coloured box — ok, or the service's own reason and the
command that starts it — so a service that is down reads as a message, never a stack trace.
"""

from __future__ import annotations

import streamlit as st

from api_ml.ui.client import SERVICES, LakehouseClient, ServiceHealth

PAGES = ("Score a transaction", "Review queue", "Explore the datamarts", "Model")


def show_health(health: ServiceHealth) -> None:
    """One coloured box per service: ok, degraded with its reason, or down with what to do.

    Args:
        health: the service's health line (`LakehouseClient.health_of`).
    """
    if health.ok and health.message == "ok":
        st.success(f"**{health.label}** — ok")
    elif health.ok:
        st.warning(f"**{health.label}** — {health.message}")
    else:
        st.error(f"**{health.label}** — {health.message}")


def render_sidebar() -> tuple[str, LakehouseClient]:
    """Draw the sidebar: page choice, the configured service URLs and each service's health.

    Returns:
        The chosen page's title and the client for the configured URLs.
    """
    client = LakehouseClient.from_settings(timeout=15.0)
    with st.sidebar:
        st.title("Lakehouse")
        st.caption("Fraud analyst console")
        page = st.radio("Page", PAGES, key="page")
        with st.expander("Service URLs", expanded=False):
            # Read-only: the URLs are the deployment's settings, not a visitor's input.
            for service, (label, _, setting) in SERVICES.items():
                st.markdown(f"**{label}** `{client.endpoints.url_of(service)}`  \n({setting})")
        st.subheader("Health")
        for health in client.health():
            # The scoring API answers 503 "not ready" with its reason while models load.
            show_health(health)
        # A click re-runs the script, and with it every health check above.
        st.button("Refresh", key="refresh_health")
    return str(page), client
