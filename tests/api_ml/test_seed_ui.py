"""The seed's own Streamlit UI is the first client of `/predict`: its payloads must score.

The payloads below are copied from the seed repository's UI, `api_ml/ui/streamlit_app.py` of
github.com/SidyLaye/lakehouse (commit 2fbd39ce52429c02bc671a75abb76252e799cb00): the form as it
is first shown (its widget defaults, `use_chip` sent as `str(checkbox)`, the score as a float),
every choice of its two select boxes, and its three quick tests ("Cas Normal", "Cas Suspect",
"Cas Frauduleux"), byte for byte. They are replayed over real HTTP against a served model.
"""

from __future__ import annotations

import httpx
import pytest

from api_ml.api.normalise import Vocabulary

# The form's defaults, as the seed's submit handler builds the JSON body.
FORM_DEFAULTS = {
    "amount": 100.0,
    "card_brand": "VISA",
    "card_type": "Débit",
    "merchant_state": "CA",
    "use_chip": "True",
    "credit_limit": 5000.0,
    "per_capita_income": 30000.0,
    "yearly_income": 35000.0,
    "total_debt": 5000.0,
    "credit_score": 650.0,
    "num_credit_cards": 2,
}
# The three quick tests.
NORMAL = {
    "amount": 5000.0, "card_brand": "AMEX", "card_type": "Crédit", "merchant_state": "TX",
    "use_chip": "False", "credit_limit": 1000.0, "per_capita_income": 10000.0,
    "yearly_income": 15000.0, "total_debt": 14000.0, "credit_score": 450.0, "num_credit_cards": 5,
}  # fmt: skip
SUSPECT = {
    "amount": 500.0, "card_brand": "MASTERCARD", "card_type": "Crédit", "merchant_state": "NY",
    "use_chip": "True", "credit_limit": 3000.0, "per_capita_income": 25000.0,
    "yearly_income": 30000.0, "total_debt": 8000.0, "credit_score": 620.0, "num_credit_cards": 3,
}  # fmt: skip
FRAUD = {
    "amount": 50.0, "card_brand": "VISA", "card_type": "Débit", "merchant_state": "CA",
    "use_chip": "True", "credit_limit": 5000.0, "per_capita_income": 30000.0,
    "yearly_income": 40000.0, "total_debt": 2000.0, "credit_score": 800.0, "num_credit_cards": 1,
}  # fmt: skip
# Every other value the form can send: its select boxes and the unticked chip checkbox.
FORM_CHOICES = [
    {"card_brand": brand, "card_type": card_type, "use_chip": chip}
    for brand in ("VISA", "MASTERCARD", "AMEX")
    for card_type in ("Débit", "Crédit")
    for chip in ("True", "False")
]


@pytest.mark.parametrize(
    "payload",
    [FORM_DEFAULTS, NORMAL, SUSPECT, FRAUD, *({**FORM_DEFAULTS, **c} for c in FORM_CHOICES)],
)
def test_seed_ui_payloads_score(client: httpx.Client, payload: dict) -> None:
    response = client.post("/predict", json=payload)
    assert response.status_code == 200, response.text
    body = response.json()
    assert 0.0 <= body["fraud_probability"] <= 1.0
    assert body["confidence"] in {"Haute", "Moyenne"}


def test_french_labels_mean_the_dataset_values(client: httpx.Client) -> None:
    english = client.post("/predict", json={**NORMAL, "card_type": "Credit", "card_brand": "Amex"})
    french = client.post("/predict", json=NORMAL)
    assert french.json()["fraud_probability"] == pytest.approx(english.json()["fraud_probability"])


def test_vocabulary_does_not_depend_on_what_the_lake_holds() -> None:
    # A lake without swipe transactions once made "False" unknown, and the 422 listed "False".
    vocabulary = Vocabulary.from_values(
        {"use_chip": ["Chip Transaction"], "card_type": ["Credit"], "card_brand": ["Visa"]}
    )
    assert vocabulary.use_chip_of("False", "TX") == "Swipe Transaction"
    assert vocabulary.card_type_of("DÉBIT PRÉPAYÉ") == "Debit (Prepaid)"
    assert vocabulary.card_brand_of("discover") == "Discover"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("card_brand", "Diners"),
        ("card_type", "Gold"),
        ("use_chip", "maybe"),
        ("merchant_state", "ZZ"),
    ],
)
def test_refusal_never_lists_the_refused_value(
    client: httpx.Client, field: str, value: str
) -> None:
    response = client.post("/predict", json={**FORM_DEFAULTS, field: value})
    assert response.status_code == 422
    body = response.json()
    allowed = body["detail"][0]["allowed"]
    assert value not in allowed and value.lower() not in {a.lower() for a in allowed}
    assert body["error"].endswith(", ".join(allowed))
