"""The online state at full scale: build time and bytes per card and per client, both backends.

Issue 11 asks for the state build at the full 13.3 M transactions in at most 60 s, with its
size. The api_ml benchmark trains on a smaller lake, so this part builds the state from its own
lake: the one named by `LAKEHOUSE_BENCH_STATE_LAKE` (a data folder whose lake holds
`silver_transactions`, e.g. one a full pipeline run left), else at `--scale full` a lake it
makes with the platform's code (generate 13.3 M rows, bronze, then only the silver stage),
else the benchmark's own lake. In a fresh interpreter (like the service), it times
`OnlineState.load` — exactly what api_ml runs at start and on reload — in-process, measures
the state's bytes with tracemalloc in a second build, then builds it in Redis (its own key
prefix, dropped afterwards) and sums `MEMORY USAGE` over every key of the generation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
import uuid
from pathlib import Path

FULL_TRANSACTIONS, FULL_CLIENTS = 13_305_915, 2_000
LAKE_SETTING = "LAKEHOUSE_BENCH_STATE_LAKE"


def _settings(data_dir: Path, **env: str):  # type: ignore[no-untyped-def]
    from lakehouse.config import get_settings

    os.environ.update({"LAKEHOUSE_DATA_DIR": str(data_dir), **env})
    get_settings.cache_clear()
    return get_settings()


def make_silver_lake(root: Path) -> Path:
    """A data folder holding the silver tables of a generated 13.3 M-row dataset (no gold)."""
    from lakehouse import catalog, storage
    from lakehouse.datagen import generate
    from lakehouse.engines.duckdb import DuckDBEngine
    from lakehouse.pipeline.feeder import bronze_from_raw_dir
    from lakehouse.pipeline.silver import run_silver

    data = root / "data"
    if (data / "lake" / "silver" / "transactions" / "_delta_log").is_dir():
        return data
    settings = _settings(data)
    generate(settings.raw_path, clients=FULL_CLIENTS, transactions=FULL_TRANSACTIONS, seed=5)
    for name, table in bronze_from_raw_dir(settings.raw_path, "bench-key").items():
        storage.write(catalog.location(name, settings), table, settings=settings)
    result = run_silver(settings, DuckDBEngine.from_settings())
    if result.status != "success":
        raise RuntimeError(f"silver failed: {result}")
    return data


def _redis_bytes(client, prefix: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """MEMORY USAGE (exact) summed per kind of key of the served generation."""
    generation = client.get(f"{prefix}:current").decode()
    sizes: dict[str, int] = {}
    for key in client.scan_iter(match=f"{prefix}:{generation}:*", count=1000):
        kind = key.decode().split(":")[len(prefix.split(":")) + 1]
        sizes[kind] = sizes.get(kind, 0) + int(client.memory_usage(key, samples=0) or 0)
    return sizes


def measure(data_dir: Path) -> dict[str, object]:
    """Build times and bytes of the state of the lake in `data_dir` (run in a child)."""
    import redis

    from api_ml.api.online import OnlineState
    from lakehouse import catalog, storage
    from lakehouse.features.online.redis_store import drop_prefix

    settings = _settings(data_dir, LAKEHOUSE_ONLINE_STORE="memory")
    rows = storage.read_dataset(catalog.location("silver_transactions", settings),
                                settings).count_rows()  # fmt: skip
    start, cpu = time.perf_counter(), time.process_time()
    state = OnlineState.load(settings)
    memory_s, memory_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    size = state.store.size()
    del state
    tracemalloc.start()
    traced = OnlineState.load(settings)
    memory_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del traced
    prefix = f"bench-state-{uuid.uuid4().hex[:8]}"
    redis_settings = _settings(data_dir, LAKEHOUSE_ONLINE_STORE="redis",
                               LAKEHOUSE_ONLINE_KEY_PREFIX=prefix)  # fmt: skip
    client = redis.Redis.from_url(redis_settings.redis_url)
    try:
        start, cpu = time.perf_counter(), time.process_time()
        OnlineState.load(redis_settings)
        redis_s, redis_cpu_s = time.perf_counter() - start, time.process_time() - cpu
        redis_bytes = _redis_bytes(client, prefix)
    finally:
        drop_prefix(client, prefix)
    return {"rows": rows, **size, "memory_s": memory_s, "memory_cpu_s": memory_cpu_s,
            "memory_bytes": memory_bytes, "redis_s": redis_s, "redis_cpu_s": redis_cpu_s,
            "redis_bytes": redis_bytes, "load_average": os.getloadavg()[0]}  # fmt: skip


def lake_for(scale: str, workdir: Path) -> Path:
    """The data folder to measure (see the module docstring)."""
    named = os.environ.get(LAKE_SETTING)
    if named:
        return Path(named)
    if scale == "full":
        return make_silver_lake(workdir / "state_lake")
    return workdir / "data"


def measure_in_child(data_dir: Path) -> dict[str, object]:
    """`measure` in a fresh interpreter (no leftover threads or memory of the benchmark)."""
    command = [sys.executable, "-m", "benchmarks.online_state_scale", str(data_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "LAKEHOUSE_LOG_LEVEL": "WARNING"})  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"measuring the online state failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def figures(found: dict) -> list[tuple[str, float, str]]:  # type: ignore[type-arg]
    """(figure, value, unit) rows of one measurement."""
    cards, clients = max(1, int(found["cards"])), max(1, int(found["clients"]))
    redis_bytes = found["redis_bytes"]
    redis_total = sum(redis_bytes.values())
    rows = found["rows"]
    return [
        (f"online state build from {rows:,} silver rows (memory)", found["memory_s"], "s"),
        (f"online state build from {rows:,} silver rows (Redis)", found["redis_s"], "s"),
        ("online state build CPU of the service process (memory)", found["memory_cpu_s"], "s"),
        ("online state build CPU of the service process (Redis; redis-server not counted)",
         found["redis_cpu_s"], "s"),
        ("load average (1 min) at the end of the measurement", found["load_average"], ""),
        ("online state events held", float(found["events"]), "events"),
        ("online state bytes per card (memory, all state / cards)",
         found["memory_bytes"] / cards, "B"),
        ("online state bytes per client (memory, all state / clients)",
         found["memory_bytes"] / clients, "B"),
        ("online state bytes per card (Redis, all keys / cards)", redis_total / cards, "B"),
        ("online state bytes per client (Redis, all keys / clients)", redis_total / clients, "B"),
        ("online state bytes per card (Redis card hash)",
         redis_bytes.get("card", 0) / cards, "B"),
        ("online state bytes per client (Redis client hash)",
         redis_bytes.get("client", 0) / clients, "B"),
    ]  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1])), default=float))
