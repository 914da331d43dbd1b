"""The model's side of the feature contract: its input columns and the basic model's matrix.

The features themselves are declared in `lakehouse.features` (row derivations, aggregates,
the generated `ml_features` SQL, the online store); this module names what a model consumes
— `FEATURE_COLUMNS` for the full model, `BASIC_FEATURE_COLUMNS` for the basic one — and
`basic_feature_frame`, which codes the seed's eleven request fields exactly like the SQL codes
silver's columns. Training reads `ml_features` rows with these columns; the scoring API builds
the same columns for a request. `FEATURE_SET_VERSION` is logged with every model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from lakehouse.features.declarations import (
    BASIC_FEATURE_COLUMNS,
    BEHAVIOUR_COLUMNS,
    CATEGORICAL_COLUMNS,
    FEATURE_COLUMNS,
    FEATURE_SET_VERSION,
    HISTORY_DAYS,
    KEY_COLUMNS,
    STATIC_COLUMNS,
)
from lakehouse.features.derivations import (
    CARD_BRAND_CODES,
    CARD_TYPE_CODES,
    MERCHANT_STATE_CODES,
    UNKNOWN_CODE,
    USE_CHIP_CODES,
)
from lakehouse.formats import CARD_BRANDS, CARD_TYPES, ONLINE_CITY, US_STATES, USE_CHIP_VALUES

__all__ = [
    "BASIC_FEATURE_COLUMNS",
    "BEHAVIOUR_COLUMNS",
    "CATEGORICAL_COLUMNS",
    "FEATURE_COLUMNS",
    "FEATURE_SET_VERSION",
    "HISTORY_DAYS",
    "KEY_COLUMNS",
    "STATIC_COLUMNS",
    "basic_feature_frame",
    "foreign_places",
    "request_vocabulary",
]


def foreign_places(states: Iterable[object]) -> list[str]:
    """The merchant states that are neither a US state code nor ONLINE (countries), sorted.

    Args:
        states: merchant states as silver holds them (None and blanks are skipped).

    Returns:
        The distinct foreign places, in the data's spelling.
    """
    places = {str(s).strip() for s in states if s is not None}
    return sorted(p for p in places if p and p != ONLINE_CITY and p.upper() not in US_STATES)


def request_vocabulary(countries: Iterable[str] = ()) -> dict[str, list[str]]:
    """The categorical values a request may carry, in the dataset's spelling.

    Brands, card types and chip modes are the source format's fixed lists; merchant states are
    every US state code, ONLINE and the foreign places the model's training data contained.
    Training records it with the model (`metadata.json` and `MLmodel`), so the scoring API
    reads it from the model instead of scanning the lake.

    Args:
        countries: the foreign places of the training data (`foreign_places`).

    Returns:
        `{column: allowed values}` for card_brand, card_type, use_chip and merchant_state.
    """
    return {
        "card_brand": list(CARD_BRANDS),
        "card_type": list(CARD_TYPES),
        "use_chip": list(USE_CHIP_VALUES),
        "merchant_state": [*US_STATES, ONLINE_CITY, *countries],
    }


def basic_feature_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The seed's eleven request fields (dataset vocabulary) -> the basic model matrix.

    Categories are matched case-insensitively and coded exactly as the SQL codes them; an
    unknown category becomes `UNKNOWN_CODE` (the API rejects those before scoring).

    Args:
        frame: one row per transaction with the `BASIC_FEATURE_COLUMNS`.

    Returns:
        A frame of the same index with those columns, categories as integer codes.
    """
    missing = [c for c in BASIC_FEATURE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"missing request fields {missing}")

    def codes(column: str, mapping: Mapping[str, int]) -> pd.Series:
        lowered = frame[column].astype("string").str.strip().str.lower()
        return lowered.map(mapping).fillna(UNKNOWN_CODE).astype("int64")

    state = frame["merchant_state"].astype("string").str.strip().str.upper()
    state_code = pd.Series(MERCHANT_STATE_CODES["abroad"], index=frame.index, dtype="int64")
    state_code[state.isin(US_STATES).fillna(False)] = MERCHANT_STATE_CODES["us"]
    state_code[(state == ONLINE_CITY).fillna(False)] = MERCHANT_STATE_CODES["online"]
    category = {
        "card_brand": CARD_BRAND_CODES,
        "card_type": CARD_TYPE_CODES,
        "use_chip": USE_CHIP_CODES,
    }
    out = pd.DataFrame(index=frame.index)
    for column in BASIC_FEATURE_COLUMNS:
        if column in category:
            out[column] = codes(column, category[column])
        elif column == "merchant_state":
            out[column] = state_code
        else:
            out[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return out
