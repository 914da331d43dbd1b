"""Fresh, empty online stores of either backend for the batch-path tests.

Redis stores get this test's own key prefix each, dropped when the fixture ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import redis
from testkit import REDIS_URL

from lakehouse.features.declarations import DAY
from lakehouse.features.online.memory_store import MemoryStore
from lakehouse.features.online.redis_store import RedisStore, drop_prefix
from lakehouse.features.online.store import OnlineStore, StoreMeta

# The tests' clock: events around this second, labels folded up to 40 days before it.
T = 1_540_000_000


def fresh_stores(backend: str, name: str) -> Iterator[Callable[[], OnlineStore]]:
    """Yield a factory of empty stores of `backend` ("memory" or "redis"); clean up after.

    Args:
        backend: "memory" or "redis".
        name: the start of each Redis key prefix (the test module's name).

    Yields:
        A function that returns a new, empty, active store at each call.
    """
    meta = StoreMeta(fold_day=T // DAY - 40)
    if backend == "memory":
        yield lambda: MemoryStore(meta)
        return
    client = redis.Redis.from_url(REDIS_URL)
    prefixes: list[str] = []

    def make() -> OnlineStore:
        prefixes.append(f"{name}-{uuid.uuid4().hex}")
        store = RedisStore.create(client, prefixes[-1], meta)
        store.activate()
        return store

    yield make
    for prefix in prefixes:
        drop_prefix(client, prefix)
