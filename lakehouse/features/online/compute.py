"""One transaction's model inputs from online state: the Python side of the declarations.

`feature_vector` takes a transaction as silver would hold it (`row`), the stored events of its
card and client (`Event`s) and the known-label tallies of its merchant, MCC and of everyone
(`Tallies`), and evaluates every `declarations.AGGREGATES` entry the way the generated SQL
does — strictly earlier whole seconds within the window — then every `declarations.OUTPUTS`
formula. The result has exactly the `FEATURE_COLUMNS` of a gold `ml_features` row.
Nothing here reads a store: `store.py` hands the state in, so both backends share this code.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np

from lakehouse.features.declarations import (
    AGGREGATES,
    BASIC_FEATURE_COLUMNS,
    DAY,
    ENTITIES,
    FEATURE_COLUMNS,
    HISTORY_SECONDS,
    MONEY_COLUMNS,
    OUTPUTS,
    STATIC_COLUMNS,
    Aggregate,
)
from lakehouse.features.derivations import (
    CARD_BRAND_CODES,
    CARD_TYPE_CODES,
    ERROR_FLAGS,
    USE_CHIP_CODES,
    code_of,
    state_code,
)
from lakehouse.features.online.events import FIELD_AT, Event, History

# Windowed known-label tallies per entity: (aggregate name, tally, days), from the declarations.
_RECENT: dict[str, list[tuple[str, str, int]]] = {
    entity: [
        (a.name, "fraud" if a.kind == "known_fraud" else "labeled", a.window // DAY)
        for a in AGGREGATES
        if a.entity == entity and a.rows == "labeled_known" and a.window
    ]
    for entity in ("merchant", "mcc", "global")
}


@dataclass(frozen=True)
class Tallies:
    """Labels known by the transaction's day, per merchant, MCC and overall (`known_by`)."""

    merchant: Mapping[str, int] = field(default_factory=dict)
    mcc: Mapping[str, int] = field(default_factory=dict)
    global_: Mapping[str, int] = field(default_factory=dict)

    def values(self) -> dict[str, int]:
        """The labeled_known aggregates by name (`merchant_known_fraud`, `..._7d`, ...).

        Returns:
            For merchant, MCC and global: known frauds, known labeled rows and each recent-window
            count; 0 where the tally has no entry.
        """
        return {name: getattr(self, part).get(key, 0) for name, part, key in TALLY_VALUES}


# Each value of `Tallies.values`, in its order: (aggregate name, Tallies field, tally key).
TALLY_VALUES: list[tuple[str, str, str]] = [
    item
    for entity, part in (("merchant", "merchant"), ("mcc", "mcc"), ("global", "global_"))
    for item in (
        (f"{entity}_known_fraud", part, "fraud"),
        (f"{entity}_known_labeled", part, "labeled"),
        *((name, part, name) for name, _, _ in _RECENT[entity]),
    )
]


def known_by(
    days: Mapping[int, tuple[int, int]], day: int, entity: str = "global"
) -> dict[str, int]:
    """(fraud, labeled) over the known days up to `day`, in all and per recent window.

    The totals cover the known days up to and including `day`; each of the entity's
    windowed aggregates covers the last N known days (`day - N + 1 .. day`).

    Args:
        days: known day -> (fraud, labeled) tallies of one merchant, MCC, or everyone.
        day: the transaction's day.
        entity: "merchant", "mcc" or "global" (which windowed aggregates to compute).

    Returns:
        `fraud`, `labeled` and each windowed aggregate's value by its name.
    """
    out = {"fraud": 0, "labeled": 0, **{name: 0 for name, _, _ in _RECENT[entity]}}
    for known_day, (fraud, labeled) in days.items():
        if known_day > day:
            continue
        out["fraud"] += fraud
        out["labeled"] += labeled
        for name, tally, window_days in _RECENT[entity]:
            if known_day > day - window_days:
                out[name] += fraud if tally == "fraud" else labeled
    return out


def _std(values: Sequence[float]) -> float | None:
    """Sample standard deviation (SQL's STDDEV_SAMP): NULL below two values."""
    n = len(values)
    if n < 2:
        return None
    mean = math.fsum(values) / n
    # `d * d`, not `d ** 2`: pow may round differently in the last bit, and the batch path
    # (`columnar._std`) squares a whole column with numpy's multiply.
    return math.sqrt(math.fsum([(v - mean) * (v - mean) for v in values]) / (n - 1))


