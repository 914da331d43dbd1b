"""Page "Explore the datamarts": fraud by merchant category and hour, riskiest clients and cards.

Everything here comes from the datamarts API (`api/`, port 9999), which serves the gold
datamarts the pipeline published: `/summary` for the headline figures, `/mcc_risk` and
`/time_distribution` for the category and hour breakdowns, `/client_features` and
`/card_features` sorted by fraud rate for the riskiest lists. Rates count labeled purchases
only, so the page asks for a minimum of labeled purchases per group — a client with a single
labeled fraud would otherwise top every list at 100 %. Each view is a chart and a table the
analyst can sort by clicking a column.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from api_ml.ui import charts
from api_ml.ui.client import LakehouseClient, ServiceError


def riskiest(client: LakehouseClient, route: str, top: int, min_labeled: int) -> list[dict]:
    """The `top` rows of a datamart by fraud rate, among groups with enough labeled rows.

    Args:
        client: the UI's client.
        route: the datamart route (e.g. "client_features").
        top: how many rows to return.
        min_labeled: the fewest labeled purchases a group needs.

    Returns:
        The rows, highest fraud rate first.

    Raises:
        ServiceError: the datamarts API is down or refused the call.
    """
    return client.datamart(route, sort="-fraud_rate", limit=top,
                           min_labeled_count=min_labeled)


def mcc_rows(client: LakehouseClient, top: int, min_labeled: int) -> list[dict[str, Any]]:
    """Riskiest merchant categories, labeled "code · description" for the chart's axis.

    Args:
        client: the UI's client.
        top: how many categories to return.
        min_labeled: the fewest labeled purchases a category needs.

    Returns:
        The `mcc_risk` rows, each with an added `category` label.

    Raises:
        ServiceError: the datamarts API is down or refused the call.
    """
    rows = riskiest(client, "mcc_risk", top, min_labeled)
    return [{**row, "category": f"{row['mcc_code']} · {row['mcc_description']}"} for row in rows]


def _headline(client: LakehouseClient, min_labeled: int) -> None:
    summary = client.summary(top=5, min_labeled=min_labeled)
    cells = st.columns(4)
    cells[0].metric("Purchases", f"{summary['transaction_count']:,}")
    cells[1].metric("Labeled", f"{summary['labeled_count']:,}")
    cells[2].metric("Frauds", f"{summary['fraud_count']:,}")
    rate = summary.get("fraud_rate")
    cells[3].metric("Fraud rate", "n/a" if rate is None else f"{rate:.3%}")
    st.caption(f"{summary['scope']} — published {summary.get('published_at') or 'never'}")


def _view(rows: list[dict[str, Any]], category: str, title: str, empty: str) -> None:
    if not rows:
        st.info(empty)
        return
    st.altair_chart(charts.rate_bars(rows, category, title), width="stretch")
    # "category" only labels the chart's axis; the table already has code and description.
    table = pd.DataFrame(rows).drop(columns=["category"], errors="ignore")
    st.dataframe(table, hide_index=True, width="stretch")


def render(client: LakehouseClient) -> None:
    """Draw the datamarts page: headline counts and the riskiest groups in four tabs.

    Args:
        client: the UI's client; a datamarts API failure is shown as an error, not raised.
    """
    st.header("Explore the datamarts")
    controls = st.columns(2)
    top = int(controls[0].slider("Rows per list", 5, 50, 15, key="explore_top"))
    min_labeled = int(controls[1].number_input(
        "Minimum labeled purchases per group", min_value=0, value=20, step=5,
        key="explore_min_labeled",
        help="Groups with fewer labeled purchases are left out of the riskiest lists."))
    try:
        _headline(client, min_labeled)
        by_mcc = mcc_rows(client, top, min_labeled)
        by_hour = client.datamart("time_distribution", limit=24)
        clients = riskiest(client, "client_features", top, min_labeled)
        cards = riskiest(client, "card_features", top, min_labeled)
    except ServiceError as exc:
        st.error(f"The datamarts cannot be shown. {exc}")
        return
    too_few = f"No group has {min_labeled} labeled purchases; lower the minimum."
    tab_mcc, tab_hour, tab_clients, tab_cards = st.tabs(
        ["By merchant category", "By hour of day", "Riskiest clients", "Riskiest cards"])
    with tab_mcc:
        _view(by_mcc, "category", "merchant category", too_few)
    with tab_hour:
        if by_hour:
            st.altair_chart(charts.hourly_chart(by_hour), width="stretch")
            st.dataframe(pd.DataFrame(by_hour), hide_index=True, width="stretch")
        else:
            st.info("No hourly datamart published yet: run `lakehouse pipeline run`.")
    with tab_clients:
        _view(clients, "client_id", "client", too_few)
    with tab_cards:
        _view(cards, "tx_card_id", "card", too_few)
