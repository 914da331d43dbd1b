"""A cheap HTTP/1.1 load generator, and /proc figures of the service under load.

The scoring benchmark (`bench_api_ml.py`) times a service sharing the machine's cores with
its load generator, so the generator must cost as little as it can: asyncio clients on one
thread, each on its own keep-alive connection, sending requests encoded before the clock
starts and reading raw answers. The service's CPU seconds and thread count come from /proc.
`post_concurrently` is a closed loop (each client sends its next request once answered);
`post_open_loop` offers a fixed rate, latency counted from each request's due time.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable
from pathlib import Path

from benchmarks.latency import summary

JSON = "application/json"
# The same body announced with a charset: api_ml's lean /predict path (api_ml/api/lean.py)
# leaves it to the FastAPI route, so a cell sent this way times the route in the same run.
JSON_VIA_ROUTE = "application/json; charset=utf-8"


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago, for a service to start on."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request_bytes(base: str, path: str, body: dict | list, content_type: str = JSON) -> bytes:
    """One HTTP/1.1 keep-alive POST, encoded once before the clock starts."""
    import json

    host = base.removeprefix("http://")
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def _exchange(reader, writer, request: bytes) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
    """Send one request, read its answer (Content-Length framed); the status code and body."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its waited-for children (/proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def thread_count(pid: int) -> int:
    """The process's current number of threads (/proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def server_pids(pid: int) -> list[int]:
    """The service process and its worker processes (uvicorn workers are its children)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(int(c) for c in children)]


async def _sampling_threads(pids: list[int], peak: list[int], work: Awaitable[object]) -> None:
    """Await `work` while `peak[0]` keeps the largest thread count of `pids` seen (every 50 ms)."""

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], sum(thread_count(p) for p in pids))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample()) if pids else None
    try:
        await work
    finally:
        if sampler is not None:
            sampler.cancel()


def post_concurrently(
    base: str,
    bodies: list[dict],
    concurrency: int,
    server_pid: int | None = None,
    content_type: str = JSON,
    path: str = "/predict",
) -> tuple[dict[str, float], int]:
    """POST every body to `path` (/predict) with `concurrency` clients; (figures, errors).

    The clients are asyncio tasks on one thread, each with its own keep-alive connection,
    sending requests encoded beforehand and reading raw HTTP/1.1 answers: the load generator
    shares the machine's two cores with the service, so it must cost as little as it can
    (an httpx client spent more CPU per request than the service). With `server_pid`, the
    figures also give the CPU seconds of the client and of the service (all its processes)
    during the run (`cpu_split`), and the service's peak thread count. `content_type`:
    `JSON_VIA_ROUTE` times api_ml's FastAPI route instead of its lean path.
    """

    requests = [request_bytes(base, path, b, content_type) for b in bodies]
    chunks = [requests[i::concurrency] for i in range(concurrency)]
    latencies: list[float] = []
    errors = 0
    host, port = base.removeprefix("http://").split(":")
    pids = server_pids(server_pid) if server_pid else []
    peak = [sum(thread_count(p) for p in pids)]

    async def client(chunk: list[bytes]) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for request in chunk:
                start = time.perf_counter()
                status, _ = await _exchange(reader, writer, request)
                latencies.append(time.perf_counter() - start)
                errors += status != 200
        finally:
            writer.close()

    async def all_clients() -> None:
        await _sampling_threads(pids, peak, asyncio.gather(*(client(chunk) for chunk in chunks)))

    server_cpu = sum(cpu_seconds(p) for p in pids)
    client_cpu = time.process_time()
    start = time.perf_counter()
    asyncio.run(all_clients())
    figures = summary(latencies, time.perf_counter() - start)
    if pids:
        server_cpu = sum(cpu_seconds(p) for p in pids) - server_cpu
        figures.update(cpu_split(time.process_time() - client_cpu, server_cpu, len(latencies)))
        figures["server_threads"] = float(peak[0])
    return figures, errors


