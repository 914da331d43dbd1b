"""Benchmark of the scoring API (`api_ml/api`): latency and throughput of `/predict` on loopback.

The platform's own path builds what the service serves (`api_ml_platform.py`):
`lakehouse.datagen.generate` writes the five files, `sources_api` loads and serves them, the
pipeline builds silver and gold, and `train_and_register` trains and registers both flavours in
a local MLflow store. Then `lakehouse serve api-ml` starts as a subprocess (uvicorn) and is
timed with 1 and 32 concurrent clients (`http_load.py`: raw HTTP/1.1 on one keep-alive
connection each, requests encoded beforehand, a bounded number of requests), on the basic
path (the seed's eleven fields) and the full path (identifiers, features from the online
store), plus `/predict/batch` in rows/s per reasons scope (`flagged`, `all`, `none`), each
through the lean batch path and the FastAPI route in the same run (and in process, rows per
CPU-second, `api_ml_batch.py`), then on
the Redis store (1 and 32 clients) and with `LAKEHOUSE_API_ML_WORKERS=2` on Redis
(32 clients). A closed loop of 32 clients cannot show p99 ≤ 10 ms at 1,500 req/s (Little's
law: that needs ≥ 3,200 req/s), so the full path also gets an open-loop cell: 32 connections
offered a fixed 1,500 req/s (`post_open_loop`), latency counted from each request's due
time, with the p99 of the answers that opened a case and the requests per scoring call (the
requests that arrive together are scored together: `lean.Coalescer`); it runs again on a
service that fsyncs each case before answering (`LAKEHOUSE_CASE_OUTBOX_SYNC=full`,
docs/cases.md), and on one that scores each request alone (`LAKEHOUSE_PREDICT_COALESCE=false`,
with the 32-client wrk cell: before/after). The full cells
run with the default reasons scope and again with `?reasons=all` (every answer explained, as
before the scopes: 1 client, and 32 under wrk), before/after in one run. They are also
repeated through the FastAPI route (`JSON_VIA_ROUTE`: the lean `/predict` path leaves a body
announced with a charset to the route), before/after in one run. Each cell also gives the
service's peak thread count, the CPU seconds of the load generator and of the service, the
generator's share of them and the service's CPU per
request: they share the machine's cores, so the CPU split shows which side is the limit.
With `wrk` installed, the full path's cells also run under wrk (`wrk_load.py`: C, a fraction
of the Python client's CPU); without it they are skipped and the run says so. In-process
figures of the same run (`api_ml_paths.py`): the model
call alone, the online store path, and the SQL-replay path the store replaced; every HTTP
figure is printed with its speed-up over that SQL-replay path (p50, requests or rows per
second), with the state's build time and bytes (in-process via tracemalloc, Redis via
MEMORY USAGE).
The case outbox's put (what a review or decline answer waits for) is timed in process under
each `LAKEHOUSE_CASE_OUTBOX_SYNC` (`api_ml_outbox.py`).
Last, the state's build time and bytes per card and client on the largest lake at hand — at
`--scale full` the 13.3 M-row silver (`online_state_scale.py`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from benchmarks import api_ml_batch, api_ml_outbox
from benchmarks.api_ml_cells import cell, open_loop_cell, row
from benchmarks.api_ml_paths import baselines
from benchmarks.api_ml_platform import build_platform, payloads
from benchmarks.http_load import JSON_VIA_ROUTE, free_port
from benchmarks.wrk_load import wrk_available

console = Console()
# (clients, transactions, requests per cell, batch rows)
SIZES = {
    "small": (60, 40_000, 300, 500),
    "medium": (300, 300_000, 2_000, 1_000),
    "full": (2_000, 1_500_000, 5_000, 1_000),
}
CONCURRENCY = (1, 32)


def _baselines_in_child(workdir: Path, requests: int) -> dict[str, dict[str, float]]:
    """Run `_baselines` in a fresh interpreter, like the service: this process has just run
    the pipeline and training, whose leftover worker threads would slow the model calls."""
    import json

    env = {**os.environ, "LAKEHOUSE_DATA_DIR": str(workdir / "data")}
    command = [sys.executable, "-m", "benchmarks.bench_api_ml", "baselines", str(requests)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _start_service(workdir: Path, **extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "LAKEHOUSE_DATA_DIR": str(workdir / "data"),
        "LAKEHOUSE_LOG_LEVEL": "WARNING",
        "LAKEHOUSE_MODEL_POLL_SECONDS": "0",
        **extra,
    }
    command = [sys.executable, "-m", "lakehouse.cli", "serve", "api-ml", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600  # model + state load; slow on a busy shared host
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.terminate()
    raise RuntimeError(f"api-ml did not become healthy on {base}: see its stderr above")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the service drains its requests first); SIGKILL if it takes over a minute."""
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def _batch(
    base: str, bodies: list[dict], scope: str, content_type: str, rounds: int = 5
) -> float:
    """Rows per second through /predict/batch?reasons=<scope> (the body encoded once, before
    the clock); `content_type` picks the lean path (`api_ml_batch.LEAN`) or the FastAPI route
    (`JSON_VIA_ROUTE`)."""
    import json

    content = json.dumps(bodies).encode()
    headers = {"Content-Type": content_type}
    path = f"/predict/batch?reasons={scope}"
    with httpx.Client(base_url=base, timeout=120, headers=headers) as client:
        client.post(path, content=content).raise_for_status()  # warm-up
        start = time.perf_counter()
        for _ in range(rounds):
            client.post(path, content=content).raise_for_status()
        return rounds * len(bodies) / (time.perf_counter() - start)


