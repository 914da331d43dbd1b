"""The model's side of the feature contract: its input columns and the basic model's matrix.

The features themselves are declared in `lakehouse.features` (row derivations, aggregates,
the generated `ml_features` SQL, the online store); this module names what a model consumes
— `FEATURE_COLUMNS` for the full model, `BASIC_FEATURE_COLUMNS` for the basic one — and
`basic_feature_frame`, which codes the seed's eleven request fields exactly like the SQL codes
silver's columns. Training reads `ml_features` rows with these columns; the scoring API builds
the same columns for a request. `FEATURE_SET_VERSION` is logged with every model.
"""

from __future__ import annotations

from collections.abc import Mapping

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
from lakehouse.formats import ONLINE_CITY, US_STATES

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
]


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
