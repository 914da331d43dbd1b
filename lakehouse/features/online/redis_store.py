"""The Redis backend of the online store: one state shared by every scoring replica.

Same state and semantics as `MemoryStore` (memory_store.py), in Redis hashes under one namespace
`<prefix>:<generation>`:
    ev                 transaction id -> packed event (the id index: idempotence, label lookups)
    card:<id>          transaction id -> packed event, one hash per card
    client:<id>        the same per client
    tile:<kind>:<key>  "<day>:f" / "<day>:l" -> known fraud / labeled counts (kind merchant,
                       mcc or global)
    labels             transaction id -> "label:day:merchant:mcc" (labels after the fold day)
    meta               watermark, horizon, fold day, lake version, counters
and `<prefix>:journal`, the events scored since the last build (for replay into the next
generation), and `<prefix>:current`, the generation replicas serve.

Each event and each label is one Lua script (`redis_scripts.py`): atomic (a reader never sees
half an event) and idempotent (a resend changes nothing). A scoring request is one round trip:
one script reads the state its features need and adds the event (`read_and_add`); a batch is
one script per chunk of `BATCH_CHUNK` events, all chunks in one pipeline (`read_and_add_many`,
or `read_batch` grouped by card and client for the columnar features);
a plain read is one pipelined round trip. A reload builds a new generation beside the served
one and switches `current` when it is complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any

import redis

from lakehouse.features.online.compute import Tallies, day_of
from lakehouse.features.online.events import Event
from lakehouse.features.online.redis_codec import decoded, pack, tallies_of, unpack
from lakehouse.features.online.redis_scripts import (
    ADD_EVENT,
    ADD_LABEL,
    READ_AND_ADD,
    READ_AND_ADD_MANY,
)
from lakehouse.features.online.store import (
    BatchRead,
    EntityState,
    LabelEvent,
    OnlineStore,
    StoreMeta,
)

JOURNAL_MAX = 1_000_000
# Events per `READ_AND_ADD_MANY` call: Redis runs one script at a time, so a chunk keeps the
# other replicas' requests waiting for at most a few milliseconds.
BATCH_CHUNK = 100


class RedisStore(OnlineStore):
    """The online state in Redis under `<prefix>:<generation>` (see the module docstring)."""

    def __init__(self, client: redis.Redis, prefix: str, generation: str) -> None:
        self.client = client
        self.prefix = prefix
        self.generation = generation
        self.ns = f"{prefix}:{generation}"
        self._add_event = client.register_script(ADD_EVENT)
        self._add_label = client.register_script(ADD_LABEL)
        self._read_and_add = client.register_script(READ_AND_ADD)
        self._read_and_add_many = client.register_script(READ_AND_ADD_MANY)
        self._fold: int | None = None

    @classmethod
    def create(cls, client: redis.Redis, prefix: str, meta: StoreMeta) -> RedisStore:
        """A new, empty generation (not yet served: see `activate`).

        Args:
            client: the Redis connection.
            prefix: the key prefix (`LAKEHOUSE_ONLINE_KEY_PREFIX`).
            meta: the state's meta.

        Returns:
            The store over the new generation.
        """
        generation = str(client.incr(f"{prefix}:generations"))
        store = cls(client, prefix, generation)
        store._write_meta(meta)
        return store

    @classmethod
    def current(cls, client: redis.Redis, prefix: str) -> RedisStore | None:
        """The generation replicas serve now (None before any build).

        Args:
            client: the Redis connection.
            prefix: the key prefix.

        Returns:
            The store, or None.
        """
        generation = client.get(f"{prefix}:current")
        return None if generation is None else cls(client, prefix, generation.decode())

    def activate(self) -> None:
        """Serve this generation; the previous one is deleted."""
        previous = self.client.getset(f"{self.prefix}:current", self.generation)
        if previous is not None and previous.decode() != self.generation:
            drop_generation(self.client, f"{self.prefix}:{previous.decode()}")

    def _write_meta(self, meta: StoreMeta) -> None:
        values = {
            "fold_day": meta.fold_day,
            "watermark_s": meta.watermark_s,
            "horizon_s": meta.horizon_s,
            "lake_version": meta.lake_version,
        }
        self.client.hset(
            f"{self.ns}:meta", mapping={k: "" if v is None else str(v) for k, v in values.items()}
        )

    def _event_keys(self, event: Event) -> list[str]:
        card, client = self._hash_keys(event)
        return [f"{self.ns}:ev", card, client, f"{self.prefix}:journal", f"{self.ns}:meta"]

    def add_events(self, events: Sequence[Event], *, journal: bool = False) -> int:
        """`OnlineStore.add_events`: one Lua call per event, all in one pipeline."""
        pipe = self.client.pipeline(transaction=False)
        for event in events:
            self._add_event(
                keys=self._event_keys(event),
                args=[event.transaction_id, pack(event), int(journal), JOURNAL_MAX],
                client=pipe,
            )
        return sum(int(r) for r in pipe.execute())

    def add_labels(self, labels: Sequence[LabelEvent]) -> int:
        """`OnlineStore.add_labels`: one Lua call per label, all in one pipeline."""
        if self._fold is None:
            self._fold = self.meta().fold_day
        fold = self._fold
        pipe = self.client.pipeline(transaction=False)
        for label in labels:
            keys = [f"{self.ns}:labels", *self._tiles(label.merchant_id, label.mcc_code)]
            args = [
                label.transaction_id,
                label.label,
                label.known_day,
                label.merchant_id,
                label.mcc_code,
                fold,
            ]
            self._add_label(keys=keys, args=args, client=pipe)
        return sum(int(r) for r in pipe.execute())

    def add_tiles(self, rows: Iterable[tuple[int, int, int, int, int]]) -> None:
        """Bulk (merchant, mcc, known day, fraud, labeled) tallies from the lake's labels.

        Args:
            rows: one tuple per (merchant, MCC, day), as `fill_store` reads them.
        """
        pipe = self.client.pipeline(transaction=False)
        for merchant, mcc, day, fraud, labeled in rows:
            for key in self._tiles(merchant, mcc):
                pipe.hincrby(key, f"{day}:f", int(fraud))
                pipe.hincrby(key, f"{day}:l", int(labeled))
            if len(pipe) > 5_000:
                pipe.execute()
        pipe.execute()

    def read(
        self, card_id: int, client_id: int, merchant_id: int, mcc_code: int, day: int
    ) -> EntityState:
        """`OnlineStore.read`: the card, client and three tile hashes in one pipeline."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hvals(f"{self.ns}:card:{card_id}")
        pipe.hvals(f"{self.ns}:client:{client_id}")
        for key in self._tiles(merchant_id, mcc_code):
            pipe.hgetall(key)
        card, client, *tiles = pipe.execute()
        # redis-py gives HGETALL as a dict; a script gives it flat (field, value, ...).
        flats = [list(chain.from_iterable(tile.items())) for tile in tiles]
        return EntityState(
            list(map(decoded, card)), list(map(decoded, client)), tallies_of(flats, day)
        )

    def read_and_add(self, event: Event, *, journal: bool = True) -> EntityState:
        """`OnlineStore.read_and_add` as one Lua call: atomic, one round trip."""
        keys = [*self._event_keys(event), *self._tiles(event.merchant_id, event.mcc_code)]
        args = [event.transaction_id, pack(event), int(journal), JOURNAL_MAX]
        card, client, *tiles, _ = self._read_and_add(keys=keys, args=args)
        return EntityState(
            list(map(decoded, card)),
            list(map(decoded, client)),
            tallies_of(tiles, day_of(event.ts_s)),
        )

    def read_and_add_many(
        self, events: Sequence[Event], *, journal: bool = True
    ) -> list[EntityState]:
        """`OnlineStore.read_and_add_many`: one Lua call per `BATCH_CHUNK` events, all in one
        pipeline (one round trip); each call atomic, each event idempotent."""
        if len(events) <= 1:  # one request: the one-event script, as `read_and_add`
            return [self.read_and_add(event, journal=journal) for event in events]
        states: list[EntityState] = []
        for chunk, events_of, tallies, added in self._chunks(events, journal):
            for event, new, tally in zip(chunk, added, tallies, strict=True):
                card, client = self._hash_keys(event)
                states.append(EntityState(list(events_of[card]), list(events_of[client]), tally))
                if new:
                    events_of[card].append(event)
                    events_of[client].append(event)
        return states

    def read_batch(self, events: Sequence[Event], *, journal: bool = True) -> BatchRead:
        """`OnlineStore.read_batch` in the calls of `read_and_add_many`, grouped by card and
        client hash as each chunk's script read them (the chunk's new events flagged)."""
        if len(events) <= 1:
            return super().read_batch(events, journal=journal)
        cards: tuple[list[list[Event]], list[int]] = ([], [])
        clients: tuple[list[list[Event]], list[int]] = ([], [])
        tallies: list[Tallies] = []
        added: list[bool] = []
        for chunk, events_of, chunk_tallies, chunk_added in self._chunks(events, journal):
            groups: dict[str, int] = {}
            for event in chunk:
                keys = self._hash_keys(event)
                for key, (held, of_row) in zip(keys, (cards, clients), strict=True):
                    if key not in groups:
                        groups[key] = len(held)
                        held.append(events_of[key])
                    of_row.append(groups[key])
            tallies.extend(chunk_tallies)
            added.extend(bool(new) for new in chunk_added)
        return BatchRead.of_lists(events, cards, clients, tallies, added)

    def _chunks(
        self, events: Sequence[Event], journal: bool
    ) -> list[tuple[Sequence[Event], dict[str, list[Event]], list[Tallies], list[int]]]:
        """Run every chunk's script in one pipeline; per chunk, its events, the hashes as the
        script read them, each event's tallies and whether it was added."""
        pipe = self.client.pipeline(transaction=False)
        chunks = [events[i : i + BATCH_CHUNK] for i in range(0, len(events), BATCH_CHUNK)]
        calls = [self._chunk_call(chunk, journal, pipe) for chunk in chunks]
        return [
            (chunk, *self._chunk_read(chunk, *call, *answer))
            for chunk, call, answer in zip(chunks, calls, pipe.execute(), strict=True)
        ]

    def _hash_keys(self, event: Event) -> tuple[str, str]:
        return f"{self.ns}:card:{event.card_id}", f"{self.ns}:client:{event.client_id}"

    def _chunk_call(
        self, chunk: Sequence[Event], journal: bool, pipe: Any
    ) -> tuple[list[str], list[str]]:
        """Queue one READ_AND_ADD_MANY call on `pipe`; its distinct event hashes and tiles."""
        hashes = list(dict.fromkeys(key for e in chunk for key in self._hash_keys(e)))
        tiles = list(
            dict.fromkeys(key for e in chunk for key in self._tiles(e.merchant_id, e.mcc_code))
        )
        keys = [f"{self.ns}:ev", f"{self.prefix}:journal", f"{self.ns}:meta", *hashes, *tiles]
        at = {key: i for i, key in enumerate(keys, start=1)}
        args: list[Any] = [int(journal), JOURNAL_MAX, len(hashes), len(tiles)]
        for event in chunk:
            card, client = self._hash_keys(event)
            args += [event.transaction_id, pack(event), at[card], at[client]]
        self._read_and_add_many(keys=keys, args=args, client=pipe)
        return hashes, tiles

    def _chunk_read(
        self,
        chunk: Sequence[Event],
        hashes: list[str],
        tiles: list[str],
        held: list[list[bytes]],
        fields: list[list[bytes]],
        added: list[int],
    ) -> tuple[dict[str, list[Event]], list[Tallies], list[int]]:
        """What a chunk's script read: the hashes' events, each event's tallies (labels
        cannot change inside the script) and which events it added."""
        events_of = {
            key: list(map(decoded, values)) for key, values in zip(hashes, held, strict=True)
        }
        flat_of = {key: tuple(flat) for key, flat in zip(tiles, fields, strict=True)}
        of_day: dict[tuple[int, int, int], Tallies] = {}  # rows of one merchant and day share it
        tallies = []
        for event in chunk:
            day = day_of(event.ts_s)
            at = (event.merchant_id, event.mcc_code, day)
            if at not in of_day:
                keys = self._tiles(event.merchant_id, event.mcc_code)
                of_day[at] = tallies_of([flat_of[key] for key in keys], day)
            tallies.append(of_day[at])
        return events_of, tallies, added

    def _tiles(self, merchant_id: int, mcc_code: int) -> list[str]:
        """A transaction's label tile keys: merchant, MCC, everyone (`Tallies`' order)."""
        tile = f"{self.ns}:tile"
        return [f"{tile}:merchant:{merchant_id}", f"{tile}:mcc:{mcc_code}", f"{tile}:global:0"]

    def event(self, transaction_id: int) -> Event | None:
        """`OnlineStore.event`: one HGET of the events hash."""
        value = self.client.hget(f"{self.ns}:ev", str(transaction_id))
        return None if value is None else unpack(value)

    def meta(self) -> StoreMeta:
        """`OnlineStore.meta` from the meta hash, with this store's generation in `extra`."""
        raw = {k.decode(): v.decode() for k, v in self.client.hgetall(f"{self.ns}:meta").items()}

        def number(name: str) -> int | None:
            return int(raw[name]) if raw.get(name) else None

        return StoreMeta(
            watermark_s=number("watermark_s"),
            horizon_s=number("horizon_s"),
            fold_day=number("fold_day") or 0,
            lake_version=number("lake_version"),
            extra={"generation": self.generation},
        )

    def journal(self) -> list[Event]:
        """`OnlineStore.journal`: the prefix-wide list of events scored since the last build."""
        return [unpack(v) for v in self.client.lrange(f"{self.prefix}:journal", 0, -1)]

    def size(self) -> dict[str, int]:
        """`OnlineStore.size`: the cards, clients and events counters of the meta hash."""
        raw = self.client.hmget(f"{self.ns}:meta", ["cards", "clients", "events"])
        return {
            name: int(value or 0)
            for name, value in zip(("cards", "clients", "events"), raw, strict=True)
        }

    def used_bytes(self, sample: Sequence[str]) -> int:
        """Redis MEMORY USAGE summed over keys (for the benchmark's bytes per entity).

        Args:
            sample: keys relative to the generation's namespace.

        Returns:
            Bytes.
        """
        return sum(int(self.client.memory_usage(f"{self.ns}:{key}") or 0) for key in sample)


def drop_generation(client: redis.Redis, namespace: str) -> int:
    """Delete every key of one generation (UNLINK: freed in the background).

    Args:
        client: the Redis connection.
        namespace: `<prefix>:<generation>`.

    Returns:
        How many keys were deleted.
    """
    dropped = 0
    batch: list[Any] = []
    for key in client.scan_iter(match=f"{namespace}:*", count=1_000):
        batch.append(key)
        if len(batch) >= 1_000:
            dropped += client.unlink(*batch)
            batch = []
    if batch:
        dropped += client.unlink(*batch)
    return dropped


def drop_prefix(client: redis.Redis, prefix: str) -> int:
    """Delete everything under `prefix` (tests clean up their own prefix with it).

    Args:
        client: the Redis connection.
        prefix: the key prefix.

    Returns:
        How many keys were deleted.
    """
    return drop_generation(client, prefix)