def post_open_loop(
    base: str,
    bodies: list[dict],
    connections: int,
    rate: float,
    seconds: float,
    server_pid: int | None = None,
) -> tuple[dict[str, float], int]:
    """POST to /predict at a fixed offered rate over `connections` keep-alive connections.

    An open loop: request k is due at `start + k / rate` whatever the answers before it did.
    Each connection takes the next due request as soon as it is free, sleeps until its due
    time if early, and its latency is counted from that due time, not from when it was sent:
    a request that waited for a free connection (the service falling behind) carries the wait,
    so coordinated omission is not hidden. `send_lag_p99_ms` is how late the generator itself
    sent the requests whose connection was free before their due time (its timer and its
    CPU), to tell its own lateness from the service's.

    Args:
        base: the service's base URL.
        bodies: the request bodies, sent in rotation.
        connections: concurrent connections (at most one request in flight each).
        rate: offered requests per second.
        seconds: how long the schedule runs.
        server_pid: the service's process, for the CPU split and peak thread count.

    Returns:
        rps (achieved), offered_rps, p50_ms, p99_ms (from the due times), send_lag_p99_ms,
        case_share and case_p99_ms (the answers that opened a case: review or decline) (plus
        the CPU figures with `server_pid`), and the count of non-200 answers.
    """

    requests = [request_bytes(base, "/predict", b) for b in bodies]
    total = int(rate * seconds)
    latencies: list[float] = []
    case_latencies: list[float] = []
    lags: list[float] = []
    errors = 0
    host, port = base.removeprefix("http://").split(":")
    pids = server_pids(server_pid) if server_pid else []
    peak = [sum(thread_count(p) for p in pids)]
    taken = [0]

    async def connection(start: float) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while taken[0] < total:
                k = taken[0]
                taken[0] += 1
                due = start + k / rate
                early = due - time.perf_counter()
                if early > 0:  # the connection was free in time: any lateness is the generator's
                    await asyncio.sleep(early)
                    lags.append(time.perf_counter() - due)
                status, answer = await _exchange(reader, writer, requests[k % len(requests)])
                latencies.append(time.perf_counter() - due)
                errors += status != 200
                if b'"case_id"' in answer:  # a review or decline: its case went to the outbox
                    case_latencies.append(latencies[-1])
        finally:
            writer.close()

    async def schedule() -> None:
        start = time.perf_counter() + 0.1  # the connections open first
        await _sampling_threads(
            pids, peak, asyncio.gather(*(connection(start) for _ in range(connections)))
        )

    server_cpu = sum(cpu_seconds(p) for p in pids)
    client_cpu = time.process_time()
    start = time.perf_counter()
    asyncio.run(schedule())
    figures = summary(latencies, time.perf_counter() - start - 0.1)
    figures["offered_rps"] = rate
    figures["send_lag_p99_ms"] = summary(lags, 1.0)["p99_ms"] if lags else 0.0
    figures["case_share"] = len(case_latencies) / max(1, len(latencies))
    figures["case_p99_ms"] = summary(case_latencies, 1.0)["p99_ms"] if case_latencies else 0.0
    if pids:
        server_cpu = sum(cpu_seconds(p) for p in pids) - server_cpu
        figures.update(cpu_split(time.process_time() - client_cpu, server_cpu, len(latencies)))
        figures["server_threads"] = float(peak[0])
    return figures, errors


def cpu_split(client_cpu: float, server_cpu: float, requests: int) -> dict[str, float]:
    """The CPU figures of a cell: both sides' seconds, the service's milliseconds per request
    (its capacity: requests per second per core) and the load generator's share of the two."""
    return {
        "client_cpu_s": client_cpu,
        "server_cpu_s": server_cpu,
        "server_cpu_ms_per_request": 1000 * server_cpu / max(1, requests),
        "client_cpu_share": client_cpu / max(1e-9, client_cpu + server_cpu),
    }
