"""The full model's behavioural features: the online store, built from the lake, fed per event.

At start-up and on every reload `OnlineState.load` builds an online store
(`lakehouse.features.online`: in-process, or Redis shared by every replica) from the lake's
`silver_transactions` — the last `HISTORY_DAYS` + `LAKEHOUSE_ONLINE_HORIZON_DAYS` of events and
all known-label tallies — then replays the events scored since the previous state was built
(what it reads from the lake, and the Redis state replicas share: `online_lake.py`).

A request is first rebuilt as silver would hold it (`request_rows.py`, through the shared
derivations of `lakehouse.features.derivations`: online, abroad, errors, hour...); then
`score_rows` reads its card's and client's state, computes the declared features
(`compute.feature_vector`, the same numbers as the gold `ml_features` row), then records the
event — idempotent by `transaction_id`. No disk read, no SQL engine per request. A dead Redis
does not stop scoring: the features are computed from empty state, and the answer and a metric
say so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import redis

from api_ml.api.online_lake import (
    StateUnavailable,
    chip_flags,
    shared_redis_state,
    table_snapshot,
)
from api_ml.api.request_rows import RequestRows, event_of, request_row, request_rows
from lakehouse.config import Settings
from lakehouse.features.online.builder import (
    fill_store,
    lake_cut,
    meta_for,
    situation_watermark_of,
    watermark_of,
)
from lakehouse.features.online.columnar import feature_matrix, known_flags
from lakehouse.features.online.compute import Tallies, feature_vector, known_day_of
from lakehouse.features.online.events import Event, holds_other_than
from lakehouse.features.online.memory_store import MemoryStore
from lakehouse.features.online.store import BatchRead, EntityState, OnlineStore, StoreMeta

logger = logging.getLogger("lakehouse.api_ml.online")


@dataclass(frozen=True)
class OnlineContext:
    """What the state knew when one transaction was scored."""

    card_known: bool
    client_known: bool
    within_horizon: bool
    degraded: bool = False


@dataclass
class OnlineState:
    """The served online store plus the static lookups a request row needs."""

    store: OnlineStore
    backend: str
    lake_version: int
    has_chip: dict[int, bool]
    built_seconds: float
    meta: StoreMeta
    situation_date: date | None = None  # the lake's newest batch date: the source feed's start
    on_error: Any = None  # called with the failed operation's name (metrics)
    errors: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, settings: Settings, previous: OnlineState | None = None) -> OnlineState:
        """Build the state from the lake; replay `previous`'s scored events into it.

        On Redis, replicas share one state per lake version: this attaches to it or builds it.

        Args:
            settings: the lake, the online store backend and its horizon.
            previous: the state being replaced (in-memory backend: its journal is replayed).

        Returns:
            The state, with its build time and the lake's watermark.

        Raises:
            StateUnavailable: no or an empty `silver_transactions`, or another replica building
                the Redis state for too long.
        """
        snapshot = table_snapshot(settings, "silver_transactions")
        if snapshot is None:
            raise StateUnavailable(
                f"no silver_transactions table under {settings.lake}: run `lakehouse pipeline run`"
            )
        start = time.perf_counter()
        silver, version = snapshot.dataset, snapshot.version
        watermark = watermark_of(silver, settings)
        if watermark is None:
            raise StateUnavailable(f"silver_transactions under {settings.lake} is empty")
        if settings.online_store == "redis":
            store = shared_redis_state(settings, silver, watermark, version)
        else:
            cut = lake_cut(watermark, settings.online_horizon_days)
            store = MemoryStore(meta_for(cut, watermark, version))
            fill_store(store, silver, cut, tiles_bulk=store.add_tiles, settings=settings)
            if previous is not None:
                replayed = [e for e in previous.store.journal() if e.ts_s >= cut.events_from]
                store.add_events(replayed, journal=True)
        state = cls(
            store,
            settings.online_store,
            version,
            chip_flags(settings),
            time.perf_counter() - start,
            store.meta(),
            situation_watermark_of(silver, settings),
        )
        logger.info("online state built: %s", state.summary())
        return state

    def row(self, seed: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        """One request as `silver_transactions` would hold it (`request_rows.request_row`,
        with this state's chip flags).

        Args:
            seed: the normalised seed fields (amount, use_chip, merchant_state, ...).
            extra: the full model's extra fields (ids, mcc, timestamp, city, zip, errors).

        Returns:
            The row with silver's derived columns, `ts_s`, the ids and `has_chip`.
        """
        return request_row(seed, extra, self.has_chip)

    def rows(
        self, seeds: Sequence[dict[str, Any]], extras: Sequence[dict[str, Any]]
    ) -> RequestRows:
        """`row` of each request of a batch, as columns, and the events to record
        (`request_rows.request_rows`).

        Args:
            seeds: the normalised seed fields of each request, in order (one or more).
            extras: each request's extra fields.

        Returns:
            The rows' silver-shaped fields as columns, and their `Event`s.
        """
        return request_rows(seeds, extras, self.has_chip)

    def score_rows(self, rows: list[dict[str, Any]]) -> tuple[list[dict], list[OnlineContext]]:
        """Feature vectors of request rows (in order), each event recorded after it is scored.

        One store call reads each row's state and records its event, in order
        (`read_and_add_many`: each row sees the earlier rows; one round trip on Redis); the
        features come from the state before the row's event.

        Args:
            rows: request rows of `row`.

        Returns:
            The feature vectors and, per row, what the state knew (card, client, horizon, whether
            the store failed).
        """
        states, degraded = self._read_and_add([event_of(row) for row in rows])
        vectors, contexts = [], []
        horizon = self.meta.horizon_s
        for row, state in zip(rows, states, strict=True):
            vectors.append(feature_vector(row, state.card, state.client, state.tallies))
            own = row["transaction_id"]
            contexts.append(
                OnlineContext(
                    card_known=holds_other_than(state.card, own),
                    client_known=holds_other_than(state.client, own),
                    within_horizon=horizon is None or row["ts_s"] >= horizon,
                    degraded=degraded,
                )
            )
        return vectors, contexts

    def score_matrix(
        self, rows: RequestRows, columns: list[str]
    ) -> tuple[np.ndarray, list[OnlineContext]]:
        """`score_rows` for a batch: the same numbers, computed as columns (`feature_matrix`).

        One store call (`read_batch`) reads each distinct card and client once and records
        the events; each row still sees the batch's earlier rows.

        Args:
            rows: the batch's rows (`rows`), in scoring order.
            columns: the feature columns wanted, in this order (the model's).

        Returns:
            The float64 matrix (missing values NaN) and, per row, what the state knew.
        """
        read, degraded = self._read_batch(rows.events)
        ids = rows.columns["transaction_id"]
        cards = known_flags(read.cards, ids, read.added)
        clients = known_flags(read.clients, ids, read.added)
        horizon = self.meta.horizon_s
        contexts = [
            OnlineContext(card, client, horizon is None or ts_s >= horizon, degraded)
            for card, client, ts_s in zip(cards, clients, rows.columns["ts_s"], strict=True)
        ]
        return feature_matrix(rows.columns, read, columns), contexts

    def _read_batch(self, events: list[Event]) -> tuple[BatchRead, bool]:
        """`_read_and_add` grouped (`OnlineStore.read_batch`); empty groups on a store failure."""
        try:
            return self.store.read_batch(events, journal=True), False
        except redis.RedisError:
            self._failed("read")
            n = len(events)
            nothing = ([[]], [0] * n)
            return BatchRead.of_lists(events, nothing, nothing, [Tallies()] * n, [False] * n), True

    def _read_and_add(self, events: list[Event]) -> tuple[list[EntityState], bool]:
        """The state before each event, and whether the store failed (then: empty states, the
        events perhaps not recorded, counted as one failed "read")."""
        try:
            return self.store.read_and_add_many(events, journal=True), False
        except redis.RedisError:
            self._failed("read")
            return [EntityState([], [], Tallies()) for _ in events], True

    def _failed(self, operation: str) -> None:
        self.errors[operation] = self.errors.get(operation, 0) + 1
        logger.warning("online store %s failed: scoring from empty state", operation)
        if self.on_error is not None:
            self.on_error(operation)

    def record_label(
        self,
        transaction_id: int,
        label: int,
        known_at: datetime,
        merchant_id: int | None,
        mcc: int | None,
    ) -> tuple[bool, date]:
        """Count a label from the first day after it became known; (counted, that day).

        A store failure is counted in `errors` and reported as not counted.

        Args:
            transaction_id: the labelled transaction.
            label: 1 fraud, 0 legitimate.
            known_at: when the label became known (naive means UTC).
            merchant_id: its merchant, when the state may not hold the event.
            mcc: its MCC, likewise.

        Returns:
            Whether it was counted (False when neither the state nor the caller knows the
            merchant and MCC, or the store failed) and the day it counts from.
        """
        if known_at.tzinfo is None:
            known_at = known_at.replace(tzinfo=UTC)
        known_day = known_day_of(known_at.timestamp())
        try:
            counted = self.store.record_label(transaction_id, label, known_day, merchant_id, mcc)
        except redis.RedisError:
            self._failed("label")
            counted = False
        try:
            return counted, date(1970, 1, 1) + timedelta(days=known_day)
        except OverflowError:  # beyond the calendar (schema-valid dates of year 1 or 9999)
            return counted, date.min if known_day < 0 else date.max

    def summary(self) -> dict[str, object]:
        """Backend, size, watermark, lag and horizon of the state (for /model/info).

        Returns:
            The summary; only the backend, `available: False` and the error counts while the
            store is unreachable.
        """
        meta = self.meta
        try:
            size = self.store.size()
        except redis.RedisError:
            return {"backend": self.backend, "available": False, "errors": dict(self.errors)}
        watermark = meta.watermark_s

        def iso(seconds: int | None) -> str | None:
            return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()

        return {
            "backend": self.backend,
            "available": True,
            **size,
            "watermark": iso(watermark),
            "lag_seconds": None if watermark is None else max(0, int(time.time()) - watermark),
            "exact_from": iso(meta.horizon_s),
            "lake_version": self.lake_version,
            "build_seconds": round(self.built_seconds, 3),
            "errors": dict(self.errors),
        }
