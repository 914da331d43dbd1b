"""A batch's model inputs from online state as numpy columns: `compute.py` for many rows at once.

`feature_matrix` takes the rows of a batch (silver-shaped, as `compute.feature_vector` takes
one, but one sequence per field) and what the store held for them (`store.BatchRead`: the
events of each distinct card and client before the batch, as columns, plus which rows were
added, so every row also sees the batch's earlier rows; and the label tallies of each row's
day). It lays the (row, event) pairs of all
rows side by side, sorted by row and time, so that each window of a row is a tail of its
segment, found by bisection: counts are differences of positions, integer sums differences of
prefix sums, the two matched counts (same merchant, same state) one `np.bincount` each, and the
`declarations.OUTPUTS` formulas run once over columns (their `array` form), as do the static
inputs (`compute.static_columns`). The numbers are
those of `compute.feature_vector` to the bit: amount sums and the standard deviation stay
exactly rounded (`math.fsum`'s result over each row's window, from exact integer prefix sums),
so sums near zero (refunds) do not drift from the gold rows.
Nothing here reads a store.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lakehouse.features.declarations import (
    AGGREGATES,
    HISTORY_SECONDS,
    MONEY_COLUMNS,
    OUTPUTS,
    Aggregate,
)
from lakehouse.features.online.compute import (
    MATCHED_BY,
    SOURCE_OF,
    TALLY_VALUES,
    Tallies,
    static_columns,
)
from lakehouse.features.online.store import EVENT_COLUMNS, BatchRead, Groups

_OUTPUT_NAMES = frozenset(o.name for o in OUTPUTS)


# Events of a batch's rows are visible to the rows after them: base events are visible to all.
_BASE = -1
_KEY_SHIFT = 41  # group << 41 | seconds since the batch's earliest time: sorts by group, time


def _ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (i, position) with `lo[i] <= position < hi[i]`, in order of i then position."""
    lengths = hi - lo
    row = np.repeat(np.arange(len(lo)), lengths)
    starts = np.cumsum(lengths) - lengths
    return row, np.arange(len(row)) - np.repeat(starts - lo, lengths)


