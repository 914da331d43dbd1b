"""What the online state keeps of a transaction (`Event`), and of a card or client (`History`).

A `History` is one entity's stored events, oldest first, as columns of the fields the
aggregates read. One scored request takes its card's and client's window as slices of these
columns: `array` slices are copies of machine values, where a list of `Event` tuples must be
sorted and transposed, touching every field object of every event (scattered over a heap of
hundreds of thousands of events, those touches were most of a request's feature time).
`MemoryStore` keeps one history per card and client and hands each read a copy; the Redis
backend hands `Event` lists, which `compute._earlier` sorts and transposes into the same
columns.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple, overload


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


# Each `Event` field's position: `event[i]` is cheaper than `getattr(event, name)` per event.
FIELD_AT: dict[str, int] = {name: i for i, name in enumerate(Event._fields)}
# The event fields the features read (the id, to leave a resend out), with their kind (bool:
# a 0/1 integer): what a `History` keeps, and the columns a batch reads (`store.EVENT_COLUMNS`).
READ_FIELDS: dict[str, type] = {
    "transaction_id": int,
    "ts_s": int,
    "merchant_id": int,
    "merchant_state": str,
    "amount": float,
    "is_abroad_i": bool,
    "is_online_i": bool,
}
# Each kept field's `array` type code (None: a list, for the state names).
_KEPT: dict[str, str | None] = {
    name: {int: "q", bool: "b", float: "d"}.get(kind) for name, kind in READ_FIELDS.items()
}
_KEPT_AT = [FIELD_AT[name] for name in _KEPT]
_ID, _TS = list(_KEPT).index("transaction_id"), list(_KEPT).index("ts_s")


def _column(code: str | None, values: Any = ()) -> Any:
    return list(values) if code is None else array(code, values)


class History(Sequence[Event]):
    """One card's or client's events, oldest first, as columns (ties in any order: every
    aggregate is order-free within a second).

    As a sequence it gives the stored `Event`s themselves, in time order, from the store's
    mapping of id to event; `window` gives the columns the features read.
    """

    __slots__ = ("_columns", "_events")

    def __init__(self, events: Mapping[int, Event], columns: list[Any] | None = None) -> None:
        """An empty history (or one of these columns) reading its events from `events`.

        Args:
            events: transaction id -> stored event (the store's; never changed, only added to).
            columns: the `_KEPT` columns, in time order (None: empty).
        """
        self._events = events
        self._columns = columns or [_column(code) for code in _KEPT.values()]

    def add(self, event: Event) -> None:
        """Insert an event at its time (after the events of the same second).

        Args:
            event: a new event of this entity.
        """
        times = self._columns[_TS]
        at = len(times)
        if at and times[-1] > event.ts_s:  # out of order: a late arrival
            at = bisect_right(times, event.ts_s)
        for column, i in zip(self._columns, _KEPT_AT, strict=True):
            column.insert(at, event[i])

    def copy(self) -> History:
        """A copy that later adds leave unchanged (what a read hands out)."""
        return History(self._events, [column[:] for column in self._columns])

    def window(self, own: int, since: int, t: int) -> tuple[Sequence[Any], ...]:
        """The events of `since <= ts_s < t` other than `own`, as one column per `Event`
        field, oldest first (`compute._earlier`'s answer; the fields not kept are empty).

        Args:
            own: the scored transaction's id (left out: a resend is stored already).
            since: the first second of the longest window.
            t: the scored transaction's second.

        Returns:
            One sequence per `Event` field.
        """
        times = self._columns[_TS]
        lo = bisect_left(times, since)
        hi = bisect_left(times, t, lo)
        kept = [column[lo:hi] for column in self._columns]
        if own in kept[_ID]:  # the transaction itself, stored earlier (a resend)
            keep = [i for i, tid in enumerate(kept[_ID]) if tid != own]
            codes = _KEPT.values()
            kept = [_column(c, [v[i] for i in keep]) for c, v in zip(codes, kept, strict=True)]
        out: list[Sequence[Any]] = [() for _ in Event._fields]
        for i, column in zip(_KEPT_AT, kept, strict=True):
            out[i] = column
        return tuple(out)

    def holds_other_than(self, own: int) -> bool:
        """Whether any event but `own` is held (the card or client is known): an id is held
        once, so two events always hold another."""
        ids = self._columns[_ID]
        return len(ids) > 1 or (len(ids) == 1 and ids[0] != own)

    def __len__(self) -> int:
        return len(self._columns[_ID])

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        ids = self._columns[_ID]
        if isinstance(index, slice):
            return [self._events[tid] for tid in ids[index]]
        return self._events[ids[index]]

    def __iter__(self) -> Iterator[Event]:
        return (self._events[tid] for tid in self._columns[_ID])


def holds_other_than(events: Sequence[Event], own: int) -> bool:
    """Whether `events` (a `History` or a list) hold any event but `own`.

    Args:
        events: a card's or client's stored events.
        own: the scored transaction's id.

    Returns:
        True when the card (or client) was known before this transaction.
    """
    if isinstance(events, History):
        return events.holds_other_than(own)
    return any(event.transaction_id != own for event in events)
