"""The basic model's input matrix, with category codes computed once per combination.

`lakehouse.ml.features.basic_feature_frame` is pandas string work costing milliseconds per
call, far more than the model itself; its categorical codes depend only on the four
categorical fields, so they are computed by that function for every combination the model's
vocabulary allows when the model loads (`warm_category_codes`, called by `state.py`), and
`basic_matrix` (called by `scoring.py`) only looks them up.
"""

from __future__ import annotations

import itertools
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from api_ml.api.normalise import Vocabulary
from lakehouse.formats import ONLINE_CITY, US_STATES
from lakehouse.ml.features import BASIC_FEATURE_COLUMNS, CATEGORICAL_COLUMNS, basic_feature_frame


def basic_matrix(seeds: list[dict[str, Any]]) -> np.ndarray:
    """The basic model's float64 input matrix (`BASIC_FEATURE_COLUMNS` order), no pandas.

    `basic_feature_frame` is pandas string work costing milliseconds per call, far more than
    the model itself; its categorical codes depend only on the four categorical fields, so
    they are computed by that function for every allowed combination when the model loads
    (`warm_category_codes`), and the seven numbers pass through as floats exactly as it
    passes them (None becomes NaN).

    Args:
        seeds: normalised seed rows (`normalise.normalise_seed_fields`).
    Returns:
        One row per seed.
    """
    matrix = np.empty((len(seeds), len(BASIC_FEATURE_COLUMNS)), dtype="float64")
    if not seeds:
        return matrix
    # Column by column: a batch repeats a few combinations, each looked up once.
    combos = list(map(_CATEGORIES, seeds))
    codes = {combo: category_codes(*combo) for combo in set(combos)}
    matrix[:, _CATEGORICAL_AT] = [codes[combo] for combo in combos]
    for column, at in zip(_NUMERIC, _NUMERIC_AT, strict=True):
        matrix[:, at] = [np.nan if (value := seed[column]) is None else value for seed in seeds]
    return matrix


def basic_inputs(seeds: list[dict[str, Any]]) -> pd.DataFrame:
    """`basic_matrix` as a frame with the model's column names.

    `tests/api_ml/test_scoring.py` checks this frame equals `basic_feature_frame`'s own output.

    Args:
        seeds: normalised seed rows (`normalise.normalise_seed_fields`).

    Returns:
        One row per seed, columns in `BASIC_FEATURE_COLUMNS` order.
    """
    return pd.DataFrame(basic_matrix(seeds), columns=BASIC_FEATURE_COLUMNS)


_CATEGORICAL_AT = [BASIC_FEATURE_COLUMNS.index(c) for c in CATEGORICAL_COLUMNS]
_NUMERIC = [c for c in BASIC_FEATURE_COLUMNS if c not in CATEGORICAL_COLUMNS]
_NUMERIC_AT = [BASIC_FEATURE_COLUMNS.index(c) for c in _NUMERIC]
_CATEGORIES = itemgetter(*CATEGORICAL_COLUMNS)  # a seed's four categorical values, a tuple
# (card_brand, card_type, merchant_state, use_chip) -> their codes, filled at model load.
_CODES: dict[tuple[str, ...], tuple[float, ...]] = {}


def warm_category_codes(vocabulary: Vocabulary) -> int:
    """Code every combination the vocabulary allows, in one `basic_feature_frame` call.

    Done when a model is loaded, so no request pays for a first-time combination. States are
    the US states, the online marker and the vocabulary's countries.

    Args:
        vocabulary: the loaded model's allowed categorical values.

    Returns:
        The number of combinations coded.
    """
    states = [*sorted(US_STATES), ONLINE_CITY, *vocabulary.countries]
    combos = list(
        itertools.product(vocabulary.card_brand, vocabulary.card_type, states, vocabulary.use_chip)
    )
    _store_codes(combos)
    return len(combos)


def _store_codes(combos: list[tuple[str, ...]]) -> None:
    frame = pd.DataFrame(combos, columns=CATEGORICAL_COLUMNS)
    for column in BASIC_FEATURE_COLUMNS:
        if column not in CATEGORICAL_COLUMNS:
            frame[column] = 0.0
    coded = basic_feature_frame(frame)[CATEGORICAL_COLUMNS].astype("float64").to_numpy()
    _CODES.update(zip(combos, map(tuple, coded), strict=True))


def category_codes(*values: str) -> tuple[float, ...]:
    """The codes `basic_feature_frame` gives these four categorical values.

    A combination outside the warmed vocabulary is coded on first use and kept.

    Args:
        values: card_brand, card_type, merchant_state, use_chip (`CATEGORICAL_COLUMNS` order).

    Returns:
        One float code per value, in the same order.
    """
    found = _CODES.get(values)
    if found is None:  # a value outside the warmed vocabulary: code it now, once
        _store_codes([values])
        found = _CODES[values]
    return found
