"""The table rows and summary figures of one `/predict` load cell of `bench_api_ml.py`.

`cell` runs a closed loop (the Python client of `http_load.py`, or `wrk`) and `open_loop_cell`
the open loop (a fixed offered rate, latency from each request's due time); both add a row to
the run's table and return the summary rows, with the CPU split of the load generator and the
service.
"""

from __future__ import annotations

import re
import time

import httpx
from rich.table import Table

from benchmarks.http_load import JSON, post_concurrently, post_open_loop
from benchmarks.wrk_load import wrk_load

# The open-loop cell: this many connections offered a fixed rate (issue 11's 32-client target).
OPEN_LOOP_CONNECTIONS, OPEN_LOOP_RATE = 32, 1_500


def work_unit_ms() -> float:
    """CPU ms of a fixed piece of interpreted work (best of five): how fast a core of this host
    runs Python right now. On a shared host it swings (1.9x within minutes on 2026-12-01), and
    the open loop's p99 with it: the service's CPU per request moves by the same factor, and a
    dip while the loop is half busy builds a backlog (docs/benchmarks.md, "what the p99
    stalls are")."""
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        table: dict[int, int] = {}
        for i in range(100_000):
            table[i & 1023] = table.get(i & 1023, 0) + i
        best = min(best, time.process_time() - start)
    return best * 1e3


def group_counts(metrics: str) -> tuple[float, float]:
    """(scoring calls, requests) of the `/predict` requests scored together so far, from a
    `/metrics` text (`api_ml_predict_group_requests`: nothing when
    `LAKEHOUSE_PREDICT_COALESCE` is off)."""
    found = dict(
        re.findall(r"^api_ml_predict_group_requests_(count|sum) (\S+)$", metrics, re.MULTILINE)
    )
    return float(found.get("count", 0)), float(found.get("sum", 0))


def _scoring_calls(base: str) -> tuple[float, float]:
    return group_counts(httpx.get(f"{base}/metrics", timeout=30).text)


def row(figure: str, value: float, unit: str) -> dict:
    """One summary row of the api_ml benchmark."""
    return {"benchmark": "api_ml", "figure": figure, "value": value, "unit": unit}


