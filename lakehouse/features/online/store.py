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
`OnlineStore` is the interface both backends implement (`MemoryStore` here, `RedisStore` in
`redis_store.py`); `builder.py` fills a store from the lake, `lakehouse.features.replay` and
the scoring API read and update it. `record_label` is the entry point for labels as they become
known (an analyst's decision, a late label file).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from lakehouse.features.online.compute import Event, Tallies, day_of, known_by

# Label tallies cached per (tile, day) at most: the merchants, MCCs and days being scored.
KNOWN_CACHE_MAX = 200_000


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
    """What one scoring request reads: its card's and client's events and the label tallies."""

    card: list[Event]
    client: list[Event]
    tallies: Tallies


@dataclass(frozen=True)
class BatchRead:
    """What a batch of events reads, grouped: each row's card and client state is the events
    of its group stored before the batch plus the group's earlier rows that were `added`.

    Groups are distinct cards and clients (`MemoryStore`), or one group per row holding that
    row's whole state (`OnlineStore.read_batch`'s default: nothing `added`).
    """

    cards: list[list[Event]]
    card_of_row: list[int]
    clients: list[list[Event]]
    client_of_row: list[int]
    tallies: list[Tallies]
    added: list[bool]


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
        return BatchRead(
            [s.card for s in states],
            rows,
            [s.client for s in states],
            rows,
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


class MemoryStore(OnlineStore):
    """The embedded backend: dictionaries in this process, guarded by one lock for writes."""

    def __init__(self, meta: StoreMeta | None = None) -> None:
        self._meta = meta or StoreMeta()
        self._events: dict[int, Event] = {}
        self._by_card: dict[int, dict[int, Event]] = defaultdict(dict)
        self._by_client: dict[int, dict[int, Event]] = defaultdict(dict)
        # (kind, key) -> known day -> [fraud, labeled]; kind "merchant" | "mcc" | "global"
        self._tiles: dict[tuple[str, int], dict[int, list[int]]] = defaultdict(dict)
        self._labels: dict[int, LabelEvent] = {}
        # (kind, key, day) -> `known_by` of that tile on that day, computed once per label
        # change: a read is then a lookup instead of re-adding every known day of the tile.
        # A write replaces the whole dict, so a reader that raced it fills only the old one.
        self._known: dict[tuple[str, int, int], dict[str, int]] = {}
        self._journal: list[Event] = []
        self._lock = threading.Lock()

    def add_events(self, events: Sequence[Event], *, journal: bool = False) -> int:
        """`OnlineStore.add_events` under the write lock: indexed by id, card and client."""
        with self._lock:
            return self._add(events, journal)

    def _add(self, events: Sequence[Event], journal: bool) -> int:
        """`add_events` with the write lock already held."""
        new = 0
        for event in events:
            if event.transaction_id in self._events:
                continue
            self._events[event.transaction_id] = event
            self._by_card[event.card_id][event.transaction_id] = event
            self._by_client[event.client_id][event.transaction_id] = event
            new += 1
            if journal:
                self._journal.append(event)
        return new

    def add_labels(self, labels: Sequence[LabelEvent]) -> int:
        """`OnlineStore.add_labels` under the write lock: a changed label moves its tile counts."""
        changed = 0
        with self._lock:
            for label in labels:
                previous = self._labels.get(label.transaction_id)
                if previous == label:
                    continue
                if previous is not None:
                    self._tile(previous, -1)
                self._tile(label, 1)
                self._labels[label.transaction_id] = label
                changed += 1
            if changed:
                self._known = {}
        return changed

    def add_tiles(self, rows: Iterable[tuple[int, int, int, int, int]]) -> None:
        """Bulk (merchant, mcc, known day, fraud, labeled) tallies from the lake's labels.

        Args:
            rows: one tuple per (merchant, MCC, day), as `fill_store` reads them.
        """
        with self._lock:
            for merchant, mcc, day, fraud, labeled in rows:
                for key in (("merchant", merchant), ("mcc", mcc), ("global", 0)):
                    self._bump(key, day, fraud, labeled)
            self._known = {}

    def _tile(self, label: LabelEvent, sign: int) -> None:
        for key in (("merchant", label.merchant_id), ("mcc", label.mcc_code), ("global", 0)):
            self._bump(key, label.known_day, sign * label.label, sign)

    def _bump(self, key: tuple[str, int], day: int, fraud: int, labeled: int) -> None:
        tile = self._tiles[key].setdefault(max(day, self._meta.fold_day), [0, 0])
        tile[0] += fraud
        tile[1] += labeled

    def read(
        self, card_id: int, client_id: int, merchant_id: int, mcc_code: int, day: int
    ) -> EntityState:
        """`OnlineStore.read` from the dictionaries (no lock: readers see whole events); the
        label tallies from the per-day cache."""
        card = self._by_card.get(card_id)
        client = self._by_client.get(client_id)
        return EntityState(
            list(card.values()) if card else [],
            list(client.values()) if client else [],
            self._tallies(merchant_id, mcc_code, day),
        )

    def _tallies(self, merchant_id: int, mcc_code: int, day: int) -> Tallies:
        """The labels known on `day` at the merchant, in the MCC and overall (cached)."""
        cache = self._known
        if len(cache) > KNOWN_CACHE_MAX:
            cache = self._known = {}

        def known(kind: str, key: int) -> dict[str, int]:
            found = cache.get((kind, key, day))
            if found is None:
                tiles = self._tiles.get((kind, key))
                found = cache[kind, key, day] = (
                    known_by({d: (t[0], t[1]) for d, t in tiles.items()}, day, kind)
                    if tiles
                    else {}
                )
            return found

        return Tallies(known("merchant", merchant_id), known("mcc", mcc_code), known("global", 0))

    def read_batch(self, events: Sequence[Event], *, journal: bool = True) -> BatchRead:
        """`OnlineStore.read_batch` grouped by card and client, under the write lock: each
        distinct card's and client's events are read once, before the batch is added."""
        cards: dict[int, int] = {}
        clients: dict[int, int] = {}
        seen: set[int] = set()
        with self._lock:
            added = []
            for event in events:
                cards.setdefault(event.card_id, len(cards))
                clients.setdefault(event.client_id, len(clients))
                tid = event.transaction_id
                added.append(tid not in self._events and tid not in seen)
                seen.add(tid)
            read = BatchRead(
                [list(self._by_card.get(card, {}).values()) for card in cards],
                [cards[event.card_id] for event in events],
                [list(self._by_client.get(client, {}).values()) for client in clients],
                [clients[event.client_id] for event in events],
                [self._tallies(e.merchant_id, e.mcc_code, day_of(e.ts_s)) for e in events],
                added,
            )
            self._add(events, journal)
        return read

    def event(self, transaction_id: int) -> Event | None:
        """`OnlineStore.event`: a dictionary lookup."""
        return self._events.get(transaction_id)

    def meta(self) -> StoreMeta:
        """`OnlineStore.meta`: the meta this store was created with."""
        return self._meta

    def journal(self) -> list[Event]:
        """`OnlineStore.journal`: a copy of the journal, taken under the lock."""
        with self._lock:
            return list(self._journal)

    def size(self) -> dict[str, int]:
        """`OnlineStore.size`: cards, clients, events and label tiles held."""
        tiles = sum(len(days) for days in self._tiles.values())
        return {
            "cards": len(self._by_card),
            "clients": len(self._by_client),
            "events": len(self._events),
            "label_tiles": tiles,
        }
