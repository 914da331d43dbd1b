"""Which spellings of a categorical value `/predict` accepts, as one rule and as its regex.

A client may write a value in any case, with or without accents, spaces, dashes, underscores
or brackets (`VISA`, `Crédit`, `debit_prepaid`), or use an alias (`AmericanExpress`,
`prepaid`, the seed's `"True"`/`"False"` for `use_chip`). `key` reduces a spelling to what
matters; `normalise.py` looks that key up. `pattern` writes the same rule as a regular
expression, which `schemas.py` puts into the OpenAPI document: the document then states
exactly which values are accepted, and a client (or schemathesis) can generate them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

from lakehouse.formats import CARD_BRANDS, CARD_TYPES, ONLINE_CITY, US_STATES, USE_CHIP_VALUES

# What `key` drops between letters; Python's \s on both sides (see schemas' regex engine).
_SEPARATORS = r"[\s_()\-]"
BRAND_ALIASES = {"americanexpress": "Amex", "mc": "Mastercard", "master": "Mastercard"}
# Keys as `key` leaves them: accents are already gone, so "prépayé" is "prepaye".
TYPE_ALIASES = {
    "prepaid": "Debit (Prepaid)",
    "debitprepaid": "Debit (Prepaid)",
    "prepaiddebit": "Debit (Prepaid)",
    "prepaye": "Debit (Prepaid)",
    "debitprepaye": "Debit (Prepaid)",
}
# The seed UI sends str(bool); "vrai"/"oui" and "faux"/"non" are its language's spellings.
TRUE_WORDS = ("true", "1", "yes", "y", "t", "vrai", "oui")
FALSE_WORDS = ("false", "0", "no", "n", "f", "faux", "non")


def _letter_variants() -> dict[str, str]:
    """Each ASCII letter with its upper case and every Latin accented form of it."""
    variants = {c: c + c.upper() for c in "abcdefghijklmnopqrstuvwxyz"}
    for code in range(0xC0, 0x250):
        char = chr(code)
        base = unicodedata.normalize("NFKD", char)
        accented = len(base) > 1 and all(unicodedata.combining(c) for c in base[1:])
        if accented and base[0].lower() in variants:
            variants[base[0].lower()] += char
    return variants


_VARIANTS = _letter_variants()


@functools.lru_cache(maxsize=8192)  # a pure function of a few distinct values: a batch's hot path
def key(value: str) -> str:
    """Case, accents, spaces, dashes, underscores and brackets never change meaning.

    Args:
        value: a client's spelling, e.g. "Crédit" or "american-express".

    Returns:
        The comparison key: no accents, no separators, case-folded ("credit").
    """
    decomposed = unicodedata.normalize("NFKD", value)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(_SEPARATORS + "+", "", bare).casefold()


def _spelled(word_key: str) -> str:
    letters = [f"[{re.escape(_VARIANTS[c])}]" if c in _VARIANTS else re.escape(c) for c in word_key]
    return f"{_SEPARATORS}*".join(letters)


def pattern(values: Iterable[str]) -> str:
    """A regex matching every spelling whose `key` is the key of one of `values`.

    Args:
        values: the accepted words (the vocabulary and its aliases).

    Returns:
        An anchored regex for the OpenAPI `pattern` (longest alternatives first).
    """
    alternatives = sorted({key(v) for v in values}, key=lambda k: (-len(k), k))
    body = "|".join(_spelled(k) for k in alternatives)
    return f"^{_SEPARATORS}*(?:{body}){_SEPARATORS}*$"


def use_chip_words() -> list[str]:
    """Every `use_chip` word: the seed's booleans, dataset values and their first word.

    Returns:
        The words, e.g. "True", "Chip Transaction", "Chip".
    """
    dataset = [*USE_CHIP_VALUES, *(v.split()[0] for v in USE_CHIP_VALUES)]
    return [*TRUE_WORDS, *FALSE_WORDS, *dataset]


# A foreign merchant location: letters (accents too), spaces, dots, apostrophes, dashes.
_PLACE = r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ .'\-]{2,59}"
CARD_BRAND_PATTERN = pattern([*CARD_BRANDS, *BRAND_ALIASES])
CARD_TYPE_PATTERN = pattern([*CARD_TYPES, *TYPE_ALIASES])
USE_CHIP_PATTERN = pattern(use_chip_words())
# A US state code, ONLINE, or a foreign place (a 2-letter code must be a US state's).
MERCHANT_STATE_PATTERN = (
    rf"^\s*(?:{_spelled(key(ONLINE_CITY))}|"
    + "|".join(_spelled(key(s)) for s in US_STATES)
    + rf"|{_PLACE})\s*$"
)
