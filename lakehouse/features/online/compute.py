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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NamedTuple

from lakehouse.features.declarations import (
    AGGREGATES,
    BASIC_FEATURE_COLUMNS,
    DAY,
    FEATURE_COLUMNS,
    HISTORY_SECONDS,
    MONEY_COLUMNS,
    OUTPUTS,
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


class Event(NamedTuple):
    """What the online state keeps of one transaction (one per id, per card and client)."""

    transaction_id: int
    ts_s: int
    card_id: int
    client_id: int
    merchant_id: int
    mcc_code: int
    amount: float
    merchant_state: str
    is_abroad_i: int
    is_online_i: int


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


# Positions of the `Event` fields: `event[i]` is cheaper than `getattr(event, name)` per event.
_FIELD_AT: dict[str, int] = {name: i for i, name in enumerate(Event._fields)}
_TS = _FIELD_AT["ts_s"]
_BY_TIME = itemgetter(_TS)
_NO_EVENTS: tuple[tuple[Any, ...], ...] = tuple(() for _ in Event._fields)
# Whose stored events an entity's aggregates read, and the row field that narrows them further
# (client x merchant, client x state: the client's events at the row's merchant or state).
_SOURCE = {
    "card": "card",
    "client": "client",
    "client_merchant": "client",
    "client_state": "client",
}
_MATCH = {"client_merchant": "merchant_id", "client_state": "merchant_state"}
# The aggregates over stored events, each with its source and window (every one has a window).
_OVER_EVENTS: tuple[tuple[Aggregate, str, int], ...] = tuple(
    (a, _SOURCE[a.entity], a.window or HISTORY_SECONDS) for a in AGGREGATES if a.rows == "all"
)


def _earlier(
    events: Iterable[Event], own: int, since: int, t: int
) -> tuple[tuple[Any, ...], ...]:
    """The events of `since <= ts_s < t` other than `own`, oldest first, as one tuple per
    `Event` field: each window is then a tail, found by bisection (no per-event Python)."""
    ordered = sorted(events, key=_BY_TIME)
    columns = tuple(zip(*ordered, strict=True)) or _NO_EVENTS
    lo, hi = bisect_left(columns[_TS], since), bisect_left(columns[_TS], t)
    if own in columns[0][lo:hi]:  # the transaction itself, stored earlier (a resend)
        kept = [e for e in ordered[lo:hi] if e[0] != own]
        return tuple(zip(*kept, strict=True)) or _NO_EVENTS
    return tuple(column[lo:hi] for column in columns)


def _aggregate(
    aggregate: Aggregate, columns: tuple[tuple[Any, ...], ...], start: int, row: Mapping[str, Any]
) -> Any:
    """One aggregate over the events from position `start` of `columns` (its window)."""
    match = _MATCH.get(aggregate.entity)
    if aggregate.kind == "count":
        if match is None:
            return len(columns[_TS]) - start
        return columns[_FIELD_AT[match]][start:].count(row[match])
    name = "ts_s" if aggregate.kind == "last_seen" else aggregate.column
    assert name is not None
    values: Sequence[Any] = columns[_FIELD_AT[name]][start:]
    if match is not None:
        wanted = row[match]
        at = columns[_FIELD_AT[match]][start:]
        values = [v for v, m in zip(values, at, strict=True) if m == wanted]
    if aggregate.kind == "last_seen":
        return max(values, default=None)
    if aggregate.kind == "std":
        return _std(values)
    return math.fsum(values) if name in MONEY_COLUMNS else sum(values)


def behaviour(
    row: Mapping[str, Any],
    card_events: Iterable[Event],
    client_events: Iterable[Event],
    tallies: Tallies,
) -> dict[str, Any]:
    """The behavioural outputs of one transaction (`declarations.OUTPUTS`, by name).

    The card's and client's strictly earlier events within the longest window are sorted by
    time once (`_earlier`); each window is then a tail of them. Every aggregate is order-free
    (counts, `math.fsum`, max), so the order of the stored events never changes a value.

    Args:
        row: the transaction: `transaction_id`, `ts_s`, `amount`, `merchant_id`,
            `merchant_state` (silver spelling), `is_abroad_i`, `is_online_i`.
        card_events: the stored events of its card (any order; the transaction itself, if
            stored, is ignored).
        client_events: the stored events of its client (same rules).
        tallies: the labels known on the transaction's day.

    Returns:
        Output name -> value, computed from the strictly earlier events of each window,
        as the SQL computes them.
    """
    own, t = row["transaction_id"], row["ts_s"]
    since = t - HISTORY_SECONDS
    earlier = {
        "card": _earlier(card_events, own, since, t),
        "client": _earlier(client_events, own, since, t),
    }
    starts: dict[tuple[str, int], int] = {}
    values: dict[str, Any] = dict(row)
    values.update(tallies.values())
    for aggregate, source, window in _OVER_EVENTS:
        columns = earlier[source]
        start = starts.get((source, window))
        if start is None:
            start = starts[source, window] = bisect_left(columns[_TS], t - window)
        values[aggregate.name] = _aggregate(aggregate, columns, start, row)
    return {output.name: output.python(values) for output in OUTPUTS}


def static_features(row: Mapping[str, Any]) -> dict[str, Any]:
    """The basic and static model inputs of a silver-shaped row, coded like the SQL.

    Args:
        row: a silver-shaped transaction (brand, type, chip, state, amounts, flags, errors).

    Returns:
        The basic feature columns (categories as their integer codes, numbers as float),
        `hour`, the 0/1 flags and one 0/1 column per error.
    """
    codes = {
        "card_brand": CARD_BRAND_CODES,
        "card_type": CARD_TYPE_CODES,
        "use_chip": USE_CHIP_CODES,
    }
    out: dict[str, Any] = {}
    for column in BASIC_FEATURE_COLUMNS:
        if column in codes:
            out[column] = code_of(row.get(column), codes[column])
        elif column == "merchant_state":
            out[column] = state_code(row.get("merchant_state"))
        else:
            value = row.get(column)
            out[column] = None if value is None else float(value)
    out["hour"] = int(row["hour"])
    for name in ("is_refund", "is_online", "is_abroad", "has_chip", "has_error"):
        out[name] = 1 if row.get(name) else 0
    errors = row.get("errors") or ""
    for name, text in ERROR_FLAGS.items():
        out[name] = 1 if text in errors else 0
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