def _batch_cells(
    base: str, bodies: dict[str, list[dict]], sql: dict, table: Table, batch_rows: int
) -> list[dict]:
    """/predict/batch per flavour and reasons scope: the lean path and the FastAPI route in
    the same run (their ratio is the lean path's gain), alternated twice, the better of each
    kept (wall-clock on a shared host swings between back-to-back cells)."""
    rows = []
    for path, payloads_ in bodies.items():
        batch = payloads_[:batch_rows]
        for scope in api_ml_batch.SCOPES:
            timed = [
                [_batch(base, batch, scope, via) for via in (JSON_VIA_ROUTE, api_ml_batch.LEAN)]
                for _ in range(2)
            ]
            routed, lean = (max(rates) for rates in zip(*timed, strict=True))
            name = f"/predict/batch {path} reasons={scope} ({len(batch)} rows)"
            table.add_row(
                path, f"/predict/batch of {len(batch)}, reasons={scope}: lean / route",
                f"{lean:,.0f} / {routed:,.0f} rows/s", "", "", "", "", "", "",
                f"{lean / routed:.2f}x route, {lean / sql['rps']:,.0f}x SQL rows/s",
            )  # fmt: skip
            rows += [
                row(name, lean, "rows/s"),
                row(f"{name}, FastAPI route", routed, "rows/s"),
                row(f"{name}: lean path vs FastAPI route", lean / routed, "x"),
                row(f"{name}: rows/s vs SQL replay", lean / sql["rps"], "x"),
            ]
    return rows


def _measure_http(
    process: subprocess.Popen[bytes],
    base: str,
    bodies: dict[str, list[dict]],
    sql: dict,
    table: Table,
    batch_rows: int,
) -> list[dict]:
    """/predict with 1 and 32 clients on each path, then /predict/batch; the summary rows."""
    rows = []
    for path, payloads_ in bodies.items():
        for concurrency in CONCURRENCY:
            rows += cell(path, base, process.pid, payloads_, concurrency, sql, table)
    if wrk_available():
        for concurrency in CONCURRENCY:
            rows += cell("full", base, process.pid, bodies["full"], concurrency, sql, table, True)
    rows += open_loop_cell(base, process.pid, bodies["full"], table)
    # The cells above explain the reviews and declines only (the default scope, `flagged`);
    # the same full cells explaining every answer, as before the scopes: before/after.
    explained, everything = "full, reasons=all", "?reasons=all"
    rows += cell(explained, base, process.pid, bodies["full"], 1, sql, table, query=everything)
    if wrk_available():
        rows += cell(
            explained, base, process.pid, bodies["full"], 32, sql, table, True, query=everything
        )
    # The same full cells through the FastAPI route (not the lean path): before/after in one run
    full, via_route = bodies["full"], "full, FastAPI route"
    rows += cell(via_route, base, process.pid, full, 1, sql, table, False, JSON_VIA_ROUTE)
    if wrk_available():
        rows += cell(via_route, base, process.pid, full, 32, sql, table, True, JSON_VIA_ROUTE)
    return rows + _batch_cells(base, bodies, sql, table, batch_rows)


