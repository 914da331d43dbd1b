"""What the scoring API's online state reads from the lake, and its shared Redis state.

`online.OnlineState.load` opens the latest `silver_transactions` (`table_snapshot`) and the
cards' chip flags (`chip_flags`); the reload poll compares `lake_version` with the version the
state was built at. On Redis, replicas share one state per lake version: `shared_redis_state`
attaches to it, or builds it under a lock while the other replicas wait.
"""

from __future__ import annotations

import logging
import time

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.engines.base import TableLike
from lakehouse.features.online.builder import fill_store, lake_cut, meta_for
from lakehouse.features.online.factory import redis_client
from lakehouse.features.online.redis_store import RedisStore

logger = logging.getLogger("lakehouse.api_ml.online")

BUILD_LOCK_SECONDS = 600


class StateUnavailable(RuntimeError):
    """The lake has no history to score with (pipeline not run yet)."""


def table_snapshot(settings: Settings, name: str) -> storage.Snapshot | None:
    """The latest snapshot of the catalog table `name`, None when there is none to read.

    Args:
        settings: where the lake is.
        name: the catalog table, e.g. `silver_transactions`.

    Returns:
        The snapshot, or None when the table cannot be opened (logged).
    """
    uri = catalog.location(name, settings)
    try:
        return storage.snapshot(uri, settings)
    except Exception:  # a half-written or unreadable table means "no state", said in /health
        logger.warning("cannot open Delta table %s", uri, exc_info=True)
        return None


def chip_flags(settings: Settings) -> dict[int, bool]:
    """card_id -> has_chip from `silver_cards` (empty before the pipeline ran).

    Args:
        settings: where the lake is.

    Returns:
        Each card's chip flag.
    """
    uri = catalog.location("silver_cards", settings)
    if not storage.exists(uri, settings):
        return {}
    cards = storage.read_table(uri, settings, columns=["card_id", "has_chip"]).to_pydict()
    return {int(c): bool(h) for c, h in zip(cards["card_id"], cards["has_chip"], strict=True)}


def shared_redis_state(
    settings: Settings, silver: TableLike, watermark: int, version: int
) -> RedisStore:
    """The shared state for this lake version: attach to it, or build it (one builder).

    Args:
        settings: the Redis URL, key prefix and horizon.
        silver: the lake's `silver_transactions` at `version`.
        watermark: its newest transaction's epoch second.
        version: its data version.

    Returns:
        The active store of this lake version.

    Raises:
        StateUnavailable: another replica has held the build lock for `BUILD_LOCK_SECONDS`.
    """
    client = redis_client(settings)
    prefix = settings.online_key_prefix
    deadline = time.monotonic() + BUILD_LOCK_SECONDS
    while True:
        current = RedisStore.current(client, prefix)
        if current is not None and current.meta().lake_version == version:
            current.add_events(current.journal())  # events another replica scored meanwhile
            return current
        if client.set(f"{prefix}:build", version, nx=True, ex=BUILD_LOCK_SECONDS):
            break
        if time.monotonic() > deadline:
            raise StateUnavailable(
                "another replica has been building the online state for "
                f"{BUILD_LOCK_SECONDS} s: check its logs"
            )
        time.sleep(0.2)
    try:
        cut = lake_cut(watermark, settings.online_horizon_days)
        store = RedisStore.create(client, prefix, meta_for(cut, watermark, version))
        fill_store(store, silver, cut, tiles_bulk=store.add_tiles, settings=settings)
        replay = [e for e in store.journal() if e.ts_s >= cut.events_from]
        store.add_events(replay)
        store.activate()
        store.add_events(store.journal())  # scored while switching
        return store
    finally:
        client.delete(f"{prefix}:build")


def lake_version(settings: Settings) -> int | None:
    """Current data version of `silver_transactions` (None before the pipeline ran).

    `storage.version`, as `OnlineState.load` records it: compacting the lake changes no row,
    so it does not rebuild the state.

    Args:
        settings: where the lake is.

    Returns:
        The version, or None when the table cannot be opened (logged).
    """
    uri = catalog.location("silver_transactions", settings)
    try:
        return storage.version(uri, settings)
    except Exception:  # as `table_snapshot`: an unreadable table is reported, not raised
        logger.warning("cannot open Delta table %s", uri, exc_info=True)
        return None
