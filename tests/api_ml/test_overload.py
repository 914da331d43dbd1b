"""Overload: past LAKEHOUSE_MAX_CONCURRENT_REQUESTS the scoring API sheds load at once.

`lakehouse serve api-ml` runs as a real subprocess with a small limit; 48 real HTTP clients on
their own threads send full-model batches at it together. The service runs on the Redis online
store: its requests wait on Redis in worker threads, so many are in flight at once (on the
in-process store a request never leaves the event loop, so requests do not overlap and there
is nothing to shed). Every answer must be a 2xx or a 503 carrying `Retry-After` and the one
error body, and the server's thread count (read from /proc while the load runs) must stay
bounded: admitted requests are few, so worker threads are few. Nothing here depends on how
long anything takes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from api_ml_lake import payload_from_silver
from testkit import REDIS_URL, free_port, wait_http

from lakehouse.config import Settings
from lakehouse.features.online.redis_store import drop_prefix

CLIENTS = 48
REQUESTS_PER_CLIENT = 3
LIMIT = 2
# Threads the idle server already has (uvicorn, MLflow, DuckDB, monitors) are measured first;
# under load it may add workers for the admitted requests, never one per client.
EXTRA_THREADS_ALLOWED = 4 * LIMIT + 8


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


@pytest.fixture
def overloadable_server(api_settings: Settings) -> Iterator[tuple[str, int]]:
    port = free_port()
    prefix = f"test-overload-{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "LAKEHOUSE_MAX_CONCURRENT_REQUESTS": str(LIMIT),
        "LAKEHOUSE_ONLINE_STORE": "redis",
        "LAKEHOUSE_REDIS_URL": REDIS_URL,
        "LAKEHOUSE_ONLINE_KEY_PREFIX": prefix,
    }
    command = [sys.executable, "-m", "lakehouse.cli", "serve", "api-ml", "--port", str(port)]
    process = subprocess.Popen(command, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_http(f"{url}/health", timeout=120).status_code == 200
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)
        drop_prefix(redis.Redis.from_url(REDIS_URL), prefix)


def test_past_the_limit_only_2xx_or_503_with_retry_after(
    overloadable_server: tuple[str, int], trained_lake
) -> None:  # type: ignore[no-untyped-def]
    url, pid = overloadable_server
    rows = trained_lake.silver.slice(0, 20).to_pylist()
    batch = [payload_from_silver(row) for row in rows]
    baseline = _threads(pid)
    answers: list[httpx.Response] = []
    peak = [baseline]
    start = threading.Barrier(CLIENTS + 1)
    done = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            start.wait()
            for _ in range(REQUESTS_PER_CLIENT):
                answers.append(http.post("/predict/batch", json=batch))

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _threads(pid))
            done.wait(0.01)

    workers = [threading.Thread(target=client) for _ in range(CLIENTS)]
    sampler = threading.Thread(target=sample)
    for thread in [*workers, sampler]:
        thread.start()
    start.wait()
    for thread in workers:
        thread.join()
    done.set()
    sampler.join()

    statuses = {answer.status_code for answer in answers}
    assert len(answers) == CLIENTS * REQUESTS_PER_CLIENT
    assert statuses <= {200, 503}, statuses
    shed = [answer for answer in answers if answer.status_code == 503]
    assert shed, "48 clients against a limit of 2: some requests must be shed"
    for answer in shed:
        assert int(answer.headers["Retry-After"]) >= 1
        body = answer.json()
        assert body["status"] == 503 and "LAKEHOUSE_MAX_CONCURRENT_REQUESTS" in body["error"]
    assert 200 in statuses
    assert peak[0] <= baseline + EXTRA_THREADS_ALLOWED, (baseline, peak[0])
    metrics = httpx.get(f"{url}/metrics").text
    assert 'http_requests_shed_total{service="api_ml"}' in metrics
