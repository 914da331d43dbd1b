"""Unit tests of the scoring module: the cached basic encoding, confidence, normalisation."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from api_ml.api import codes
from api_ml.api.codes import basic_inputs, warm_category_codes
from api_ml.api.normalise import InvalidRequest, Vocabulary, normalise_seed_fields
from api_ml.api.scoring import confidence
from lakehouse.ml.features import BASIC_FEATURE_COLUMNS, basic_feature_frame


def _seeds() -> list[dict]:
    rng = np.random.default_rng(4)
    combos = itertools.product(
        ["Visa", "Mastercard", "Amex", "Discover"],
        ["Debit", "Credit", "Debit (Prepaid)"],
        ["CA", "ONLINE", "Italy", "PR"],
        ["Swipe Transaction", "Chip Transaction", "Online Transaction"],
    )
    seeds = []
    for brand, kind, state, chip in combos:
        seeds.append(
            {
                "amount": float(rng.normal(50, 80)),
                "card_brand": brand,
                "card_type": kind,
                "merchant_state": state,
                "use_chip": chip,
                "credit_limit": float(rng.integers(0, 30_000)),
                "per_capita_income": 20_000.0,
                "yearly_income": 40_000.5,
                "total_debt": 0.0,
                "credit_score": None if rng.random() < 0.2 else float(rng.integers(300, 851)),
                "num_credit_cards": None if rng.random() < 0.2 else float(rng.integers(0, 9)),
            }
        )
    return seeds


def test_cached_basic_encoding_equals_basic_feature_frame() -> None:
    seeds = _seeds()
    reference = basic_feature_frame(pd.DataFrame(seeds))[BASIC_FEATURE_COLUMNS].astype("float64")
    codes._CODES.clear()  # first: combinations coded one by one on demand
    pd.testing.assert_frame_equal(basic_inputs(seeds), reference, check_dtype=False)
    codes._CODES.clear()  # then: every combination coded at once, as at model load
    warmed = warm_category_codes(Vocabulary.from_values({"merchant_state": ["Italy"]}))
    assert warmed >= 4 * 3 * 3 * 50
    pd.testing.assert_frame_equal(basic_inputs(seeds), reference, check_dtype=False)


@pytest.mark.parametrize(
    ("probability", "threshold", "label"),
    [
        (0.9, 0.5, "Haute"),
        (0.15, 0.5, "Haute"),
        (0.6, 0.5, "Moyenne"),
        (0.35, 0.5, "Moyenne"),
        (0.001, 0.3, "Haute"),
        (0.29, 0.3, "Moyenne"),
        (0.99, 0.3, "Haute"),
    ],
)
def test_confidence_follows_the_seed_rule_around_the_threshold(
    probability: float, threshold: float, label: str
) -> None:
    assert confidence(probability, threshold)[0] == label


def test_normalisation_maps_spellings_and_collects_every_problem() -> None:
    vocabulary = Vocabulary.from_values({"merchant_state": ["CA", "ONLINE", "Italy"]})
    row = normalise_seed_fields(
        {
            "amount": 1,
            "card_brand": "MASTERCARD",
            "card_type": "debit (prepaid)",
            "merchant_state": "italy",
            "use_chip": False,
            "credit_limit": 1,
            "per_capita_income": 1,
            "yearly_income": 1,
            "total_debt": 1,
            "credit_score": 700,
            "num_credit_cards": 2,
        },
        vocabulary,
    )
    assert (row["card_brand"], row["card_type"], row["merchant_state"], row["use_chip"]) == (
        "Mastercard",
        "Debit (Prepaid)",
        "Italy",
        "Swipe Transaction",
    )
    with pytest.raises(InvalidRequest) as raised:
        normalise_seed_fields(
            {
                "card_brand": "Diners",
                "card_type": "Gold",
                "merchant_state": "ZZ",
                "use_chip": "maybe",
            },
            vocabulary,
        )
    fields = [d["location"] for d in raised.value.details()]
    assert fields == ["body.card_brand", "body.card_type", "body.merchant_state", "body.use_chip"]