@dataclass(frozen=True)
class _Pairs:
    """One source's (row, event) pairs: the events each row sees within the history (stored
    before the batch, or of an earlier row of the batch that was added), own id left out,
    sorted by row then time; row `i` holds `ends[i] - count[i] .. ends[i]`, so each window of
    a row is a tail of its pairs, found by bisecting `key` (row, then seconds from `origin`)."""

    row: np.ndarray
    ts: np.ndarray
    amount: np.ndarray
    fields: dict[str, np.ndarray]
    ends: np.ndarray
    key: np.ndarray
    times: np.ndarray  # each row's own time
    origin: int
    # Window length -> `tail` of it: several aggregates share a window (a count and a sum).
    _tails: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, groups: Groups, rows: Mapping[str, np.ndarray], added: np.ndarray) -> _Pairs:
        """The pairs of each row with its group's events (`compute._earlier` for all rows).

        Args:
            groups: the rows' groups and the events they held before the batch.
            rows: the rows' columns (`_row_columns`): their own events are the group's too.
            added: which rows' events were added (visible to the later rows of their group).
        """
        n = len(groups.of_row)
        group = groups.of_row
        mine = np.flatnonzero(added)
        events = {
            name: np.concatenate([column, rows[name][mine]])
            for name, column in groups.events.items()
        }
        stored = len(groups.events["ts_s"])
        held = np.repeat(np.arange(len(groups.lengths)), groups.lengths)
        owner = np.concatenate([held, group[mine]])
        visible_from = np.concatenate([np.full(stored, _BASE), mine])
        t = rows["ts_s"]
        origin = min(int(t.min()) - HISTORY_SECONDS, int(events["ts_s"].min(initial=t.min())))
        key = (owner << _KEY_SHIFT) | (events["ts_s"] - origin)
        order = np.argsort(key, kind="stable")
        key = key[order]
        lo = np.searchsorted(key, (group << _KEY_SHIFT) | (t - HISTORY_SECONDS - origin))
        hi = np.searchsorted(key, (group << _KEY_SHIFT) | (t - origin))
        row, position = _ranges(lo, hi)
        at = order[position]
        own = events["transaction_id"][at] == rows["transaction_id"][row]
        kept = (visible_from[at] < row) & ~own
        row, at = row[kept], at[kept]
        fields = {
            name: events[name][at]
            for name in ("merchant_id", "merchant_state", "is_abroad_i", "is_online_i")
        }
        ends = np.cumsum(np.bincount(row, minlength=n))
        ts = events["ts_s"][at]
        pair_key = (row << _KEY_SHIFT) | (ts - origin)
        return cls(row, ts, events["amount"][at], fields, ends, pair_key, t, origin)

    def window(self, seconds: int) -> np.ndarray:
        """Per pair, whether it is within `seconds` before its row's time (in its row's tail)."""
        return np.arange(len(self.row)) >= (self.ends - self.tail(seconds))[self.row]

    def tail(self, seconds: int) -> np.ndarray:
        """Per row, how many of its last pairs are within `seconds` before its time."""
        found = self._tails.get(seconds)
        if found is None:
            rows = np.arange(len(self.ends))
            since = (rows << _KEY_SHIFT) | (self.times - seconds - self.origin)
            found = self._tails[seconds] = self.ends - np.searchsorted(self.key, since)
        return found

    def count(self, mask: np.ndarray) -> np.ndarray:
        """Per row, how many of its pairs `mask` keeps."""
        return np.bincount(self.row[mask], minlength=len(self.ends))

    def int_tails(self, name: str, count: np.ndarray) -> np.ndarray:
        """Per row, the sum of its last `count` pairs' integer field `name`."""
        prefix = np.concatenate([[0], np.cumsum(self.fields[name])])
        return prefix[self.ends] - prefix[self.ends - count]

    def fsum_tails(self, values: np.ndarray, count: np.ndarray) -> np.ndarray:
        """Per row, `math.fsum` of its last `count` pairs' `values` (a window is a tail):
        from integer prefix sums (`_ExactPrefix`), or `math.fsum` per row for values of
        extreme exponents."""
        prefix = self.amount_prefix if values is self.amount else _ExactPrefix.of(values)
        if prefix is not None:
            return prefix.tail_sums(self.ends, count)
        listed, ends = values.tolist(), self.ends.tolist()
        return np.array(
            [math.fsum(listed[end - k : end]) for end, k in zip(ends, count.tolist(), strict=True)]
        )

    @functools.cached_property
    def amount_prefix(self) -> _ExactPrefix | None:
        """The amounts' exact prefix sums, shared by every amount window of these pairs."""
        return _ExactPrefix.of(self.amount)


# Binary exponents far from these would take the parts' scaling out of the normal range.
_EXPONENT_LIMIT = 900
_DOUBLE_INTEGERS = 2**53  # every integer up to this magnitude is exactly a float64