def cell(
    label: str,
    base: str,
    pid: int,
    bodies: list[dict],
    concurrency: int,
    sql: dict,
    table: Table,
    wrk: bool = False,
    content_type: str = JSON,
    query: str = "",
) -> list[dict]:
    """One /predict cell: figures, a table row and the summary rows, with the speed-up over
    the in-process SQL-replay path of the same run (p50 and requests/s). `wrk`: the load
    comes from `wrk` for a few seconds (`wrk_load.py`) instead of the Python client;
    `content_type=JSON_VIA_ROUTE` sends every request through the FastAPI route; `query`
    (e.g. `?reasons=all`) is added to every request's path."""
    path = f"/predict{query}"
    if wrk:
        seconds = max(5, len(bodies) // 200)
        # warm-up: first calls pay imports and caches
        wrk_load(base, bodies, concurrency, 2, content_type=content_type, path=path)
        figures, errors = wrk_load(base, bodies, concurrency, seconds, pid, content_type, path)
    else:
        warm_up = bodies[:50]  # first calls pay imports and caches
        post_concurrently(base, warm_up, concurrency, content_type=content_type, path=path)
        figures, errors = post_concurrently(base, bodies, concurrency, pid, content_type, path)
    generator = "wrk" if wrk else "Python client"
    p50_gain = sql["p50_ms"] / figures["p50_ms"]
    rps_gain = figures["rps"] / sql["rps"]
    cpu = (
        f"{figures['client_cpu_s']:.1f} / {figures['server_cpu_s']:.1f} "
        f"({100 * figures['client_cpu_share']:.0f} %)"
    )
    table.add_row(
        label,
        f"HTTP, {concurrency} client(s), {generator}",
        f"{figures['rps']:,.0f}",
        f"{figures['p50_ms']:.2f}",
        f"{figures['p99_ms']:.2f}",
        str(errors),
        f"{figures['server_threads']:.0f}",
        cpu,
        f"{figures['server_cpu_ms_per_request']:.2f}",
        f"{p50_gain:,.0f}x / {rps_gain:,.0f}x",
    )
    prefix = f"/predict {label}, {concurrency} client(s)" + (", wrk" if wrk else "")
    return [
        row(f"{prefix}: requests/s", figures["rps"], "req/s"),
        row(f"{prefix}: p50 latency", figures["p50_ms"], "ms"),
        row(f"{prefix}: p99 latency", figures["p99_ms"], "ms"),
        row(f"{prefix}: errors", float(errors), "requests"),
        row(f"{prefix}: server threads (peak)", figures["server_threads"], "threads"),
        row(f"{prefix}: client CPU", figures["client_cpu_s"], "s"),
        row(f"{prefix}: server CPU", figures["server_cpu_s"], "s"),
        row(f"{prefix}: server CPU per request", figures["server_cpu_ms_per_request"], "ms"),
        row(f"{prefix}: load generator CPU share", 100 * figures["client_cpu_share"], "%"),
        row(f"{prefix}: p50 speed-up vs SQL replay", p50_gain, "x"),
        row(f"{prefix}: requests/s vs SQL replay", rps_gain, "x"),
    ]


def open_loop_cell(
    base: str, pid: int, bodies: list[dict], table: Table, label: str = "full"
) -> list[dict]:
    """/predict full offered `OPEN_LOOP_RATE` req/s over `OPEN_LOOP_CONNECTIONS` connections
    (`post_open_loop`: latency from each request's due time); a table row and summary rows,
    with the p99 of the answers that opened a case (their share in the mode column)."""
    seconds = max(4, len(bodies) // 40)
    post_open_loop(base, bodies, OPEN_LOOP_CONNECTIONS, OPEN_LOOP_RATE, 1)  # warm-up
    before = work_unit_ms()
    calls_before, requests_before = _scoring_calls(base)
    figures, errors = post_open_loop(
        base, bodies, OPEN_LOOP_CONNECTIONS, OPEN_LOOP_RATE, seconds, pid
    )
    calls, requests = _scoring_calls(base)
    calls, requests = calls - calls_before, requests - requests_before
    per_call = requests / calls if calls else 1.0
    unit_ms = max(before, work_unit_ms())
    table.add_row(
        label,
        f"HTTP, open loop: {OPEN_LOOP_RATE:,} req/s offered over {OPEN_LOOP_CONNECTIONS} "
        f"connections (generator late by {figures['send_lag_p99_ms']:.1f} ms p99; "
        f"{100 * figures['case_share']:.1f} % case answers, p99 {figures['case_p99_ms']:.1f} ms; "
        f"{per_call:.2f} requests per scoring call; "
        f"host: a fixed Python work unit took {unit_ms:.1f} CPU ms)",
        f"{figures['rps']:,.0f}",
        f"{figures['p50_ms']:.2f}",
        f"{figures['p99_ms']:.2f}",
        str(errors),
        f"{figures['server_threads']:.0f}",
        f"{figures['client_cpu_s']:.1f} / {figures['server_cpu_s']:.1f} "
        f"({100 * figures['client_cpu_share']:.0f} %)",
        f"{figures['server_cpu_ms_per_request']:.2f}",
        "",
    )
    prefix = f"/predict {label}, open loop {OPEN_LOOP_RATE} req/s offered"
    return [
        row(f"{prefix}: achieved requests/s", figures["rps"], "req/s"),
        row(f"{prefix}: p50 latency from due time", figures["p50_ms"], "ms"),
        row(f"{prefix}: p99 latency from due time", figures["p99_ms"], "ms"),
        row(f"{prefix}: p99 latency of case answers", figures["case_p99_ms"], "ms"),
        row(f"{prefix}: case answers", 100 * figures["case_share"], "%"),
        row(f"{prefix}: generator send lag p99", figures["send_lag_p99_ms"], "ms"),
        row(f"{prefix}: errors", float(errors), "requests"),
        row(f"{prefix}: server threads (peak)", figures["server_threads"], "threads"),
        row(f"{prefix}: server CPU per request", figures["server_cpu_ms_per_request"], "ms"),
        row(f"{prefix}: requests per scoring call", per_call, "requests"),
        row(f"{prefix}: load generator CPU share", 100 * figures["client_cpu_share"], "%"),
        row(f"{prefix}: host speed, fixed Python work unit (lower is faster)", unit_ms, "ms"),
    ]
