"""Page "Score a transaction": the seed's form, quick scenarios, and this session's scores.

The analyst fills the seed's eleven fields — whose choices (brands, card types, chip modes,
merchant states) are the vocabulary the serving model reports in `GET /model/info`, so the
form never offers a label the model never saw — plus, optionally, the card, client,
merchant, MCC and time that switch the scoring API to its full behavioural model. "Score"
posts the form to `POST /predict`; the answer shows as a gauge, the decision, the confidence
and the reason codes, and joins this session's table and chart (kept in `st.session_state`).
The three scenario buttons fill the form with real labeled transactions of the lake, chosen
by `api_ml.ui.scenarios`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from api_ml.api.normalise import Vocabulary, normalise_seed_fields
from api_ml.api.schemas import SEED_EXAMPLE as SEED_REQUEST
from api_ml.ui import charts, scenarios
from api_ml.ui.client import Endpoints, LakehouseClient, ServiceError
from lakehouse.config import get_settings
from lakehouse.formats import US_STATES

NUMBER_FIELDS = {"amount": ("Amount ($, negative = refund)", -1_000_000.0, 1_000_000.0),
                 "credit_limit": ("Credit limit ($)", 0.0, 100_000_000.0),
                 "per_capita_income": ("Per-capita income ($)", 0.0, 100_000_000.0),
                 "yearly_income": ("Yearly income ($)", 0.0, 100_000_000.0),
                 "total_debt": ("Total debt ($)", 0.0, 100_000_000.0)}
CHOICE_FIELDS = {"card_brand": "Card brand", "card_type": "Card type",
                 "use_chip": "Chip / swipe / online", "merchant_state": "Merchant state"}
ID_FIELDS = {"card_id": "Card id", "client_id": "Client id", "merchant_id": "Merchant id",
             "mcc": "MCC", "timestamp": "Time (ISO, e.g. 2019-06-01T14:30:00)",
             "transaction_id": "Transaction id (re-score a known one)",
             "merchant_city": "Merchant city", "zip": "Zip code",
             "errors": "Errors (comma-joined, e.g. Bad PIN)"}
INT_IDS = ("card_id", "client_id", "merchant_id", "mcc", "transaction_id")
# The seed's own curl example (the API's documented request), in the dataset's spelling the
# form's choices use: the form's starting point before any scenario is picked.
SEED_EXAMPLE = normalise_seed_fields(SEED_REQUEST, Vocabulary())


def form_choices(vocabulary: dict[str, list[str]]) -> dict[str, list[str]]:
    """Selectbox options per field from the model's vocabulary (`/model/info`).

    Args:
        vocabulary: field -> values the model knows; "<US state code>" stands for every state.

    Returns:
        Options for `card_brand`, `card_type`, `use_chip` (the dataset's spellings when the
        model knows them) and `merchant_state` (the US states expanded).
    """
    dataset_chip = [v for v in vocabulary.get("use_chip", []) if v not in ("True", "False")]
    states: list[str] = []
    for state in vocabulary.get("merchant_state", []):
        # The API reports "<US state code>" for the whole US set the feature contract knows.
        states += sorted(US_STATES) if state == "<US state code>" else [state]
    return {"card_brand": list(vocabulary.get("card_brand", [])),
            "card_type": list(vocabulary.get("card_type", [])),
            "use_chip": dataset_chip or list(vocabulary.get("use_chip", [])),
            "merchant_state": list(dict.fromkeys(states))}


def build_request(values: dict[str, Any]) -> dict[str, Any]:
    """The `/predict` body from the form's values; optional ids only when filled in.

    Args:
        values: the form's values by field name (seed fields and the optional ids).

    Returns:
        The request body: the seed fields, then each filled-in id (whole numbers as int,
        the time as ISO 8601).

    Raises:
        ValueError: an id that is not a whole number, or a time that is not ISO 8601.
    """
    body = {name: values[name] for name in scenarios.SEED_FIELDS}
    body["credit_score"] = int(body["credit_score"])
    body["num_credit_cards"] = int(body["num_credit_cards"])
    for name, label in ID_FIELDS.items():
        text = str(values.get(name) or "").strip()
        if not text:
            continue
        if name in INT_IDS:
            if not text.isdigit():
                raise ValueError(f"{label} must be a whole number, not {text!r}")
            body[name] = int(text)
        elif name != "timestamp":
            body[name] = text
        else:
            try:
                body[name] = datetime.fromisoformat(text).isoformat()
            except ValueError as exc:
                raise ValueError(f"{label}: {text!r} is not an ISO date-time") from exc
    return body


def form_values_from_request(request: dict[str, Any]) -> dict[str, Any]:
    """Session-state values for the form's widgets from a `/predict` body (a scenario).

    Args:
        request: a `/predict` body with every seed field.

    Returns:
        Widget key (`f_<field>`) -> value: numbers as float, counts as int, ids as text
        ("" when absent).
    """
    values = {f"f_{name}": request[name] for name in scenarios.SEED_FIELDS}
    for name in ("amount", *[n for n in NUMBER_FIELDS if n != "amount"]):
        values[f"f_{name}"] = float(values[f"f_{name}"])
    values["f_credit_score"] = int(request["credit_score"])
    values["f_num_credit_cards"] = int(request["num_credit_cards"])
    for name in ID_FIELDS:
        values[f"f_{name}"] = "" if request.get(name) is None else str(request[name])
    return values


@st.cache_data(ttl=30, show_spinner=False)
def _model_info(api_ml_url: str) -> dict[str, Any]:
    return LakehouseClient(Endpoints("", api_ml_url, "")).model_info()


@st.cache_data(ttl=600, show_spinner="Picking real examples from the lake…")
def _scenarios(api_ml_url: str, lake: str, model_versions: str) -> dict[str, dict[str, Any]]:
    """Scenarios for one model version (a new champion re-picks them)."""
    sample = scenarios.sample_labeled(get_settings())
    scores = LakehouseClient(Endpoints("", api_ml_url, "")).predict_each(sample.requests)
    threshold = scores[0]["threshold"] if scores else 0.5
    return scenarios.choose_scenarios(
        sample, [s["fraud_probability"] for s in scores], float(threshold))


def _init_form(choices: dict[str, list[str]]) -> None:
    if "f_amount" in st.session_state:
        return
    start = dict(SEED_EXAMPLE)
    for name, options in choices.items():
        if options and start[name] not in options:
            start[name] = options[0]
    st.session_state.update(form_values_from_request(start))


def _apply_scenario(name: str, found: dict[str, dict[str, Any]]) -> None:
    picked = found[name]
    st.session_state.update(form_values_from_request(picked["request"]))
    st.session_state["scenario"] = name
    truth = "a labeled fraud" if picked["label"] else "labeled legitimate"
    st.session_state["scenario_note"] = (
        f"Scenario **{name}**: lake transaction #{picked['request'].get('transaction_id')}, "
        f"{truth}; the model scored it {picked['probability']:.2%} when it was picked.")


def _scenario_buttons(client: LakehouseClient, info: dict[str, Any]) -> None:
    versions = ",".join(f"{m['name']}:{m['version']}" for m in info["models"].values() if m)
    try:
        found = _scenarios(client.endpoints.api_ml_url, get_settings().lake, versions)
    except (scenarios.SampleUnavailable, ServiceError) as exc:
        st.info(f"Quick scenarios unavailable: {exc}")
        return
    columns = st.columns(len(scenarios.SCENARIO_NAMES))
    for column, name in zip(columns, scenarios.SCENARIO_NAMES, strict=True):
        if name in found:
            truth = "fraud" if found[name]["label"] else "legitimate"
            column.button(f"Scenario: {name}", key=f"scenario_{name}", on_click=_apply_scenario,
                          args=(name, found), help=f"A real transaction labeled {truth}.",
                          width="stretch")
    if "scenario_note" in st.session_state:
        st.caption(st.session_state["scenario_note"])


def _form(choices: dict[str, list[str]]) -> dict[str, Any] | None:
    with st.form("score_form"):
        left, right = st.columns(2)
        for i, (name, (label, low, high)) in enumerate(NUMBER_FIELDS.items()):
            (left if i % 2 == 0 else right).number_input(
                label, min_value=low, max_value=high, step=1.0, key=f"f_{name}")
        for i, (name, label) in enumerate(CHOICE_FIELDS.items()):
            options = list(choices[name])
            if st.session_state.get(f"f_{name}") not in options:
                options.append(st.session_state.get(f"f_{name}"))  # a scenario's own value
            (right if i % 2 == 0 else left).selectbox(label, options, key=f"f_{name}")
        left.number_input("Credit score", min_value=300, max_value=850, key="f_credit_score")
        right.number_input("Number of credit cards", min_value=0, max_value=50,
                           key="f_num_credit_cards")
        with st.expander("Known card (optional: selects the full behavioural model)"):
            id_columns = st.columns(3)
            for i, (name, label) in enumerate(ID_FIELDS.items()):
                id_columns[i % 3].text_input(label, key=f"f_{name}")
        if not st.form_submit_button("Score", type="primary"):
            return None
    return {name: st.session_state[f"f_{name}"]
            for name in (*scenarios.SEED_FIELDS, *ID_FIELDS)}


def _show_result(result: dict[str, Any]) -> None:
    gauge, verdict = st.columns([3, 2])
    gauge.altair_chart(charts.probability_gauge(result["fraud_probability"],
                                                result["threshold"]), width="stretch")
    decision = "FRAUD" if result["is_fraud"] else "legitimate"
    verdict.metric("Decision", decision)
    verdict.metric("Fraud probability", f"{result['fraud_probability']:.2%}")
    verdict.metric("Confidence", f"{result['confidence']} ({result['confidence_score']:.0%})")
    verdict.caption(f"{result['model_name']} v{result['model_version']} ({result['flavour']} "
                    f"model), threshold {result['threshold']:.3f}")
    if result.get("reasons"):
        st.markdown("**Reason codes** (contribution to the fraud score, log-odds)")
        st.dataframe(pd.DataFrame(result["reasons"]), hide_index=True, width="stretch")


def _remember(request: dict[str, Any], result: dict[str, Any]) -> None:
    history = st.session_state.setdefault("predictions", [])
    history.append({"n": len(history) + 1, "scenario": st.session_state.get("scenario", "form"),
                    "amount": request["amount"], "card_brand": request["card_brand"],
                    "merchant_state": request["merchant_state"],
                    "fraud_probability": round(float(result["fraud_probability"]), 4),
                    "decision": "fraud" if result["is_fraud"] else "legitimate",
                    "confidence": result["confidence"],
                    "model": f"{result['model_name']} v{result['model_version']}"})
    st.session_state["scenario"] = "form"


def render(client: LakehouseClient) -> None:
    """Draw the scoring page: the form, the scenario buttons, the answer and this session's scores.

    Args:
        client: the UI's client; scoring API failures are shown as errors, not raised.
    """
    st.header("Score a transaction")
    try:
        info = _model_info(client.endpoints.api_ml_url)
    except ServiceError as exc:
        st.error(f"Cannot score right now. {exc}")
        return
    served = [m for m in info["models"].values() if m]
    if not served:
        reasons = "; ".join(f"{k}: {v}" for k, v in info.get("unavailable", {}).items())
        st.warning(f"The scoring API serves no model yet ({reasons}). Run `lakehouse train`.")
        return
    choices = form_choices(served[0].get("vocabulary") or {})
    _init_form(choices)
    _scenario_buttons(client, info)
    values = _form(choices)
    if values is not None:
        try:
            request = build_request(values)
            # The page shows the reasons of the one transaction it scores, approved or not.
            result = client.predict(request, reasons="all")
        except (ValueError, ServiceError) as exc:
            st.error(str(exc))
        else:
            st.session_state["last_result"] = result
            _remember(request, result)
    if "last_result" in st.session_state:
        _show_result(st.session_state["last_result"])
    history = st.session_state.get("predictions", [])
    if history:
        st.subheader(f"This session's predictions ({len(history)})")
        st.dataframe(pd.DataFrame(history), hide_index=True, width="stretch")
        threshold = float(st.session_state["last_result"]["threshold"])
        st.altair_chart(charts.session_chart(history, threshold), width="stretch")
