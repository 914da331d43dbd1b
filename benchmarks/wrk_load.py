"""`wrk` as the scoring benchmark's second load generator, when it is installed.

`wrk` (C, `apt-get install wrk`) costs a fraction of the Python client's CPU per request
(`http_load.py`), so a cell under wrk shows what the service does when the load generator
is not the limit. It runs for a fixed duration with one wrk thread and `concurrency`
keep-alive connections in a closed loop; a Lua script rotates through the same request
bodies and prints the figures as one JSON line. Its CPU seconds come from `wait4`, the
service's from /proc, as for the Python client. Nothing requires it: the benchmark skips
these cells, and says so, when `wrk` is absent. A measured run starts once the service is idle
(`wait_until_idle`): the requests a previous run left in flight are not counted against it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.http_load import JSON, cpu_seconds, cpu_split, server_pids, thread_count

# Each connection takes the next body (one JSON per line of the file given after `--`, the
# content type after it);
# `done` prints the figures as one JSON line (latencies in microseconds).
SCRIPT = """
local bodies, i, content_type = {}, 0, nil
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  content_type = args[2]
  i = math.random(#bodies)
end
function request()
  i = i % #bodies + 1
  return wrk.format("POST", wrk.path, {["Content-Type"] = content_type}, bodies[i])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non_2xx": %d, ' ..
    '"socket_errors": %d}\\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""


# The service counts as idle when it used less than this share of a core over one interval.
IDLE_SHARE, IDLE_INTERVAL_S, IDLE_TIMEOUT_S = 0.1, 0.2, 30.0


def wait_until_idle(pids: list[int]) -> float:
    """Wait until the service is idle; the seconds waited.

    A wrk run that ends leaves up to its `concurrency` requests in flight in the service (wrk
    closes its connections without waiting for them): the next run's connections would find
    the concurrency limit (`LAKEHOUSE_MAX_CONCURRENT_REQUESTS`) taken by them and be shed
    (503), counted as that run's errors. Idle = under `IDLE_SHARE` of a core for
    `IDLE_INTERVAL_S` (the background threads alone use less); gives up after `IDLE_TIMEOUT_S`.

    Args:
        pids: the service's processes.

    Returns:
        How long it waited.
    """
    start = time.monotonic()
    before = sum(cpu_seconds(p) for p in pids)
    while time.monotonic() - start < IDLE_TIMEOUT_S:
        time.sleep(IDLE_INTERVAL_S)
        now = sum(cpu_seconds(p) for p in pids)
        if now - before < IDLE_SHARE * IDLE_INTERVAL_S:
            break
        before = now
    return time.monotonic() - start


def wrk_available() -> bool:
    """Whether the `wrk` load generator is installed."""
    return shutil.which("wrk") is not None


def wrk_load(
    base: str,
    bodies: list[dict],
    concurrency: int,
    seconds: int,
    server_pid: int | None = None,
    content_type: str = JSON,
    path: str = "/predict",
) -> tuple[dict[str, float], int]:
    """`wrk` on `path` (/predict) for `seconds` with `concurrency` connections; (figures, errors).

    Args:
        base: the service's base URL.
        bodies: the request bodies, sent in rotation.
        concurrency: connections (wrk's `-c`, on one wrk thread).
        seconds: how long to run.
        server_pid: the service's process; with it, the figures give the CPU split
            (`cpu_split`, the client's CPU being wrk's) and the service's peak thread count.
        content_type: the requests' Content-Type (`http_load.JSON_VIA_ROUTE`: api_ml's
            FastAPI route instead of its lean path).
        path: the path and query string requested.

    Returns:
        rps, p50_ms, p99_ms (plus the above), and the non-2xx plus socket error count.

    Raises:
        RuntimeError: wrk exited with an error.
    """
    pids = server_pids(server_pid) if server_pid else []
    peak = [sum(thread_count(p) for p in pids)]
    stop = threading.Event()

    def sample_threads() -> None:
        while not stop.wait(0.05):
            peak[0] = max(peak[0], sum(thread_count(p) for p in pids))

    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as folder:
        script, lines = Path(folder) / "predict.lua", Path(folder) / "bodies.jsonl"
        script.write_text(SCRIPT)
        lines.write_text("".join(json.dumps(b) + "\n" for b in bodies))
        command = [
            "wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "30s",
            "-s", str(script), f"{base}{path}", "--", str(lines), content_type,
        ]  # fmt: skip
        wait_until_idle(pids)  # the requests a previous run left in flight: not this run's
        sampler = threading.Thread(target=sample_threads, daemon=True)
        sampler.start()
        server_cpu = sum(cpu_seconds(p) for p in pids)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        server_cpu = sum(cpu_seconds(p) for p in pids) - server_cpu
        stop.set()
        sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}): {output[-500:]}")
    found = json.loads(output.strip().splitlines()[-1])
    figures = {
        "rps": found["requests"] / (found["duration_us"] / 1e6),
        "p50_ms": found["p50_us"] / 1000,
        "p99_ms": found["p99_us"] / 1000,
    }
    if pids:
        figures.update(cpu_split(usage.ru_utime + usage.ru_stime, server_cpu, found["requests"]))
        figures["server_threads"] = float(peak[0])
    return figures, found["non_2xx"] + found["socket_errors"]
