"""Row-level derivations: what a transaction's raw fields mean, defined once for silver and serving.

A source transaction carries `date`, `amount`, `use_chip`, `merchant_city`, `merchant_state`,
`zip`, `errors` as text (DATA.md). Whether it was online, abroad or a refund, its hour, its
error flags and its normalised state are decided here, once: each `Derivation` holds the SQL
expression that `silver_transactions.sql` gets (its `{{ derived: name }}` markers are replaced
by `render_silver`) and the Python function that a scoring request goes through
(`derive_row`), side by side so they cannot drift. `tests/features/test_derivations.py` runs
both over the same raw values and demands equal results.

The category codes every later step uses (card brands, types, chip modes, us/online/abroad,
error flags) live here too; the source vocabularies themselves (US states, the ONLINE city)
are `lakehouse.formats`'.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lakehouse.formats import ONLINE_CITY, US_STATES

NIGHT_FROM_HOUR, NIGHT_UNTIL_HOUR = 22, 6
SECONDS_PER_DAY = 86_400
ONLINE_USE_CHIP = "Online Transaction"
NO_ERROR = "no error"
_US = frozenset(US_STATES)
# Category codes: the feature SQL's CASE expressions and `basic_feature_frame` both read them.
CARD_BRAND_CODES: dict[str, int] = {"visa": 0, "mastercard": 1, "amex": 2, "discover": 3}
CARD_TYPE_CODES: dict[str, int] = {"debit": 0, "credit": 1, "debit (prepaid)": 2}
USE_CHIP_CODES: dict[str, int] = {
    "swipe transaction": 0,
    "chip transaction": 1,
    "online transaction": 2,
}
# merchant_state as a model input: the seed's field, reduced to where the card was used.
MERCHANT_STATE_CODES: dict[str, int] = {"us": 0, "online": 1, "abroad": 2}
UNKNOWN_CODE = -1
ERROR_FLAGS: dict[str, str] = {
    "err_bad_cvv": "Bad CVV",
    "err_bad_card_number": "Bad Card Number",
    "err_bad_expiration": "Bad Expiration",
    "err_bad_pin": "Bad PIN",
    "err_insufficient_balance": "Insufficient Balance",
}


@dataclass(frozen=True)
class RawTransaction:
    """A transaction as the source system holds it, typed: what both renderings start from.

    `merchant_state`, `zip` and `errors` are None when the source field is empty.
    """

    ts: datetime
    amount: float
    use_chip: str
    merchant_city: str | None
    merchant_state: str | None
    zip: str | None
    errors: str | None


@dataclass(frozen=True)
class Derivation:
    """One silver column: its SQL over the typed source columns and the same rule in Python.

    SQL names: `t.ts`, `t.amount`, `t.use_chip`, `t.merchant_city`, `t.raw_state`,
    `t.raw_zip`, `t.raw_errors` (the `typed` step of silver_transactions.sql).
    """

    name: str
    sql: str
    python: Callable[[RawTransaction], Any]


def _states_sql() -> str:
    return ", ".join(f"'{state}'" for state in US_STATES)


def _is_abroad(raw: RawTransaction) -> bool:
    state = raw.merchant_state
    return state is not None and state != ONLINE_CITY and state not in _US


def _zip5(value: str | None) -> str | None:
    """'2134.0' -> '02134': the source stores zips as floats, which lose leading zeros."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return str(int(number)).zfill(5) if math.isfinite(number) else None


