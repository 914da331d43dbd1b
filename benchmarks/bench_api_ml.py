"""Benchmark of the scoring API (`api_ml/api`): latency and throughput of `/predict` on loopback.

The platform's own path builds what the service serves: `lakehouse.datagen.generate` writes
the five files, `sources_api` loads and serves them, the pipeline builds silver and gold, and
`train_and_register` trains and registers both flavours in a local MLflow store. Then
`lakehouse serve api-ml` starts as a subprocess (uvicorn) and is timed with 1 and 32
concurrent clients (httpx, one keep-alive connection each, a bounded number of requests),
on the basic path (the seed's eleven fields) and the full path (identifiers, features from
the online store), plus `/predict/batch` in rows/s, then again at 1 client with the Redis
store. In-process figures of the same run (`api_ml_paths.py`): the model call alone, the
online store path, and the SQL-replay path the store replaced (its ratio is the speed-up),
with the state's build time and bytes (in-process via tracemalloc, Redis via MEMORY USAGE).
Last, the state's build time and bytes per card and client on the largest lake at hand — at
`--scale full` the 13.3 M-row silver (`online_state_scale.py`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pandas as pd
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from benchmarks.api_ml_paths import baselines, summary

console = Console()
# (clients, transactions, requests per cell, batch rows)
SIZES = {
    "small": (60, 40_000, 300, 500),
    "medium": (300, 300_000, 2_000, 1_000),
    "full": (2_000, 1_500_000, 5_000, 1_000),
}
CONCURRENCY = (1, 32)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _sources_api() -> Iterator[str]:
    """sources_api in a thread: the pipeline's bronze stage fetches reference files from it."""
    import uvicorn

    from sources_api.api import create_app

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def build_platform(workdir: Path, clients: int, transactions: int) -> None:
    """Generate, load, run the pipeline and train, all with the platform's own code."""
    from lakehouse.config import get_settings
    from lakehouse.datagen import generate
    from lakehouse.ml.tracking import report_as_dict, train_and_register
    from lakehouse.orchestrator import run_pipeline
    from lakehouse.sources.loader import load_batch
    from lakehouse.sources.schema import source_engine

    os.environ["LAKEHOUSE_DATA_DIR"] = str(workdir / "data")
    get_settings.cache_clear()
    settings = get_settings()
    with console.status("generating data"):
        generate(
            settings.raw_path,
            clients=clients,
            transactions=transactions,
            seed=7,
            start="2018-01-01",
            end="2019-10-31",
        )
    with console.status("loading the source DB"):
        engine = source_engine(settings.source_db_url)
        load_batch(engine, settings.raw_path / "transactions_data.csv")
        engine.dispose()
    with _sources_api() as url, console.status("running the pipeline"):
        os.environ["LAKEHOUSE_SOURCES_API_URL"] = url
        get_settings.cache_clear()
        results = run_pipeline(get_settings(), skip=("publish", "train"))
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise RuntimeError(f"pipeline failed: {failed[0].stage}: {failed[0].message}")
    with console.status("training both flavours"):
        report = train_and_register(get_settings())
    console.print(
        {o.flavour: o.metrics.get("average_precision") for o in report.outcomes}
        if report.outcomes
        else report_as_dict(report)
    )


def payloads(settings, count: int) -> tuple[list[dict], list[dict]]:  # type: ignore[no-untyped-def]
    """Basic and full request bodies from the lake's latest transactions (new ids)."""
    from api_ml.api.schemas import SEED_FIELDS
    from lakehouse import catalog, storage

    silver = storage.read_dataset(catalog.location("silver_transactions", settings), settings)
    last = pc.max(silver.to_table(columns=["ts"]).column("ts")).as_py()
    recent = silver.to_table(filter=pc.field("ts") >= pd.Timestamp(last - timedelta(days=3)))
    frame = recent.to_pandas().sample(count, replace=True, random_state=3)
    basic, full = [], []
    for row in frame.to_dict("records"):
        seed = {name: (None if pd.isna(row[name]) else row[name]) for name in SEED_FIELDS}
        seed["amount"] = float(seed["amount"])
        basic.append(seed)
        full.append(
            {
                **seed,
                "card_id": int(row["card_id"]),
                "client_id": int(row["client_id"]),
                "merchant_id": int(row["merchant_id"]),
                "mcc": int(row["mcc_code"]),
                "timestamp": (row["ts"] + timedelta(minutes=5)).isoformat(),
            }
        )
    return basic, full