_TS = FIELD_AT["ts_s"]
_BY_TIME = itemgetter(_TS)
_NO_EVENTS: tuple[tuple[Any, ...], ...] = tuple(() for _ in Event._fields)
# From each entity's keys: the row field a pair entity narrows its first entity's events by
# (client x merchant: the client's events at the row's merchant), and whose stored events an
# entity's aggregates read (card, client).
MATCHED_BY: dict[str, str] = {e: keys[1] for e, keys in ENTITIES.items() if len(keys) == 2}
SOURCE_OF: dict[str, str] = {e: keys[0].removesuffix("_id") for e, keys in ENTITIES.items() if keys}


def _earlier(
    events: Iterable[Event], own: int, since: int, t: int
) -> tuple[tuple[Any, ...], ...]:
    """The events of `since <= ts_s < t` other than `own`, oldest first, as one tuple per
    `Event` field: each window is then a tail, found by bisection (no per-event Python)."""
    ordered = sorted(events, key=_BY_TIME)
    lo = bisect_left(ordered, since, key=_BY_TIME)
    kept = ordered[lo : bisect_left(ordered, t, lo, key=_BY_TIME)]
    columns = tuple(zip(*kept, strict=True)) or _NO_EVENTS
    if own in columns[0]:  # the transaction itself, stored earlier (a resend)
        return tuple(zip(*(e for e in kept if e[0] != own), strict=True)) or _NO_EVENTS
    return columns


# One aggregate over the events from position `start` of `columns` (its window), for `row`.
_Evaluate = Callable[[tuple[tuple[Any, ...], ...], int, Mapping[str, Any]], Any]


def _evaluator(aggregate: Aggregate) -> _Evaluate:
    """How `aggregate` is computed over a window's columns, its rules looked up once: a count
    is a length (or the matches in the window), `last_seen` the last time (the columns are
    sorted by time), a sum `math.fsum` for money and `sum` for integers, `std` `_std`."""
    match = MATCHED_BY.get(aggregate.entity)
    if aggregate.kind == "count":
        if match is None:
            return lambda columns, start, row: len(columns[_TS]) - start
        at = FIELD_AT[match]
        return lambda columns, start, row: columns[at][start:].count(row[match])
    if match is not None:
        raise ValueError(f"{aggregate.name}: only counts are narrowed by a match")
    if aggregate.kind == "last_seen":
        return lambda columns, start, row: (
            columns[_TS][-1] if len(columns[_TS]) > start else None
        )
    assert aggregate.column is not None
    at = FIELD_AT[aggregate.column]
    if aggregate.kind == "std":
        return lambda columns, start, row: _std(columns[at][start:])
    total = math.fsum if aggregate.column in MONEY_COLUMNS else sum
    return lambda columns, start, row: total(columns[at][start:])


def _plan() -> dict[str, dict[int, list[tuple[str, _Evaluate]]]]:
    """The aggregates over stored events (every one has a window), per source (card, client)
    and window, each with its evaluator: a window's start is found once for all of its
    aggregates."""
    plan: dict[str, dict[int, list[tuple[str, _Evaluate]]]] = {}
    for aggregate in AGGREGATES:
        if aggregate.rows == "all":
            windows = plan.setdefault(SOURCE_OF[aggregate.entity], {})
            window = windows.setdefault(aggregate.window or HISTORY_SECONDS, [])
            window.append((aggregate.name, _evaluator(aggregate)))
    return plan


_PLAN = _plan()
# Each output's name and its formula over one row's values.
_FORMULAS = [(output.name, output.python) for output in OUTPUTS]


def behaviour(
    row: Mapping[str, Any],
    card_events: Iterable[Event],
    client_events: Iterable[Event],
    tallies: Tallies,
) -> dict[str, Any]:
    """The behavioural outputs of one transaction (`declarations.OUTPUTS`, by name).

    The card's and client's strictly earlier events within the longest window are sorted by
    time once (`_earlier`; a `History` is sorted already and slices its columns); each window
    is then a tail of them. Every aggregate is order-free (counts, `math.fsum`, max), so the
    order of the stored events never changes a value.

    Args:
        row: the transaction: `transaction_id`, `ts_s`, `amount`, `merchant_id`,
            `merchant_state` (silver spelling), `is_abroad_i`, `is_online_i`.
        card_events: the stored events of its card (a list in any order, or a `History`;
            the transaction itself, if stored, is ignored).
        client_events: the stored events of its client (same rules).
        tallies: the labels known on the transaction's day.

    Returns:
        Output name -> value, computed from the strictly earlier events of each window,
        as the SQL computes them.
    """
    own, t = row["transaction_id"], row["ts_s"]
    since = t - HISTORY_SECONDS
    values: dict[str, Any] = dict(row)
    values.update(tallies.values())
    for source, events in (("card", card_events), ("client", client_events)):
        if isinstance(events, History):  # the store's columns: the window is a slice
            columns = events.window(own, since, t)
        else:
            columns = _earlier(events, own, since, t)
        times = columns[_TS]
        for window, evaluators in _PLAN[source].items():
            start = bisect_left(times, t - window)
            for name, evaluate in evaluators:
                values[name] = evaluate(columns, start, row)
    return {name: formula(values) for name, formula in _FORMULAS}


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _flag(value: Any) -> int:
    return 1 if value else 0