@dataclass(frozen=True)
class _ExactPrefix:
    """Exact prefix sums of float64 values, as integer parts: any run's sum exactly rounded,
    `math.fsum`'s result to the bit.

    Every finite double is an integer multiple of 2**(e - 53) (`frexp`'s exponent e), so all
    of them are multiples of 2**low. Each value is cut exactly, from the top, into parts of at
    most `room` bits each, counted in their own unit 2**split; a part is an integer small
    enough that a prefix sum over all values stays below 2**62, so a run's sum of each part is
    exact. One or two parts whose run sums are below 2**53 are exact floats: adding them
    rounds their exact total once, to nearest even, as `math.fsum` rounds. Otherwise the run's
    parts are combined as one Python integer, converted to a float (also exactly rounded).
    """

    prefixes: list[np.ndarray]  # per part, int64 prefix sums (one more than the values)
    splits: list[int]  # per part, its unit's binary exponent, highest first
    low: int  # the unit of the smallest part

    @classmethod
    def of(cls, values: np.ndarray) -> _ExactPrefix | None:
        """The parts' prefix sums of `values`; None for values not all finite or of extreme
        binary exponents."""
        if not np.isfinite(values).all():
            return None
        magnitude = np.abs(values)
        nonzero = magnitude[magnitude != 0]
        if not len(nonzero):
            return cls([np.zeros(len(values) + 1, dtype=np.int64)], [0], 0)
        # frexp's exponent grows with the magnitude: the extremes' exponents are the extremes.
        low = math.frexp(float(nonzero.min()))[1] - 53
        high = math.frexp(float(nonzero.max()))[1]
        if low < -_EXPONENT_LIMIT or high > _EXPONENT_LIMIT:
            return None
        room = 62 - len(values).bit_length()  # |part| < 2**room: prefix sums below 2**62
        prefixes, splits, left = [], [], values
        for split in range(high - room, low - room, -room):
            split = max(split, low)
            # Scaling by a power of two (a product: numpy's ldexp is several times slower) is
            # exact within these exponents; `trunc` keeps its integer, `left` the bits below.
            part = np.trunc(left * 2.0**-split)
            left = left - part * 2.0**split
            prefix = np.zeros(len(values) + 1, dtype=np.int64)
            np.cumsum(part.astype(np.int64), out=prefix[1:])
            prefixes.append(prefix)
            splits.append(split)
        return cls(prefixes, splits, low)

    def tail_sums(self, ends: np.ndarray, count: np.ndarray) -> np.ndarray:
        """Per run `ends[i] - count[i] .. ends[i]`, the exactly rounded sum of its values."""
        starts = ends - count
        sums = [prefix[ends] - prefix[starts] for prefix in self.prefixes]
        small = np.full(len(ends), len(sums) <= 2)
        out = np.zeros(len(ends))
        for total, split in zip(sums[:2], self.splits, strict=False):
            small &= np.abs(total) <= _DOUBLE_INTEGERS
            out = out + total.astype(np.float64) * 2.0**split
        rest = np.flatnonzero(~small)
        if len(rest):  # each run's parts as one Python integer: one exact rounding
            shifts = [split - self.low for split in self.splits]
            parts = zip(*(total[rest].tolist() for total in sums), strict=True)
            out[rest] = [
                math.ldexp(float(sum(p << k for p, k in zip(run, shifts, strict=True))), self.low)
                for run in parts
            ]
        return out


def _aggregate(
    aggregate: Aggregate, pairs: _Pairs, values: Mapping[str, np.ndarray]
) -> np.ndarray:
    """One `rows="all"` aggregate for every row (`compute._aggregate`'s rules, over pairs)."""
    assert aggregate.window is not None  # every aggregate over events has one
    match = MATCHED_BY.get(aggregate.entity)
    if match is not None:
        assert aggregate.kind == "count", f"{aggregate.name}: only counts are narrowed by a match"
        inside = pairs.window(aggregate.window)
        inside &= pairs.fields[match] == values[match][pairs.row]
        return pairs.count(inside).astype(np.float64)
    count = pairs.tail(aggregate.window)
    if aggregate.kind == "count":
        return count.astype(np.float64)
    if aggregate.kind == "last_seen":
        # Sorted by time within the row: the last pair is the latest (the window is the history).
        last = pairs.ts[np.maximum(pairs.ends - 1, 0)] if len(pairs.ts) else count
        return np.where(count > 0, last, np.nan)
    if aggregate.column in MONEY_COLUMNS and aggregate.kind == "sum":
        return pairs.fsum_tails(pairs.amount, count)
    if aggregate.kind == "std":
        return _std(pairs, count)
    return pairs.int_tails(str(aggregate.column), count).astype(np.float64)


def _std(pairs: _Pairs, count: np.ndarray) -> np.ndarray:
    """`compute._std` of each row's amount window (the last `count` pairs): NaN below two."""
    totals = pairs.fsum_tails(pairs.amount, count)
    mean = np.divide(totals, count, out=np.zeros(len(count)), where=count > 0)
    deviation = pairs.amount - mean[pairs.row]
    spread = pairs.fsum_tails(deviation * deviation, count)
    out = np.full(len(count), np.nan)
    np.divide(spread, count - 1, out=out, where=count >= 2)
    return np.sqrt(out)


