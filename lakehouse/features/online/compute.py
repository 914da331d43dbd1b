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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from lakehouse.features.declarations import (
    AGGREGATES,
    BASIC_FEATURE_COLUMNS,
    DAY,
    FEATURE_COLUMNS,
    HISTORY_SECONDS,
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
        out: dict[str, int] = {}
        for entity, known in (("merchant", self.merchant), ("mcc", self.mcc),
                              ("global", self.global_)):
            out[f"{entity}_known_fraud"] = known.get("fraud", 0)
            out[f"{entity}_known_labeled"] = known.get("labeled", 0)
            for name, _, _ in _RECENT[entity]:
                out[name] = known.get(name, 0)
        return out


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


def _std(values: list[float]) -> float | None:
    """Sample standard deviation (SQL's STDDEV_SAMP): NULL below two values."""
    n = len(values)
    if n < 2:
        return None
    mean = math.fsum(values) / n
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))


# Positions of the `Event` fields: `event[i]` is cheaper than `getattr(event, name)` per event.
_FIELD_AT: dict[str, int] = {name: i for i, name in enumerate(Event._fields)}


def _aggregate(
    aggregate: Aggregate,
    chosen: list[Event],
    row: Mapping[str, Any],
    columns: dict[str, list[Any]],
) -> Any:
    """One windowed aggregate over the entity's events already inside its window.

    `columns` caches, per window, the values of one event field (several aggregates of a
    window read the same column: sums and the std of `amount`).
    """
    if aggregate.entity == "client_merchant":
        chosen = [e for e in chosen if e.merchant_id == row["merchant_id"]]
    elif aggregate.entity == "client_state":
        chosen = [e for e in chosen if e.merchant_state == row["merchant_state"]]
    if aggregate.kind == "count":
        return len(chosen)
    column = "ts_s" if aggregate.kind == "last_seen" else aggregate.column
    assert column is not None
    if aggregate.entity in ("card", "client"):
        values = columns.get(column)
        if values is None:
            at = _FIELD_AT[column]
            values = columns[column] = [e[at] for e in chosen]
    else:
        at = _FIELD_AT[column]
        values = [e[at] for e in chosen]
    if aggregate.kind == "last_seen":
        return max(values, default=None)
    if aggregate.kind == "std":
        return _std(values)
    return math.fsum(values) if column == "amount" else sum(values)


def behaviour(
    row: Mapping[str, Any],
    card_events: Iterable[Event],
    client_events: Iterable[Event],
    tallies: Tallies,
) -> dict[str, Any]:
    """The behavioural outputs of one transaction (`declarations.OUTPUTS`, by name).

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
    # strictly earlier whole seconds within the longest window; then one cut per window
    earlier = {
        "card": [e for e in card_events if since <= e.ts_s < t and e.transaction_id != own],
        "client": [e for e in client_events if since <= e.ts_s < t and e.transaction_id != own],
    }
    windows: dict[tuple[str, int], list[Event]] = {}
    cached: dict[tuple[str, int], dict[str, list[Any]]] = {}
    values: dict[str, Any] = dict(row)
    values.update(tallies.values())
    for aggregate in AGGREGATES:
        if aggregate.rows != "all":
            continue
        assert aggregate.window is not None
        source = "card" if aggregate.entity == "card" else "client"
        key = (source, aggregate.window)
        if key not in windows:
            start = t - aggregate.window
            windows[key] = [e for e in earlier[source] if e.ts_s >= start]
        columns = cached.setdefault(key, {})
        values[aggregate.name] = _aggregate(aggregate, windows[key], row, columns)
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
