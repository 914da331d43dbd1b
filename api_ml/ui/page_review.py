"""Page "Review queue": the fraud analysts work the cases `/predict` opened.

Nothing shows before a login: the analyst's username and password go to the scoring API's
`POST /auth/token`, and the bearer token it returns stays in this browser session only
(`st.session_state`) for every later call. The queue (`GET /cases`) comes sorted by expected
loss, with filters and the age of the oldest active case; the case view (`GET /cases/{id}`)
shows the score, the decision rule that fired, the model's reasons, the card's last
transactions and other cases, the notes, and the buttons that assign, decide or escalate
(`POST /cases/{id}/...`); the case's audit log and the latest activity of everyone
(`GET /audit`) are listed under it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from api_ml.ui.client import LakehouseClient, ServiceError

TITLE = "Review queue"
ACTIVE = ["open", "assigned", "escalated"]
ALL_STATES = [*ACTIVE, "confirmed_fraud", "legitimate"]
ACTIONS = {  # button label -> (route, body)
    "Assign to me": ("assign", {}),
    "Confirm fraud": ("decision", {"outcome": "confirmed_fraud"}),
    "Legitimate": ("decision", {"outcome": "legitimate"}),
    "Escalate": ("decision", {"outcome": "escalated"}),
}
QUEUE_COLUMNS = [
    "case_id",
    "expected_loss",
    "fraud_probability",
    "amount",
    "decision",
    "state",
    "owner",
    "created_at",
]


def age_text(seconds: float | None) -> str:
    """'3 h 12 min' style age of the oldest case ('none' without one).

    Args:
        seconds: the age in seconds, or None when no case is active.

    Returns:
        Minutes under an hour, hours and minutes under 48 h, else whole days.
    """
    if seconds is None:
        return "none"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours < 48 else f"{hours // 24} days"


def _login(client: LakehouseClient) -> None:
    st.info("Log in with the account a lead created (`lakehouse cases add-user`).")
    with st.form("login"):
        username = st.text_input("Username")
        password = st.text_input("Password", type="password")
        if st.form_submit_button("Log in"):
            try:
                answer = client.login(username.strip(), password)
            except ServiceError as exc:
                st.error(str(exc))
                return
            st.session_state["case_token"] = answer["access_token"]
            st.session_state["case_user"] = f"{answer['username']} ({answer['role']})"
            st.rerun()


def _filters() -> dict[str, Any]:
    left, middle, right = st.columns(3)
    states = left.multiselect("States", ALL_STATES, default=ACTIVE, key="case_states")
    decision = middle.selectbox("Decision", ["any", "review", "decline"], key="case_decision")
    floor = right.number_input("Min expected loss ($)", min_value=0.0, value=0.0, step=10.0)
    params: dict[str, Any] = {"state": states, "limit": 200}
    if decision != "any":
        params["decision"] = decision
    if floor > 0:
        params["min_expected_loss"] = floor
    return params


def _queue(client: LakehouseClient, token: str) -> list[str]:
    """Draw the queue; returns its case ids in order (highest expected loss first)."""
    queue = client.cases(token, **_filters())
    counts = st.columns(3)
    counts[0].metric("Cases shown", f"{queue['count']:,}")
    counts[1].metric("Oldest active case", age_text(queue["oldest_active_age_seconds"]))
    counts[2].metric("Open", f"{queue['by_state'].get('open', 0):,}")
    if not queue["data"]:
        st.write("No case matches these filters.")
        return []
    frame = pd.DataFrame(queue["data"])[QUEUE_COLUMNS]
    st.dataframe(frame, hide_index=True, use_container_width=True)
    return [str(c) for c in frame["case_id"]]


def _act(client: LakehouseClient, token: str, case_id: str) -> None:
    columns = st.columns(len(ACTIONS))
    for column, (label, (route, body)) in zip(columns, ACTIONS.items(), strict=True):
        if column.button(label, key=f"act_{label}"):
            try:
                client.case_action(token, case_id, route, body)
                st.session_state["case_message"] = ("success", f"{label}: case {case_id} done.")
            except ServiceError as exc:
                st.session_state["case_message"] = ("error", str(exc))
            st.rerun()
    note = st.text_area("Note", key="case_note")
    if st.button("Add note") and note.strip():
        try:
            client.case_action(token, case_id, "notes", {"text": note.strip()})
        except ServiceError as exc:
            st.error(str(exc))


def _case(client: LakehouseClient, token: str, case_id: str) -> None:
    case = client.case(token, case_id)
    st.subheader(f"Case {case_id} — {case['state']}")
    numbers = st.columns(4)
    numbers[0].metric("P(fraud)", f"{case['fraud_probability']:.3f}")
    numbers[1].metric("Expected loss", f"${case['expected_loss']:,.2f}")
    numbers[2].metric("Amount", f"${case['amount']:,.2f}")
    numbers[3].metric("Owner", case["owner"] or "nobody")
    st.info(
        f"Decision rule: {case['decision_rule']} (model {case['model_name']} "
        f"v{case['model_version']})"
    )
    st.write("**Reasons** (features pushing the score toward fraud)")
    st.dataframe(pd.DataFrame(case["reasons"]), hide_index=True)
    st.write("**The card's last transactions**")
    if case["card_transactions"]:
        st.dataframe(pd.DataFrame(case["card_transactions"]), hide_index=True)
    else:
        st.write(case["history_unavailable"] or "No card history for this request.")
    for note in case["notes"]:
        st.caption(f"{note['author']} · {note['created_at']}: {note['text']}")
    _act(client, token, case_id)
    st.write("**This case's audit log**")
    _audit_table(client.audit(token, case_id))


def _audit_table(entries: list[dict[str, Any]]) -> None:
    # st.table, not st.dataframe: a short log reads better as plain text (and can be searched).
    if entries:
        st.table(pd.DataFrame(entries)[["at", "actor", "action", "case_id"]])


def render(client: LakehouseClient) -> None:
    """Draw the review queue: the login form, or the queue, one open case and recent activity.

    An expired token (401) logs the analyst out.

    Args:
        client: the UI's client; the analyst's token comes from the session state.
    """
    st.header(TITLE)
    token = st.session_state.get("case_token")
    if not token:
        _login(client)
        return
    who, leave = st.columns([4, 1])
    who.caption(f"Logged in as {st.session_state.get('case_user')}")
    if leave.button("Log out"):
        st.session_state.pop("case_token", None)
        st.rerun()
    if message := st.session_state.pop("case_message", None):
        kind, text = message
        (st.success if kind == "success" else st.error)(text)
    try:
        ids = _queue(client, token)
        if ids:
            chosen = st.selectbox("Open case", ids, key="case_open")
            _case(client, token, str(chosen))
        st.subheader("Latest activity")
        _audit_table(client.audit(token)[:10])
    except ServiceError as exc:
        if exc.status == 401:  # expired: back to the login form
            st.session_state.pop("case_token", None)
        st.error(str(exc))