def _tally_columns(tallies: Sequence[Tallies]) -> dict[str, np.ndarray]:
    """The labeled_known aggregates (`Tallies.values`) as one column each.

    The rows of one merchant (MCC, everyone) and day share one tally dict (the stores cache
    them): each distinct dict is read once, and its values spread to its rows.
    """
    out = {}
    for part in dict.fromkeys(part for _, part, _ in TALLY_VALUES):
        slot: dict[int, int] = {}
        distinct: list[Mapping[str, int]] = []
        of_row = []
        for known in (getattr(t, part) for t in tallies):
            at = slot.get(id(known))
            if at is None:
                at = slot[id(known)] = len(distinct)
                distinct.append(known)
            of_row.append(at)
        rows = np.asarray(of_row, dtype=np.int64)
        for name, _, key in (v for v in TALLY_VALUES if v[1] == part):
            values = np.array([known.get(key, 0) for known in distinct], dtype=np.float64)
            out[name] = values[rows]
    return out


def _row_columns(
    rows: Mapping[str, Sequence[Any]], states: np.ndarray
) -> dict[str, np.ndarray]:
    """The row fields the aggregates and formulas read, one array each (`EVENT_COLUMNS`;
    the merchant states as `states`, their codes)."""
    out = {
        name: np.asarray(rows[name], dtype=dtype)
        for name, dtype in EVENT_COLUMNS.items()
        if name != "merchant_state"
    }
    out["merchant_state"] = states
    return out


def known_flags(groups: Groups, ids: Sequence[int], added: Sequence[bool]) -> list[bool]:
    """Per row, whether its group held an event other than its own before it (any time).

    Args:
        groups: the rows' groups and what they held before the batch.
        ids: each row's transaction id.
        added: which rows' events were added (seen by the later rows of their group).

    Returns:
        One flag per row (the answer's `card_known` / `client_known`).
    """
    stored = groups.lengths.tolist()
    earlier: defaultdict[int, set[int]] = defaultdict(set)
    out = []
    rows = zip(groups.of_row.tolist(), ids, added, groups.own.tolist(), strict=True)
    for group, own, new, own_stored in rows:
        others = stored[group] - own_stored + len(earlier[group]) - (own in earlier[group])
        out.append(others > 0)
        if new:
            earlier[group].add(own)
    return out


def behaviour_columns(
    rows: Mapping[str, Sequence[Any]], read: BatchRead
) -> dict[str, np.ndarray]:
    """The behavioural outputs of a batch (`compute.behaviour` of each row), as columns.

    Args:
        rows: the transactions in scoring order, one sequence per field (`transaction_id`,
            `ts_s`, `amount`, `merchant_id`, `is_abroad_i`, `is_online_i`).
        read: what the store held for them (`OnlineStore.read_batch`): each row sees its
            card's and client's stored events and the batch's earlier rows that were added.

    Returns:
        Output name -> float64 column (NaN where the one-row value is None).
    """
    values = {**_row_columns(rows, read.states), **_tally_columns(read.tallies)}
    added = np.asarray(read.added, dtype=bool)
    pairs = {
        "card": _Pairs.of(read.cards, values, added),
        "client": _Pairs.of(read.clients, values, added),
    }
    for aggregate in AGGREGATES:
        if aggregate.rows == "all":
            source = pairs[SOURCE_OF[aggregate.entity]]
            values[aggregate.name] = _aggregate(aggregate, source, values)
    return {o.name: np.asarray(o.array(values), dtype=np.float64) for o in OUTPUTS}


def feature_matrix(
    rows: Mapping[str, Sequence[Any]], read: BatchRead, columns: Sequence[str]
) -> np.ndarray:
    """`compute.feature_vector` of a batch, as one float64 matrix.

    Args:
        rows: silver-shaped transactions with `ts_s`, in scoring order, one sequence per
            field (`behaviour_columns`' fields and `compute.STATIC_RULES`').
        read: what the store held for them (`OnlineStore.read_batch`).
        columns: the feature columns wanted, in this order (a model's `feature_columns`).

    Returns:
        One row per transaction, one column per name of `columns`; missing values NaN.
    """
    behaviour = behaviour_columns(rows, read)
    static = static_columns(rows, [c for c in columns if c not in _OUTPUT_NAMES])
    matrix = np.empty((len(read.added), len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        matrix[:, j] = behaviour[column] if column in _OUTPUT_NAMES else static[column]
    return matrix