def _error_flag(text: str) -> Callable[[Any], int]:
    """1 when a silver `errors` value names the error `text`."""
    return lambda errors: 1 if text in (errors or "") else 0


def _category(codes: Mapping[str, int]) -> Callable[[Any], int]:
    return lambda value: code_of(value, codes)


_CATEGORY_CODES = {
    "card_brand": CARD_BRAND_CODES,
    "card_type": CARD_TYPE_CODES,
    "use_chip": USE_CHIP_CODES,
}


def _static_rule(column: str) -> tuple[str, Callable[[Any], Any]]:
    """The silver field a static input reads, and its rule over that field's value."""
    if column in _CATEGORY_CODES:
        return column, _category(_CATEGORY_CODES[column])
    if column == "merchant_state":
        return column, state_code
    if column in BASIC_FEATURE_COLUMNS:
        return column, _number
    if column == "hour":
        return column, int
    if column in ERROR_FLAGS:
        return "errors", _error_flag(ERROR_FLAGS[column])
    return column, _flag  # is_refund, is_online, is_abroad, has_chip, has_error


# Each static model input, in the declared order, coded like the SQL: (its name, the silver
# field it reads, its rule over that field's value). `static_features` applies them to one
# row, `static_columns` to a batch's columns.
STATIC_RULES: list[tuple[str, str, Callable[[Any], Any]]] = [
    (column, *_static_rule(column)) for column in (*BASIC_FEATURE_COLUMNS, *STATIC_COLUMNS)
]


def static_features(row: Mapping[str, Any]) -> dict[str, Any]:
    """The basic and static model inputs of a silver-shaped row, coded like the SQL.

    Args:
        row: a silver-shaped transaction (brand, type, chip, state, amounts, flags, errors).

    Returns:
        The basic feature columns (categories as their integer codes, numbers as float),
        `hour`, the 0/1 flags and one 0/1 column per error.
    """
    return {name: rule(row.get(field)) for name, field, rule in STATIC_RULES}


def static_columns(
    columns: Mapping[str, Sequence[Any]], names: Iterable[str]
) -> dict[str, np.ndarray]:
    """`static_features` of a batch, as float64 columns (missing values NaN).

    Numbers become a column in one conversion (`_number`'s values); every other rule is
    called once per distinct value of its field (a batch repeats a handful of brands, hours,
    flags and error lists).

    Args:
        columns: the batch's silver-shaped fields, one sequence each (`STATIC_RULES` fields).
        names: the static inputs wanted.

    Returns:
        Input name -> one float64 value per row, as `static_features` gives them.
    """
    wanted = set(names)
    out = {}
    for name, field_name, rule in STATIC_RULES:
        if name not in wanted:
            continue
        values = columns[field_name]
        if rule is _number:
            out[name] = np.array(values, dtype=np.float64)  # None becomes NaN
            continue
        if isinstance(values, np.ndarray):
            values = values.tolist()  # Python scalars, as one row holds them
        table = {value: rule(value) for value in set(values)}
        out[name] = np.array([table[value] for value in values], dtype=np.float64)
    return out


def feature_vector(
    row: Mapping[str, Any],
    card_events: Iterable[Event],
    client_events: Iterable[Event],
    tallies: Tallies,
) -> dict[str, Any]:
    """Every `FEATURE_COLUMNS` value of one transaction, in that order (see `behaviour`).

    Args:
        row: a silver-shaped transaction with `ts_s` and the `behaviour` inputs.
        card_events: the stored events of its card.
        client_events: the stored events of its client.
        tallies: the labels known on the transaction's day.

    Returns:
        Feature column -> value, ordered as `FEATURE_COLUMNS`.
    """
    values = {**static_features(row), **behaviour(row, card_events, client_events, tallies)}
    return {column: values[column] for column in FEATURE_COLUMNS}


def day_of(ts_s: int) -> int:
    """Days since 1970-01-01 of an epoch second (the SQL's FLOOR(epoch(ts) / 86400)).

    Args:
        ts_s: a time in epoch seconds (UTC).

    Returns:
        The day number.
    """
    return ts_s // DAY


def known_day_of(known_at_s: float) -> int:
    """The first day whose transactions may use a label known at this epoch second.

    Args:
        known_at_s: when the label became known, in epoch seconds.

    Returns:
        That day number (the label's day, rounded up).
    """
    return math.ceil(known_at_s / DAY)
