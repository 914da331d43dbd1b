"""The embedded online store: `OnlineStore`'s state in dictionaries of this process.

The default backend of one api_ml process (and of replay and the tests): events by id, each
card's and client's events as a `History` (time-sorted columns: one request's windows are
slices), label tiles per merchant, MCC and overall, and a cache of the label tallies of the
(tile, day) pairs being scored, dropped on any label write. The events are also kept as columns
of the whole store (`_EventTable`, with each card's and client's positions in it), so that a
batch takes its cards' and clients' events without Python per event. Several
replicas sharing one card's velocity use `RedisStore` (redis_store.py) instead; both follow
`store.OnlineStore`.
"""

from __future__ import annotations

import threading
from array import array
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from lakehouse.features.online.compute import Tallies, day_of, known_by
from lakehouse.features.online.events import Event, History
from lakehouse.features.online.store import (
    EVENT_COLUMNS,
    BatchRead,
    EntityState,
    Groups,
    LabelEvent,
    OnlineStore,
    StateCodes,
    StoreMeta,
    event_columns,
)

# Label tallies cached per (tile, day) at most: the merchants, MCCs and days being scored.
KNOWN_CACHE_MAX = 200_000
# Events added per hold of the write lock: a source batch of thousands (the feed) keeps a
# request's read waiting for one chunk, ~1 ms, not for the whole batch.
ADD_CHUNK = 256


class _EventTable:
    """Every stored event as `EVENT_COLUMNS`, in arrays grown by doubling: a batch takes its
    cards' and clients' events by position, with no Python per event (`MemoryStore.read_batch`).

    Appending queues the events (one scored request adds one: ~0.1 µs, where writing seven
    arrays would cost ~13 µs); the queue is written into the arrays in one pass at the next
    `take`, or once it holds `WRITE_EVERY` events (a build's chunks, a busy stream of requests:
    no first batch after a reload pays for the whole state).
    """

    WRITE_EVERY = 4096

    def __init__(self) -> None:
        self.codes = StateCodes()
        self.size = 0  # positions given, the queued events' included
        self._written = 0
        self._queued: list[Event] = []
        self._columns = {name: np.empty(1024, dtype=t) for name, t in EVENT_COLUMNS.items()}

    def append(self, events: Sequence[Event]) -> None:
        """Give events the positions `size`, `size + 1`, ... (written at the next `take`).

        Args:
            events: the new events.
        """
        self._queued.extend(events)
        self.size += len(events)
        if len(self._queued) >= self.WRITE_EVERY:
            self._write()

    def take(self, positions: np.ndarray) -> dict[str, np.ndarray]:
        """The events at `positions`, as columns.

        Args:
            positions: positions given by `append`.

        Returns:
            Column name -> array, one value per position.
        """
        if self._queued:
            self._write()
        return {name: column[positions] for name, column in self._columns.items()}

    def _write(self) -> None:
        """Write the queued events into the arrays (grown to fit)."""
        end = self.size
        capacity = len(self._columns["ts_s"])
        if end > capacity:
            capacity = max(end, 2 * capacity)
            for name, column in self._columns.items():
                grown = np.empty(capacity, dtype=column.dtype)
                grown[: self._written] = column[: self._written]
                self._columns[name] = grown
        for name, values in event_columns(self._queued, self.codes).items():
            self._columns[name][self._written : end] = values
        self._written = end
        self._queued = []


def _positions() -> array[int]:
    """An empty int64 array of positions in the event table."""
    return array("q")


_NO_POSITIONS = _positions()


