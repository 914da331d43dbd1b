"""The UI's charts, as Altair (Vega-Lite) specifications built from plain rows.

Pages hand these functions the JSON rows the services returned (datamart pages, predictions
of the session) and get back a chart for `st.altair_chart`; nothing here fetches data or
touches Streamlit, so each chart can be checked on its own. Altair ships with Streamlit's
`ui` extra, and the charts render in the browser as Vega, without a plotting server.
"""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import pandas as pd

FRAUD_COLOUR = "#d62728"
LEGIT_COLOUR = "#2ca02c"
TRACK_COLOUR = "#e8e8e8"


def probability_gauge(probability: float, threshold: float) -> alt.LayerChart:
    """A half-ring gauge of P(fraud): red from the threshold up, the value in its middle.

    Args:
        probability: the transaction's calibrated P(fraud), in [0, 1].
        threshold: the model's decision threshold, drawn as a tick on the ring.

    Returns:
        The ring, the threshold tick and the value text, layered.
    """
    colour = FRAUD_COLOUR if probability >= threshold else LEGIT_COLOUR
    parts = pd.DataFrame({"part": ["score", "rest"],
                          "value": [probability, max(0.0, 1.0 - probability)]})
    half_ring = alt.Scale(domain=[0, 1], range=[-math.pi / 2, math.pi / 2])
    ring = alt.Chart(parts).mark_arc(innerRadius=70, outerRadius=110).encode(
        theta=alt.Theta("value:Q", stack=True, scale=half_ring),
        color=alt.Color("part:N", scale=alt.Scale(domain=["score", "rest"],
                                                  range=[colour, TRACK_COLOUR]), legend=None),
        order=alt.Order("part:N", sort="descending"),
        tooltip=[alt.Tooltip("value:Q", format=".1%", title="share")],
    )
    # The threshold as a tick on the ring: where a score turns into a fraud decision.
    tick = pd.DataFrame({"value": [threshold], "label": [f"threshold {threshold:.1%}"]})
    marker = alt.Chart(tick).mark_arc(innerRadius=64, outerRadius=116, color="#333").encode(
        theta=alt.Theta("value:Q", scale=half_ring),
        theta2=alt.Theta2(datum=min(1.0, threshold + 0.004)),
        tooltip=["label:N"],
    )
    label = pd.DataFrame({"text": [f"{probability:.1%}"]})
    value = alt.Chart(label).mark_text(fontSize=30, fontWeight="bold", dy=-18,
                                       color=colour).encode(text="text:N")
    return alt.layer(ring, marker, value).properties(height=150, width=260)


def session_chart(predictions: list[dict[str, Any]], threshold: float) -> alt.LayerChart:
    """This session's scores in order, coloured by decision, against the threshold line.

    Args:
        predictions: one dict per scored transaction (`n`, `fraud_probability`, `decision`,
            and the tooltip's `scenario`, `amount`, `merchant_state`).
        threshold: the decision threshold, drawn as a dashed rule.

    Returns:
        The points and the threshold rule, layered.
    """
    frame = pd.DataFrame(predictions)
    points = alt.Chart(frame).mark_circle(size=90).encode(
        x=alt.X("n:O", title="prediction #"),
        y=alt.Y("fraud_probability:Q", title="P(fraud)", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("decision:N", scale=alt.Scale(domain=["fraud", "legitimate"],
                                                      range=[FRAUD_COLOUR, LEGIT_COLOUR])),
        tooltip=["n", "scenario", "amount", "merchant_state",
                 alt.Tooltip("fraud_probability:Q", format=".3f"), "decision"],
    )
    rule = alt.Chart(pd.DataFrame({"threshold": [threshold]})).mark_rule(
        strokeDash=[4, 4], color="#333").encode(y="threshold:Q")
    return alt.layer(points, rule).properties(height=220)


def rate_bars(rows: list[dict[str, Any]], category: str, title: str,
              sort_by_rate: bool = True) -> alt.Chart:
    """Fraud rate per group (MCC, hour, client, card), with the counts behind it in the tooltip.

    Args:
        rows: datamart rows with `fraud_rate`, `fraud_count`, `labeled_count`, `tx_count`.
        category: the column naming each bar's group.
        title: the group's name in the tooltip.
        sort_by_rate: highest rate on top; otherwise the rows' own order.

    Returns:
        A horizontal bar chart, its height growing with the number of rows.
    """
    frame = pd.DataFrame(rows)
    frame[category] = frame[category].astype(str)
    order: Any = "-x" if sort_by_rate else None
    return alt.Chart(frame).mark_bar(color=FRAUD_COLOUR).encode(
        x=alt.X("fraud_rate:Q", title="fraud rate (labeled purchases)", axis=alt.Axis(format="%")),
        # No axis title: the tab names the grouping, and a title would overlap long labels.
        y=alt.Y(f"{category}:N", sort=order, title=None, axis=alt.Axis(labelLimit=260)),
        tooltip=[alt.Tooltip(f"{category}:N", title=title),
                 alt.Tooltip("fraud_rate:Q", format=".2%"), "fraud_count",
                 "labeled_count", "tx_count"],
    ).properties(height=max(160, 26 * len(frame)))


def hourly_chart(rows: list[dict[str, Any]]) -> alt.LayerChart:
    """Purchases (bars) and fraud rate (line) by hour of day, on two axes.

    Args:
        rows: the `time_distribution` datamart rows (`hour`, `tx_count`, `fraud_rate`, ...).

    Returns:
        The bars and the line, layered with independent y axes.
    """
    frame = pd.DataFrame(rows)
    base = alt.Chart(frame).encode(x=alt.X("hour:O", title="hour of day"))
    volume = base.mark_bar(color="#9ecae1").encode(
        y=alt.Y("tx_count:Q", title="purchases"),
        tooltip=["hour", "tx_count", "fraud_count", "labeled_count",
                 alt.Tooltip("fraud_rate:Q", format=".2%")],
    )
    rate = base.mark_line(color=FRAUD_COLOUR, point=True).encode(
        y=alt.Y("fraud_rate:Q", title="fraud rate", axis=alt.Axis(format="%")),
    )
    return alt.layer(volume, rate).resolve_scale(y="independent").properties(height=280)
