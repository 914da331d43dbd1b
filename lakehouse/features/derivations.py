"""Row-level derivations: what a transaction's raw fields mean, defined once for silver and serving.

A source transaction carries `date`, `amount`, `use_chip`, `merchant_city`, `merchant_state`,
`zip`, `errors` as text (DATA.md). Whether it was online, abroad or a refund, its hour, its
error flags and its normalised state are decided here, once: each `Derivation` holds the SQL
expression that `silver_transactions.sql` gets (its `{{ derived: name }}` markers are replaced
by `render_silver`), the Python function that a scoring request goes through (`derive_row`)
and its form over a batch's columns (`derive_columns`), side by side so they cannot drift. A
rule over text fields is written once (`_by_value`): one row calls it, a batch calls it once
per distinct value. `tests/features/test_derivations.py` runs all three over the same raw
values and demands equal results.

The category codes every later step uses (card brands, types, chip modes, us/online/abroad,
error flags) live here too; the source vocabularies themselves (US states, the ONLINE city)
are `lakehouse.formats`'.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

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
class RawColumns:
    """Many transactions' raw fields, one column each: `RawTransaction`'s, for a batch.

    `ts` is naive UTC `datetime64[us]`, `amount` float64; the text fields are sequences
    (None where the source field is empty).
    """

    ts: np.ndarray
    amount: np.ndarray
    use_chip: Sequence[str]
    merchant_city: Sequence[str | None]
    merchant_state: Sequence[str | None]
    zip: Sequence[str | None]
    errors: Sequence[str | None]


@dataclass(frozen=True)
class Derivation:
    """One silver column: its SQL over the typed source columns, the same rule in Python
    over one transaction, and over a batch's columns (`array`: one value per row).

    SQL names: `t.ts`, `t.amount`, `t.use_chip`, `t.merchant_city`, `t.raw_state`,
    `t.raw_zip`, `t.raw_errors` (the `typed` step of silver_transactions.sql).
    """

    name: str
    sql: str
    python: Callable[[RawTransaction], Any]
    array: Callable[[RawColumns], np.ndarray]


def _by_value(
    name: str, sql: str, fields: tuple[str, ...], rule: Callable[..., Any], dtype: Any
) -> Derivation:
    """A derivation of text fields only, its rule written once: `rule(*fields)` of one
    transaction, and of a batch once per distinct combination of the fields' values (a batch
    repeats a handful of chip modes, states and error lists)."""

    def python(raw: RawTransaction) -> Any:
        return rule(*(getattr(raw, field) for field in fields))

    def array(raw: RawColumns) -> np.ndarray:
        keys = list(zip(*(getattr(raw, field) for field in fields), strict=True))
        table = {key: rule(*key) for key in set(keys)}
        out = np.empty(len(keys), dtype=dtype)
        out[:] = [table[key] for key in keys]
        return out

    return Derivation(name, sql, python, array)


def _hours(raw: RawColumns) -> np.ndarray:
    """The hour of each time (0-23), as `datetime.hour` gives it."""
    return (raw.ts - raw.ts.astype("datetime64[D]")).astype("timedelta64[h]").astype(np.int64)


def _days(raw: RawColumns) -> np.ndarray:
    """Days since 1970-01-01 of each time (floored, as `date` counts them)."""
    return raw.ts.astype("datetime64[D]").astype(np.int64)


def _is_night(hour: Any) -> Any:
    """22:00-05:59 (an `int` or an array of hours)."""
    return (hour >= NIGHT_FROM_HOUR) | (hour < NIGHT_UNTIL_HOUR)


def _states_sql() -> str:
    return ", ".join(f"'{state}'" for state in US_STATES)


def _is_abroad(state: str | None) -> bool:
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
    Derivation(
        "tx_date",
        "CAST(t.ts AS DATE)",
        lambda r: r.ts.date(),
        lambda raw: raw.ts.astype("datetime64[D]"),
    ),
    Derivation("hour", "CAST(hour(t.ts) AS INT)", lambda r: r.ts.hour, _hours),
    Derivation("is_refund", "t.amount < 0", lambda r: r.amount < 0, lambda raw: raw.amount < 0),
    # online purchases carry no state in the source; the original platform named them ONLINE
    _by_value(
        "merchant_state",
        f"COALESCE(t.raw_state, '{ONLINE_CITY}')",
        ("merchant_state",),
        lambda state: state if state is not None else ONLINE_CITY,
        object,
    ),
    _by_value(
        "zip",
        "CASE WHEN t.raw_zip IS NOT NULL "
        "THEN lpad(CAST(CAST(CAST(t.raw_zip AS DOUBLE) AS BIGINT) AS STRING), 5, '0') END",
        ("zip",),
        _zip5,
        object,
    ),
    _by_value(
        "errors",
        f"COALESCE(t.raw_errors, '{NO_ERROR}')",
        ("errors",),
        lambda errors: errors if errors is not None else NO_ERROR,
        object,
    ),
    _by_value(
        "has_error", "t.raw_errors IS NOT NULL", ("errors",), lambda e: e is not None, bool
    ),
    # the chip mode says online, and so does the source's ONLINE city (DATA.md)
    _by_value(
        "is_online",
        f"COALESCE(t.use_chip = '{ONLINE_USE_CHIP}' OR t.merchant_city = '{ONLINE_CITY}', FALSE)",
        ("use_chip", "merchant_city"),
        lambda chip, city: chip == ONLINE_USE_CHIP or city == ONLINE_CITY,
        bool,
    ),
    # abroad: a state that is neither ONLINE nor a US state/DC code is a country name
    _by_value(
        "is_abroad",
        f"COALESCE(t.raw_state <> '{ONLINE_CITY}' AND t.raw_state NOT IN ({_states_sql()}), FALSE)",
        ("merchant_state",),
        _is_abroad,
        bool,
    ),
    # night: 22:00-05:59, when card-not-present fraud peaks and most clients sleep
    Derivation(
        "is_night",
        f"hour(t.ts) >= {NIGHT_FROM_HOUR} OR hour(t.ts) < {NIGHT_UNTIL_HOUR}",
        lambda r: _is_night(r.ts.hour),
        lambda raw: _is_night(_hours(raw)),
    ),
    # weekend from the day number (1970-01-01 was a Thursday: +3 makes Monday 0), not a
    # dayofweek() whose numbering differs between DuckDB and Spark
    Derivation(
        "is_weekend",
        f"(CAST(FLOOR(epoch(t.ts) / {SECONDS_PER_DAY}) AS BIGINT) + 3) % 7 >= 5",
        lambda r: r.ts.weekday() >= 5,
        lambda raw: (_days(raw) + 3) % 7 >= 5,
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


def derive_columns(raw: RawColumns, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Derived silver columns of a batch (the column side of `DERIVATIONS`).

    Args:
        raw: the batch's raw fields.
        names: the derivations wanted (default: all).

    Returns:
        `{derived column: one value per row}`, row for row what `derive_row` gives.
    """
    wanted = DERIVED if names is None else {name: DERIVED[name] for name in names}
    return {name: d.array(raw) for name, d in wanted.items()}


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