DERIVATIONS: tuple[Derivation, ...] = (
    Derivation("tx_date", "CAST(t.ts AS DATE)", lambda r: r.ts.date()),
    Derivation("hour", "CAST(hour(t.ts) AS INT)", lambda r: r.ts.hour),
    Derivation("is_refund", "t.amount < 0", lambda r: r.amount < 0),
    # online purchases carry no state in the source; the original platform named them ONLINE
    Derivation(
        "merchant_state",
        f"COALESCE(t.raw_state, '{ONLINE_CITY}')",
        lambda r: r.merchant_state if r.merchant_state is not None else ONLINE_CITY,
    ),
    Derivation(
        "zip",
        "CASE WHEN t.raw_zip IS NOT NULL "
        "THEN lpad(CAST(CAST(CAST(t.raw_zip AS DOUBLE) AS BIGINT) AS STRING), 5, '0') END",
        lambda r: _zip5(r.zip),
    ),
    Derivation(
        "errors",
        f"COALESCE(t.raw_errors, '{NO_ERROR}')",
        lambda r: r.errors if r.errors is not None else NO_ERROR,
    ),
    Derivation("has_error", "t.raw_errors IS NOT NULL", lambda r: r.errors is not None),
    # the chip mode says online, and so does the source's ONLINE city (DATA.md)
    Derivation(
        "is_online",
        f"COALESCE(t.use_chip = '{ONLINE_USE_CHIP}' OR t.merchant_city = '{ONLINE_CITY}', FALSE)",
        lambda r: r.use_chip == ONLINE_USE_CHIP or r.merchant_city == ONLINE_CITY,
    ),
    # abroad: a state that is neither ONLINE nor a US state/DC code is a country name
    Derivation(
        "is_abroad",
        f"COALESCE(t.raw_state <> '{ONLINE_CITY}' AND t.raw_state NOT IN ({_states_sql()}), FALSE)",
        _is_abroad,
    ),
    # night: 22:00-05:59, when card-not-present fraud peaks and most clients sleep
    Derivation(
        "is_night",
        f"hour(t.ts) >= {NIGHT_FROM_HOUR} OR hour(t.ts) < {NIGHT_UNTIL_HOUR}",
        lambda r: r.ts.hour >= NIGHT_FROM_HOUR or r.ts.hour < NIGHT_UNTIL_HOUR,
    ),
    # weekend from the day number (1970-01-01 was a Thursday: +3 makes Monday 0), not a
    # dayofweek() whose numbering differs between DuckDB and Spark
    Derivation(
        "is_weekend",
        f"(CAST(FLOOR(epoch(t.ts) / {SECONDS_PER_DAY}) AS BIGINT) + 3) % 7 >= 5",
        lambda r: r.ts.weekday() >= 5,
    ),
)
DERIVED: dict[str, Derivation] = {d.name: d for d in DERIVATIONS}
_MARKER = re.compile(r"\{\{\s*derived:\s*(\w+)\s*\}\}")


def render_silver(sql: str) -> str:
    """Replace each `{{ derived: name }}` marker of a silver SQL model by its expression.

    Args:
        sql: the model's SQL with its markers.

    Returns:
        The SQL with each derivation's expression in place.

    Raises:
        KeyError: a marker names no derivation.
    """

    def expression(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in DERIVED:
            raise KeyError(f"no derivation named {name!r}; known: {', '.join(DERIVED)}")
        return DERIVED[name].sql

    return _MARKER.sub(expression, sql)


def blank_to_none(value: str | None) -> str | None:
    """Empty or blank source text means 'not given', as silver's NULLIF(trim(...), '').

    Args:
        value: a raw text field.

    Returns:
        The trimmed text, or None.
    """
    if value is None:
        return None
    text = value.strip()
    return text or None


def derive_row(raw: RawTransaction) -> dict[str, Any]:
    """Every derived silver column of one transaction (the Python side of `DERIVATIONS`).

    Args:
        raw: the transaction's raw fields.

    Returns:
        `{derived column: value}`, equal to what silver's SQL computes.
    """
    return {d.name: d.python(raw) for d in DERIVATIONS}


def code_of(value: object, codes: Mapping[str, int]) -> int:
    """The category code of a value, matched case-insensitively like the SQL's lower().

    Args:
        value: a category as text (None: unknown).
        codes: lower-case value -> code (e.g. `CARD_BRAND_CODES`).

    Returns:
        The code, or `UNKNOWN_CODE`.
    """
    if value is None:
        return UNKNOWN_CODE
    return codes.get(str(value).strip().lower(), UNKNOWN_CODE)


def state_code(merchant_state: object) -> int:
    """us / online / abroad code of a silver merchant_state, as the feature SQL codes it.

    Args:
        merchant_state: silver's merchant_state (None counts as abroad).

    Returns:
        One of `MERCHANT_STATE_CODES`' values.
    """
    if merchant_state is None:
        return MERCHANT_STATE_CODES["abroad"]
    state = str(merchant_state).strip().upper()
    if state == ONLINE_CITY:
        return MERCHANT_STATE_CODES["online"]
    return MERCHANT_STATE_CODES["us" if state in _US else "abroad"]
