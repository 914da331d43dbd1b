"""Which online store backend to use, from the settings.

`LAKEHOUSE_ONLINE_STORE=memory` (the embedded default) keeps the state in the process;
`redis` keeps it in the Redis at `LAKEHOUSE_REDIS_URL` under `LAKEHOUSE_ONLINE_KEY_PREFIX`,
shared by every scoring replica. The scoring API and `lakehouse features replay` both ask here.
"""

from __future__ import annotations

from collections.abc import Callable

import redis

from lakehouse.config import Settings
from lakehouse.features.online.memory_store import MemoryStore
from lakehouse.features.online.redis_store import RedisStore
from lakehouse.features.online.store import OnlineStore, StoreMeta

# A scoring request must not hang on a dead Redis: fail fast and answer degraded.
REDIS_TIMEOUT_SECONDS = 0.5


def redis_client(settings: Settings) -> redis.Redis:
    """A client of the online store's Redis (connections pooled, short timeouts).

    Args:
        settings: `redis_url`.

    Returns:
        The client; no connection is made until its first command, and each command fails
        after `REDIS_TIMEOUT_SECONDS`.
    """
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )


def store_factory(
    settings: Settings, prefix: str | None = None
) -> Callable[[StoreMeta], OnlineStore]:
    """A function making a new, empty store of the configured backend for a meta.

    Args:
        settings: `online_store`, `redis_url`, `online_key_prefix`.
        prefix: another Redis key prefix (a replay's own, a test's own).

    Returns:
        `MemoryStore` itself for the memory backend, else a function creating a `RedisStore`
        under the chosen prefix with one shared client.
    """
    if settings.online_store == "memory":
        return MemoryStore
    client = redis_client(settings)
    chosen = prefix or settings.online_key_prefix
    return lambda meta: RedisStore.create(client, chosen, meta)