class MemoryStore(OnlineStore):
    """The embedded backend: dictionaries in this process, guarded by one lock for writes."""

    def __init__(self, meta: StoreMeta | None = None) -> None:
        self._meta = meta or StoreMeta()
        self._events: dict[int, Event] = {}
        # Each card's and client's events, oldest first, as columns (one request reads slices).
        self._card_history: dict[int, History] = {}
        self._client_history: dict[int, History] = {}
        # The same events as columns, and each card's and client's positions in them (int64
        # arrays: 8 bytes a position, and a batch joins its groups' positions in one call).
        self._table = _EventTable()
        self._card_at: dict[int, array[int]] = defaultdict(_positions)
        self._client_at: dict[int, array[int]] = defaultdict(_positions)
        # (kind, key) -> known day -> [fraud, labeled]; kind "merchant" | "mcc" | "global"
        self._tiles: dict[tuple[str, int], dict[int, list[int]]] = defaultdict(dict)
        self._labels: dict[int, LabelEvent] = {}
        # (kind, key, day) -> `known_by` of that tile on that day, computed once per label
        # change: a read is then a lookup instead of re-adding every known day of the tile;
        # and (merchant, MCC, day) -> the `Tallies` of those three, one lookup a read.
        # A write replaces both dicts, so a reader that raced it fills only the old ones.
        self._known: dict[tuple[str, int, int], dict[str, int]] = {}
        self._known_tallies: dict[tuple[int, int, int], Tallies] = {}
        self._journal: list[Event] = []
        self._lock = threading.Lock()

    def add_events(self, events: Sequence[Event], *, journal: bool = False) -> int:
        """`OnlineStore.add_events` under the write lock, `ADD_CHUNK` events per hold (a
        request's read waits for one chunk at most): indexed by id, card and client."""
        added = 0
        for start in range(0, len(events), ADD_CHUNK):
            with self._lock:
                added += self._add(events[start : start + ADD_CHUNK], journal)
        return added

    def _add(self, events: Sequence[Event], journal: bool) -> int:
        """`add_events` with the write lock already held."""
        new: list[Event] = []
        for event in events:
            if event.transaction_id in self._events:
                continue
            self._events[event.transaction_id] = event
            self._history(self._card_history, event.card_id).add(event)
            self._history(self._client_history, event.client_id).add(event)
            at = self._table.size + len(new)
            self._card_at[event.card_id].append(at)
            self._client_at[event.client_id].append(at)
            new.append(event)
        self._table.append(new)
        if journal:
            self._journal.extend(new)
        return len(new)

    def _history(self, histories: dict[int, History], key: int) -> History:
        found = histories.get(key)
        if found is None:
            found = histories[key] = History(self._events)
        return found

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
                self._forget_known()
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
            self._forget_known()

    def _forget_known(self) -> None:
        """Drop the cached tallies (a label changed a tile)."""
        self._known = {}
        self._known_tallies = {}

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
        """`OnlineStore.read`: copies of the card's and client's histories, taken under the
        write lock (an add inserts into every column of a history); the label tallies from
        the per-day cache."""
        with self._lock:
            return self._read(card_id, client_id, merchant_id, mcc_code, day)

    def _read(
        self, card_id: int, client_id: int, merchant_id: int, mcc_code: int, day: int
    ) -> EntityState:
        """`read` with the write lock already held."""
        card = self._card_history.get(card_id)
        client = self._client_history.get(client_id)
        return EntityState(
            card.copy() if card else History(self._events),
            client.copy() if client else History(self._events),
            self._tallies(merchant_id, mcc_code, day),
        )

    def read_and_add(self, event: Event, *, journal: bool = True) -> EntityState:
        """`OnlineStore.read_and_add` under one hold of the write lock."""
        with self._lock:
            state = self._read(
                event.card_id, event.client_id, event.merchant_id, event.mcc_code,
                day_of(event.ts_s),
            )  # fmt: skip
            self._add([event], journal)
        return state

    def _tallies(self, merchant_id: int, mcc_code: int, day: int) -> Tallies:
        """The labels known on `day` at the merchant, in the MCC and overall (cached)."""
        tallies = self._known_tallies
        found = tallies.get((merchant_id, mcc_code, day))
        if found is None:
            if len(tallies) > KNOWN_CACHE_MAX:
                tallies = self._known_tallies = {}
            found = tallies[merchant_id, mcc_code, day] = Tallies(
                self._known_part("merchant", merchant_id, day),
                self._known_part("mcc", mcc_code, day),
                self._known_part("global", 0, day),
            )
        return found

    def _known_part(self, kind: str, key: int, day: int) -> dict[str, int]:
        """`known_by` of one tile on `day` (cached)."""
        cache = self._known
        if len(cache) > KNOWN_CACHE_MAX:
            cache = self._known = {}
        found = cache.get((kind, key, day))
        if found is None:
            tiles = self._tiles.get((kind, key))
            found = cache[kind, key, day] = (
                known_by({d: (t[0], t[1]) for d, t in tiles.items()}, day, kind) if tiles else {}
            )
        return found

    def read_batch(self, events: Sequence[Event], *, journal: bool = True) -> BatchRead:
        """`OnlineStore.read_batch` grouped by card and client, under the write lock: each
        distinct card's and client's events are taken once, as columns, before the batch is
        added."""
        seen: set[int] = set()
        with self._lock:
            added, stored = [], []
            for event in events:
                tid = event.transaction_id
                before = self._events.get(tid)
                stored.append(before)
                added.append(before is None and tid not in seen)
                seen.add(tid)
            cards = self._groups(events, "card_id", self._card_at, stored)
            clients = self._groups(events, "client_id", self._client_at, stored)
            read = BatchRead(
                cards,
                clients,
                self._table.codes.codes(events),
                [self._tallies(e.merchant_id, e.mcc_code, day_of(e.ts_s)) for e in events],
                added,
            )
            self._add(events, journal)
        return read

    def _groups(
        self,
        events: Sequence[Event],
        entity: str,
        positions: dict[int, array[int]],
        stored: list[Event | None],
    ) -> Groups:
        """The rows' distinct cards (or clients) and their stored events, as columns.

        Args:
            events: the batch's events.
            entity: `card_id` or `client_id`.
            positions: card (or client) -> positions of its events in the table.
            stored: per row, the event stored under its id before the batch, or None (an id
                is in a row's group when its stored event is the same card or client's).
        """
        keys = [getattr(event, entity) for event in events]
        group_of: dict[int, int] = {}
        of_row = [group_of.setdefault(key, len(group_of)) for key in keys]
        held = [positions.get(key, _NO_POSITIONS) for key in group_of]
        lengths = np.fromiter(map(len, held), dtype=np.int64, count=len(held))
        at = np.frombuffer(b"".join(held), dtype=np.int64)
        pairs = zip(stored, keys, strict=True)
        own = np.array([e is not None and getattr(e, entity) == key for e, key in pairs])
        return Groups(self._table.take(at), lengths, np.asarray(of_row, dtype=np.int64), own)

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
            "cards": len(self._card_history),
            "clients": len(self._client_history),
            "events": len(self._events),
            "label_tiles": tiles,
        }
