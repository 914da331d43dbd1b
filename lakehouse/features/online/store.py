"""The online store: per-entity state behind one small interface, kept in this process.

State, per the declarations (`lakehouse.features.declarations`):
- every transaction of the last `HISTORY_DAYS` (+ the re-score horizon) as an `Event`, per
  card and per client — an exact recent-event ring: windows are second-exact, so an event is
  counted or not exactly as the batch SQL's `RANGE ... 1 PRECEDING` frame does, and the
  first-seen flags (merchant, state, abroad, online within 30 days) read the same ring;
- known-label tallies per merchant, MCC and overall as daily tiles `(fraud, labeled)` keyed by
  the day a label becomes usable; the tiles up to the fold day are one tile.

Writes are idempotent by `transaction_id`: a resend, or the later batch load of the same id,
counts once; a label for an id counts once (a changed label replaces the old one).
`OnlineStore` is the interface both backends implement (`MemoryStore` in `memory_store.py`,
`RedisStore` in `redis_store.py`); `builder.py` fills a store from the lake,
`lakehouse.features.replay` and the scoring API read and update it. `record_label` is the
entry point for labels as they become known (an analyst's decision, a late label file).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

import numpy as np

from lakehouse.features.online.compute import Tallies, day_of
from lakehouse.features.online.events import FIELD_AT, READ_FIELDS, Event


@dataclass(frozen=True)
class LabelEvent:
    """A label of one transaction, usable from `known_day` on (days since 1970-01-01)."""

    transaction_id: int
    label: int
    known_day: int
    merchant_id: int
    mcc_code: int


@dataclass(frozen=True)
class EntityState:
    """What one scoring request reads: its card's and client's events (a list, or the
    store's `History` copy) and the label tallies."""

    card: Sequence[Event]
    client: Sequence[Event]
    tallies: Tallies


# The event fields the features read (`events.READ_FIELDS`), as a batch's columns of these
# types; `merchant_state` is a code (`StateCodes`), so that matching a client's states is an
# integer comparison.
EVENT_COLUMNS: dict[str, type] = {
    name: np.float64 if kind is float else np.int64 for name, kind in READ_FIELDS.items()
}
_STATE = FIELD_AT["merchant_state"]


class StateCodes(dict[str, int]):
    """Merchant state -> a code of its own, given at first sight (codes are only compared)."""

    def codes(self, events: Iterable[Event]) -> np.ndarray:
        """The codes of the events' states, new states coded on the way.

        Args:
            events: the events.

        Returns:
            One int64 code per event.
        """
        states = map(itemgetter(_STATE), events)
        return np.fromiter((self.setdefault(s, len(self)) for s in states), dtype=np.int64)


def event_columns(events: Sequence[Event], codes: StateCodes) -> dict[str, np.ndarray]:
    """`EVENT_COLUMNS` of events, one array each (`fromiter`: no transposed tuples).

    Args:
        events: the events, in their order.
        codes: the state codes to code `merchant_state` with.

    Returns:
        Column name -> array, one value per event.
    """
    out = {}
    for name, dtype in EVENT_COLUMNS.items():
        if name == "merchant_state":
            out[name] = codes.codes(events)
        else:
            values = map(itemgetter(FIELD_AT[name]), events)
            out[name] = np.fromiter(values, dtype=dtype, count=len(events))
    return out


@dataclass(frozen=True)
class Groups:
    """A batch's distinct cards (or clients) and the events each held before the batch.

    `events` holds every group's events as `EVENT_COLUMNS`, group after group: group `g` has
    `lengths[g]` of them (any order). `of_row[i]` is row i's group; `own[i]` says whether
    that group already held row i's own id (a resend).
    """

    events: dict[str, np.ndarray]
    lengths: np.ndarray
    of_row: np.ndarray
    own: np.ndarray

    @classmethod
    def of_lists(
        cls,
        groups: Sequence[Sequence[Event]],
        of_row: Sequence[int],
        ids: Sequence[int],
        codes: StateCodes,
    ) -> Groups:
        """The groups of per-group event lists.

        Args:
            groups: per group, its events.
            of_row: each row's group.
            ids: each row's transaction id.
            codes: the state codes of the batch.

        Returns:
            The groups as columns.
        """
        held = [{event.transaction_id for event in events} for events in groups]
        return cls(
            event_columns([event for events in groups for event in events], codes),
            np.fromiter(map(len, groups), dtype=np.int64, count=len(groups)),
            np.asarray(of_row, dtype=np.int64),
            np.array([tid in held[g] for g, tid in zip(of_row, ids, strict=True)], dtype=bool),
        )


@dataclass(frozen=True)
class BatchRead:
    """What a batch of events reads: each row's card and client state is the events its group
    held before the batch plus the group's earlier rows that were `added`.

    Groups are distinct cards and clients (`MemoryStore`), or one group per row holding that
    row's whole state (`OnlineStore.read_batch`'s default: nothing `added`). `states` are the
    rows' merchant states, coded as the groups' events are.
    """

    cards: Groups
    clients: Groups
    states: np.ndarray
    tallies: list[Tallies]
    added: list[bool]

    @classmethod
    def of_lists(
        cls,
        events: Sequence[Event],
        cards: tuple[Sequence[Sequence[Event]], Sequence[int]],
        clients: tuple[Sequence[Sequence[Event]], Sequence[int]],
        tallies: list[Tallies],
        added: list[bool],
    ) -> BatchRead:
        """The read of per-group event lists (a backend that reads events one by one).

        Args:
            events: the batch's events, in scoring order.
            cards: the card groups' events, and each row's card group.
            clients: the client groups' events, and each row's client group.
            tallies: each row's label tallies.
            added: which rows' events were added.

        Returns:
            The read, its groups as columns.
        """
        codes = StateCodes()
        ids = [event.transaction_id for event in events]
        return cls(
            Groups.of_lists(*cards, ids, codes),
            Groups.of_lists(*clients, ids, codes),
            codes.codes(events),
            tallies,
            added,
        )


@dataclass
class StoreMeta:
    """Where the state stands: the lake watermark it was built at and its exact horizon.

    `horizon_s`: the earliest epoch second a transaction can be featurised exactly (its
    look-back fully in the state); `fold_day`: label tiles up to this day are folded.
    """

    watermark_s: int | None = None
    horizon_s: int | None = None
    fold_day: int = 0
    lake_version: int | None = None
    extra: dict[str, object] = field(default_factory=dict)


class OnlineStore(ABC):
    """Per-entity state, read and updated per event; both backends behave identically."""

    @abstractmethod
    def add_events(self, events: Sequence[Event], *, journal: bool = False) -> int:
        """Store events (idempotent by id).

        Args:
            events: the transactions.
            journal: also record them for replay into the next state after a reload.

        Returns:
            How many were new.
        """

    @abstractmethod
    def add_labels(self, labels: Sequence[LabelEvent]) -> int:
        """Add labels to the tallies (idempotent by id).

        Args:
            labels: labels with the day they became known.

        Returns:
            How many changed a tally.
        """

    @abstractmethod
    def read(
        self, card_id: int, client_id: int, merchant_id: int, mcc_code: int, day: int
    ) -> EntityState:
        """The state one transaction of `day` needs.

        Args:
            card_id: the transaction's card.
            client_id: its client.
            merchant_id: its merchant.
            mcc_code: its MCC.
            day: its day (days since 1970-01-01 UTC).

        Returns:
            The card's and client's recent events and the known-label tallies.
        """

    def read_and_add(self, event: Event, *, journal: bool = True) -> EntityState:
        """What scoring `event` reads, then store it (idempotent by id).

        The read is `read` for the event's day, as before it is stored. `RedisStore` does
        both in one atomic round trip.

        Args:
            event: the scored transaction.
            journal: also record it for replay into the next state (see `add_events`).

        Returns:
            The card's and client's events and the label tallies, before this event.
        """
        state = self.read(
            event.card_id, event.client_id, event.merchant_id, event.mcc_code, day_of(event.ts_s)
        )
        self.add_events([event], journal=journal)
        return state

    def read_and_add_many(
        self, events: Sequence[Event], *, journal: bool = True
    ) -> list[EntityState]:
        """`read_and_add` of each event in order: each reads the state with the earlier
        events of the sequence stored (a batch's rows see the batch's earlier rows).

        `RedisStore` reads each distinct card, client and tile once per chunk of events and
        adds the chunk in one atomic script, all chunks in one round trip.

        Args:
            events: the scored transactions, in scoring order.
            journal: also record them for replay into the next state (see `add_events`).

        Returns:
            Per event, its card's and client's events and the label tallies before it.
        """
        return [self.read_and_add(event, journal=journal) for event in events]

    def read_batch(self, events: Sequence[Event], *, journal: bool = True) -> BatchRead:
        """`read_and_add_many` grouped for columnar features (`columnar.feature_matrix`).

        This default groups by row: each row's group is its whole state. `MemoryStore`
        groups by card and client, so a card's stored events are handed over once per batch.

        Args:
            events: the scored transactions, in scoring order.
            journal: also record them for replay into the next state (see `add_events`).

        Returns:
            The groups, each row's group and tallies, and which events were added.
        """
        states = self.read_and_add_many(events, journal=journal)
        rows = list(range(len(states)))
        return BatchRead.of_lists(
            events,
            ([s.card for s in states], rows),
            ([s.client for s in states], rows),
            [s.tallies for s in states],
            [False] * len(states),
        )

    @abstractmethod
    def event(self, transaction_id: int) -> Event | None:
        """A stored event by id (None outside the state).

        Args:
            transaction_id: the transaction.

        Returns:
            The event, or None.
        """

    @abstractmethod
    def meta(self) -> StoreMeta:
        """Watermark, horizon and fold day of the current state.

        Returns:
            The state's meta.
        """

    @abstractmethod
    def journal(self) -> list[Event]:
        """Events scored since the state was built (replayed into the next one).

        Returns:
            The journal, oldest first.
        """

    @abstractmethod
    def size(self) -> dict[str, int]:
        """Counts: cards, clients, events, label tiles.

        Returns:
            `{what: count}`.
        """

    def record_label(
        self,
        transaction_id: int,
        label: int,
        known_day: int,
        merchant_id: int | None = None,
        mcc_code: int | None = None,
    ) -> bool:
        """A label that became known: counted for transactions from `known_day` on.

        The transaction's merchant and MCC come from the stored event when it is within the
        state; otherwise the caller gives them.

        Args:
            transaction_id: the labeled transaction.
            label: 1 fraud, 0 legitimate.
            known_day: the first day it counts for (days since 1970-01-01 UTC).
            merchant_id: its merchant, when the state does not hold the event.
            mcc_code: its MCC, likewise.

        Returns:
            False when neither the state nor the caller knows the merchant and MCC (the next
            reload from the lake counts it).
        """
        event = self.event(transaction_id)
        if event is not None:
            merchant_id, mcc_code = event.merchant_id, event.mcc_code
        if merchant_id is None or mcc_code is None:
            return False
        self.add_labels(
            [
                LabelEvent(
                    transaction_id, int(label), int(known_day), int(merchant_id), int(mcc_code)
                )
            ]
        )
        return True