def _load(base: str, bodies: list[dict], concurrency: int) -> tuple[dict[str, float], int]:
    """POST every body to /predict with `concurrency` clients; (figures, errors).

    The clients are asyncio tasks on one thread, each with its own keep-alive connection:
    32 client threads would spend the shared CPU on the GIL instead of on the server.
    """
    import asyncio

    chunks = [bodies[i::concurrency] for i in range(concurrency)]
    latencies: list[float] = []
    errors = 0

    async def client(chunk: list[dict]) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            for body in chunk:
                start = time.perf_counter()
                response = await http.post("/predict", json=body)
                latencies.append(time.perf_counter() - start)
                errors += response.status_code != 200

    async def all_clients() -> None:
        await asyncio.gather(*(client(chunk) for chunk in chunks))

    start = time.perf_counter()
    asyncio.run(all_clients())
    return summary(latencies, time.perf_counter() - start), errors


def _baselines_in_child(workdir: Path, requests: int) -> dict[str, dict[str, float]]:
    """Run `_baselines` in a fresh interpreter, like the service: this process has just run
    the pipeline and training, whose leftover worker threads would slow the model calls."""
    import json

    env = {**os.environ, "LAKEHOUSE_DATA_DIR": str(workdir / "data")}
    command = [sys.executable, "-m", "benchmarks.bench_api_ml", "baselines", str(requests)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _start_service(workdir: Path, **extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
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


def _batch(base: str, bodies: list[dict], rounds: int = 5) -> float:
    """Rows per second through /predict/batch."""
    with httpx.Client(base_url=base, timeout=120) as client:
        client.post("/predict/batch", json=bodies).raise_for_status()  # warm-up
        start = time.perf_counter()
        for _ in range(rounds):
            client.post("/predict/batch", json=bodies).raise_for_status()
        return rounds * len(bodies) / (time.perf_counter() - start)


def _row(figure: str, value: float, unit: str) -> dict:
    return {"benchmark": "api_ml", "figure": figure, "value": value, "unit": unit}


def _measure_http(
    base: str, bodies: dict[str, list[dict]], baselines: dict, table: Table, batch_rows: int
) -> list[dict]:
    """/predict with 1 and 32 clients on each path, then /predict/batch; the summary rows."""
    rows = []
    for path, payloads_ in bodies.items():
        _load(base, payloads_[:50], 1)  # warm-up: first calls pay imports and caches
        for concurrency in CONCURRENCY:
            figures, errors = _load(base, payloads_, concurrency)
            ratio = figures["p50_ms"] / baselines[path]["p50_ms"]
            table.add_row(
                path,
                f"HTTP, {concurrency} client(s)",
                f"{figures['rps']:,.0f}",
                f"{figures['p50_ms']:.2f}",
                f"{figures['p99_ms']:.2f}",
                str(errors),
                f"{ratio:.1f}",
            )
            prefix = f"/predict {path}, {concurrency} client(s)"
            rows += [
                _row(f"{prefix}: requests/s", figures["rps"], "req/s"),
                _row(f"{prefix}: p50 latency", figures["p50_ms"], "ms"),
                _row(f"{prefix}: p99 latency", figures["p99_ms"], "ms"),
                _row(f"{prefix}: errors", float(errors), "requests"),
                _row(f"{prefix}: p50 vs in-process", ratio, "x"),
            ]
    for path, payloads_ in bodies.items():
        batch = payloads_[:batch_rows]
        rate = _batch(base, batch)
        table.add_row(
            path, f"/predict/batch of {len(batch)}", f"{rate:,.0f} rows/s", "", "", "0", ""
        )
        rows.append(_row(f"/predict/batch {path} ({len(batch)} rows)", rate, "rows/s"))
    return rows


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
        )
        rows.append(_row(f"{path}: in-process p50", baseline["p50_ms"], "ms"))
    speedup = baselines["sql_replay"]["p50_ms"] / baselines["full"]["p50_ms"]
    rows.append(_row("full in-process p50: SQL replay / online store", speedup, "x"))
    state = baselines["state"]
    console.print(
        f"online state (memory): built in {state['build_s']:.2f} s, "
        f"{state['cards']:,} cards, {state['clients']:,} clients, "
        f"{state['events']:,} events, {state['bytes'] / 1e6:.1f} MB "
        f"({state['bytes'] / max(1, state['cards']):,.0f} B per card incl. its "
        "client share and the label tiles)"
    )
    rows += [
        _row("online state build (memory)", state["build_s"], "s"),
        _row(
            "online state bytes per card (memory, all state / cards)",
            state["bytes"] / max(1, state["cards"]),
            "B",
        ),
        _row(
            "online state bytes per client (memory, all state / clients)",
            state["bytes"] / max(1, state["clients"]),
            "B",
        ),
    ]
    return rows


def _redis_figures(workdir: Path, full: list[dict], table: Table) -> list[dict]:
    """The full path on the Redis backend: p50 at 1 client, bytes per card and client."""
    import uuid

    import redis

    prefix = f"bench-online-{uuid.uuid4().hex[:8]}"
    url = os.environ.get("LAKEHOUSE_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url)
    process, base = _start_service(
        workdir,
        LAKEHOUSE_ONLINE_STORE="redis",
        LAKEHOUSE_REDIS_URL=url,
        LAKEHOUSE_ONLINE_KEY_PREFIX=prefix,
    )
    try:
        _load(base, full[:50], 1)
        figures, errors = _load(base, full, 1)
        info = httpx.get(f"{base}/model/info", timeout=30).json()["online_state"]
        generation = client.get(f"{prefix}:current").decode()
        sizes = {"card": 0, "client": 0}
        for kind in sizes:
            for key in client.scan_iter(match=f"{prefix}:{generation}:{kind}:*", count=1000):
                sizes[kind] += int(client.memory_usage(key) or 0)
    finally:
        _stop(process)
        from lakehouse.features.online.redis_store import drop_prefix

        drop_prefix(client, prefix)
    table.add_row(
        "full (Redis store)",
        "HTTP, 1 client",
        f"{figures['rps']:,.0f}",
        f"{figures['p50_ms']:.2f}",
        f"{figures['p99_ms']:.2f}",
        str(errors),
        "",
    )
    per_card = sizes["card"] / max(1, info["cards"])
    per_client = sizes["client"] / max(1, info["clients"])
    console.print(
        f"online state (Redis): {per_card:,.0f} B per card hash, "
        f"{per_client:,.0f} B per client hash (MEMORY USAGE)"
    )
    return [
        _row("/predict full, Redis store, 1 client: p50 latency", figures["p50_ms"], "ms"),
        _row("online state bytes per card (Redis card hash)", per_card, "B"),
        _row("online state bytes per client (Redis client hash)", per_client, "B"),
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
    for column in ("path", "mode", "req/s", "p50 ms", "p99 ms", "errors", "p50 vs in-process"):
        table.add_column(column)
    baselines = _baselines_in_child(workdir, requests)
    rows = _baseline_rows(baselines, table)
    process, base = _start_service(workdir)
    try:
        rows += _measure_http(base, {"basic": basic, "full": full}, baselines, table, batch_rows)
    finally:
        _stop(process)
    rows += _redis_figures(workdir, full, table)
    console.print(table)
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
        rows.append(_row(figure, value, unit))
    console.print(table)
    return rows


if __name__ == "__main__" and sys.argv[1:2] == ["baselines"]:
    import json

    from lakehouse.config import get_settings

    count = int(sys.argv[2])
    basic_bodies, full_bodies = payloads(get_settings(), count)
    figures = baselines(get_settings(), basic_bodies, full_bodies)
    print(json.dumps(figures, default=float))