def _open_loop_on(
    workdir: Path, full: list[dict], sql: dict, table: Table, label: str, wrk: bool, **env: str
) -> list[dict]:
    """The open-loop cell (and with `wrk` the 32-client wrk cell) on a service started with
    `env`, beside the default service's cells of the same run."""
    process, base = _start_service(workdir, **env)
    try:
        rows = open_loop_cell(base, process.pid, full, table, label)
        if wrk and wrk_available():
            rows += cell(label, base, process.pid, full, 32, sql, table, True)
        return rows
    finally:
        _stop(process)


def _baseline_rows(baselines: dict, table: Table) -> list[dict]:
    rows = []
    for path in ("basic", "full", "sql_replay"):
        baseline = baselines[path]
        label = {"full": "full (online store)", "sql_replay": "full, SQL replay (before)"}
        table.add_row(
            label.get(path, path),
            "in-process, no HTTP",
            f"{baseline['rps']:,.0f}",
            f"{baseline['p50_ms']:.3f}",
            f"{baseline['p99_ms']:.3f}",
            "0",
            "",
            "",
            "",
            "",
        )
        rows.append(row(f"{path}: in-process p50", baseline["p50_ms"], "ms"))
    speedup = baselines["sql_replay"]["p50_ms"] / baselines["full"]["p50_ms"]
    rows.append(row("full in-process p50: SQL replay / online store", speedup, "x"))
    state = baselines["state"]
    console.print(
        f"online state (memory): built in {state['build_s']:.2f} s, "
        f"{state['cards']:,} cards, {state['clients']:,} clients, "
        f"{state['events']:,} events, {state['bytes'] / 1e6:.1f} MB "
        f"({state['bytes'] / max(1, state['cards']):,.0f} B per card incl. its "
        "client share and the label tiles)"
    )
    rows += [
        row("online state build (memory)", state["build_s"], "s"),
        row(
            "online state bytes per card (memory, all state / cards)",
            state["bytes"] / max(1, state["cards"]),
            "B",
        ),
        row(
            "online state bytes per client (memory, all state / clients)",
            state["bytes"] / max(1, state["clients"]),
            "B",
        ),
    ]
    return rows


def _redis_figures(
    workdir: Path, full: list[dict], sql: dict, table: Table, workers: int = 2
) -> list[dict]:
    """The full path on the Redis backend: 1 and 32 clients on one process, 32 clients on
    `workers` worker processes sharing the state; bytes per card and client."""
    import uuid

    import redis

    prefix = f"bench-online-{uuid.uuid4().hex[:8]}"
    url = os.environ.get("LAKEHOUSE_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url)
    redis_env = {
        "LAKEHOUSE_ONLINE_STORE": "redis",
        "LAKEHOUSE_REDIS_URL": url,
        "LAKEHOUSE_ONLINE_KEY_PREFIX": prefix,
    }
    rows = []
    try:
        process, base = _start_service(workdir, **redis_env)
        try:
            for clients in CONCURRENCY:
                rows += cell("full (Redis store)", base, process.pid, full, clients, sql, table)
            if wrk_available():
                rows += cell(
                    "full (Redis store)", base, process.pid, full, CONCURRENCY[-1], sql, table, True
                )
            info = httpx.get(f"{base}/model/info", timeout=30).json()["online_state"]
        finally:
            _stop(process)
        process, base = _start_service(
            workdir, **redis_env, LAKEHOUSE_API_ML_WORKERS=str(workers)
        )
        try:
            label = f"full (Redis store, {workers} workers)"
            rows += cell(label, base, process.pid, full, CONCURRENCY[-1], sql, table)
            if wrk_available():
                rows += cell(label, base, process.pid, full, CONCURRENCY[-1], sql, table, True)
        finally:
            _stop(process)
        generation = client.get(f"{prefix}:current").decode()
        sizes = {"card": 0, "client": 0}
        for kind in sizes:
            for key in client.scan_iter(match=f"{prefix}:{generation}:{kind}:*", count=1000):
                sizes[kind] += int(client.memory_usage(key) or 0)
    finally:
        from lakehouse.features.online.redis_store import drop_prefix

        drop_prefix(client, prefix)
    per_card = sizes["card"] / max(1, info["cards"])
    per_client = sizes["client"] / max(1, info["clients"])
    console.print(
        f"online state (Redis): {per_card:,.0f} B per card hash, "
        f"{per_client:,.0f} B per client hash (MEMORY USAGE)"
    )
    return [
        *rows,
        row("online state bytes per card (Redis card hash)", per_card, "B"),
        row("online state bytes per client (Redis client hash)", per_client, "B"),
    ]


def run(scale: str, workdir: Path) -> list[dict]:
    from lakehouse.config import get_settings

    clients, transactions, requests, batch_rows = SIZES[scale]
    if (workdir / "data" / "mlflow.db").exists():  # a kept --workdir: reuse lake and models
        os.environ["LAKEHOUSE_DATA_DIR"] = str(workdir / "data")
        get_settings.cache_clear()
    else:
        build_platform(workdir, clients, transactions)
    settings = get_settings()
    basic, full = payloads(settings, requests)
    table = Table(
        title=f"api_ml /predict on loopback ({transactions:,} generated transactions, "
        f"{requests:,} requests per cell)"
    )
    columns = (
        "path", "mode", "req/s", "p50 ms", "p99 ms", "errors", "server threads",
        "CPU s client / server (client share)", "server CPU ms/request",
        "vs SQL replay: p50 / req/s",
    )  # fmt: skip
    for column in columns:
        table.add_column(column)
    baselines = _baselines_in_child(workdir, requests)
    rows = _baseline_rows(baselines, table)
    rows += api_ml_batch.in_child(workdir, batch_rows, table)
    rows += api_ml_outbox.measure(workdir / "outbox-puts", table)
    sql = baselines["sql_replay"]
    process, base = _start_service(workdir)
    try:
        rows += _measure_http(process, base, {"basic": basic, "full": full}, sql, table, batch_rows)
    finally:
        _stop(process)
    # Every case fsynced before its answer leaves (docs/cases.md), against `normal`.
    rows += _open_loop_on(
        workdir, full, sql, table, "full, cases fsynced", False, LAKEHOUSE_CASE_OUTBOX_SYNC="full"
    )
    # Every /predict request scored alone, as before the coalescer: before/after.
    rows += _open_loop_on(
        workdir, full, sql, table, "full, each request alone", True,
        LAKEHOUSE_PREDICT_COALESCE="false",
    )  # fmt: skip
    rows += _redis_figures(workdir, full, sql, table)
    console.print(table)
    console.print(
        "CPU s: seconds of CPU the load generator (the Python client: one process, raw "
        "HTTP/1.1 on keep-alive connections; or wrk) and the service (all its processes) used "
        "during the cell, and the generator's share of the two; server CPU ms/request is the "
        f"service's capacity figure. The machine has {os.cpu_count()} cores for both."
        + ("" if wrk_available() else " wrk is not installed (apt-get install wrk): its cells "
           "are skipped, every figure comes from the Python client.")
    )
    rows += _state_at_scale(scale, workdir)
    return rows


def _state_at_scale(scale: str, workdir: Path) -> list[dict]:
    """The state's build time and bytes on the largest lake at hand (`online_state_scale`)."""
    from benchmarks import online_state_scale

    found = online_state_scale.measure_in_child(online_state_scale.lake_for(scale, workdir))
    table = Table(title=f"Online state from {found['rows']:,} silver rows "
                        f"({found['cards']:,} cards, {found['clients']:,} clients, "
                        f"{found['events']:,} events held)")  # fmt: skip
    for column in ("figure", "value", "unit"):
        table.add_column(column)
    rows = []
    for figure, value, unit in online_state_scale.figures(found):
        table.add_row(figure, f"{value:,.2f}", unit)
        rows.append(row(figure, value, unit))
    console.print(table)
    return rows


if __name__ == "__main__" and sys.argv[1:2] == ["baselines"]:
    import json

    from lakehouse.config import get_settings

    count = int(sys.argv[2])
    basic_bodies, full_bodies = payloads(get_settings(), count)
    figures = baselines(get_settings(), basic_bodies, full_bodies)
    print(json.dumps(figures, default=float))
