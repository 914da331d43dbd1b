"""Benchmark of the datamarts API (`api/`): requests per second and latency on loopback.

Publishes the five datamarts at the real dataset's size (2,000 clients, 6,146 cards, 109 MCCs,
24 hours; `small` uses a tenth) into a SQLite analytics DB with the pipeline's own
`publish_table`, starts `lakehouse serve api` as a subprocess (uvicorn), and times two
requests — a list page (`/client_features?sort=-fraud_rate&limit=50&offset=...`) and a
get-by-key (`/card_features/{id}`) — with 1 and 16 concurrent clients, a bounded number of
requests each. Baseline, measured in the same run: the same queries run in-process with
SQLAlchemy through `api.datamarts` (no HTTP, no JSON, no validation); the ratio says what
serving over HTTP costs on top of the query itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from api.database import make_engine
from api.datamarts import DATAMARTS, ListQuery, get_row, list_rows
from benchmarks.http_load import free_port
from benchmarks.latency import summary
from lakehouse.pipeline.publish import analytics_engine, publish_table

console = Console()
SIZES = {"small": (200, 615), "medium": (2_000, 6_146), "full": (2_000, 6_146)}
REQUESTS = {"small": 200, "medium": 2_000, "full": 5_000}
CONCURRENCY = (1, 16)
PAGE = 50


def _rates(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    tx = rng.integers(50, 9_000, n)
    labeled = (tx * rng.uniform(0.6, 0.7, n)).astype(np.int64)
    fraud = rng.binomial(labeled, 0.0015)
    drop = labeled - fraud
    return {"tx_count": tx, "fraud_count": fraud, "drop_count": drop, "labeled_count": labeled,
            "fraud_rate": fraud / labeled, "drop_rate": drop / labeled}


def synthetic_datamarts(clients: int, cards: int, seed: int = 11) -> dict[str, pa.Table]:
    """The five datamarts with the contract's columns and plausible values."""
    rng = np.random.default_rng(seed)
    c, k = _rates(rng, clients), _rates(rng, cards)
    client_ids, card_ids = np.arange(clients), np.arange(cards)
    days = rng.integers(300, 3_500, clients)
    mcc, hours = _rates(rng, 109), _rates(rng, 24)
    return {
        "dm_client_features": pa.table({
            "client_id": client_ids, "tx_count": c["tx_count"],
            "avg_amount": rng.gamma(2, 25, clients), "std_amount": rng.gamma(2, 30, clients),
            "fraud_count": c["fraud_count"], "drop_count": c["drop_count"],
            "labeled_count": c["labeled_count"], "refund_count": c["tx_count"] // 20,
            "unique_merchants": c["tx_count"] // 7, "fraud_rate": c["fraud_rate"],
            "drop_rate": c["drop_rate"]}),
        "dm_card_features": pa.table({
            "tx_card_id": card_ids, "card_type": rng.choice(["Debit", "Credit"], cards),
            "tx_count": k["tx_count"], "fraud_count": k["fraud_count"],
            "avg_amount": rng.gamma(2, 25, cards), "drop_count": k["drop_count"],
            "labeled_count": k["labeled_count"], "fraud_rate": k["fraud_rate"],
            "drop_rate": k["drop_rate"]}),
        "dm_client_velocity": pa.table({
            "client_id": client_ids, "active_days": days,
            "avg_daily_txn": c["tx_count"] / days, "max_daily_txn": rng.integers(3, 30, clients)}),
        "dm_mcc_fraud_risk": pa.table({
            "mcc_code": np.arange(4_000, 4_109),
            "mcc_description": [f"MCC {i}" for i in range(109)],
            **{name: mcc[name] for name in ("tx_count", "fraud_count", "drop_count",
                                            "labeled_count", "fraud_rate", "drop_rate")}}),
        "dm_time_of_day_fraud": pa.table({"hour": np.arange(24), **hours}),
    }


def _load(base: str, paths: list[str], concurrency: int) -> dict[str, float]:
    """Send `paths` with `concurrency` clients (one keep-alive connection each)."""
    chunks = [paths[i::concurrency] for i in range(concurrency)]

    def worker(chunk: list[str]) -> list[float]:
        timings = []
        with httpx.Client(base_url=base, timeout=30) as client:
            for path in chunk:
                start = time.perf_counter()
                client.get(path).raise_for_status()
                timings.append(time.perf_counter() - start)
        return timings

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = [t for timings in pool.map(worker, chunks) for t in timings]
    return summary(latencies, time.perf_counter() - start)


def _direct(calls: list[Callable[[], object]]) -> dict[str, float]:
    latencies = []
    start = time.perf_counter()
    for call in calls:
        begin = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - begin)
    return summary(latencies, time.perf_counter() - start)


def _start_api(db_url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "LAKEHOUSE_ANALYTICS_DB_URL": db_url,
           "LAKEHOUSE_DATA_DIR": str(workdir), "LAKEHOUSE_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "lakehouse.cli", "serve", "api", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"the API did not become healthy on {base}: see its stderr above")


def run(scale: str, workdir: Path) -> list[dict]:
    clients, cards = SIZES[scale]
    requests = REQUESTS[scale]
    db_url = f"sqlite:///{(workdir / 'analytics.db').resolve()}"
    publisher = analytics_engine(db_url)
    for name, table in synthetic_datamarts(clients, cards).items():
        publish_table(publisher, name, table, lake_version=1)
    publisher.dispose()

    rng = np.random.default_rng(5)
    offsets = rng.integers(0, clients - PAGE, requests).tolist()
    card_ids = rng.integers(0, cards, requests).tolist()
    http_paths = {
        "list page": [f"/client_features?sort=-fraud_rate&limit={PAGE}&offset={o}"
                      for o in offsets],
        "get by key": [f"/card_features/{i}" for i in card_ids],
    }
    engine = make_engine(db_url)
    direct_calls = {
        "list page": [
            lambda o=o: list_rows(engine, DATAMARTS["client_features"],
                                  ListQuery(limit=PAGE, offset=o, sort="-fraud_rate"))
            for o in offsets],
        "get by key": [lambda i=i: get_row(engine, DATAMARTS["card_features"], i)
                       for i in card_ids],
    }
    rows: list[dict] = []
    table = Table(title=f"datamarts API on loopback ({clients:,} clients, {cards:,} cards, "
                        f"{requests:,} requests per cell)")
    for column in ("request", "mode", "req/s", "p50 ms", "p99 ms", "vs direct"):
        table.add_column(column)
    process, base = _start_api(db_url, workdir)
    try:
        for label in http_paths:
            baseline = _direct(direct_calls[label])
            table.add_row(label, "direct SQLAlchemy (baseline)", f"{baseline['rps']:,.0f}",
                          f"{baseline['p50_ms']:.2f}", f"{baseline['p99_ms']:.2f}", "1.00")
            rows.append(_row(f"{label}: direct SQLAlchemy queries/s", baseline["rps"], "q/s"))
            for concurrency in CONCURRENCY:
                figures = _load(base, http_paths[label], concurrency)
                ratio = figures["rps"] / baseline["rps"]
                table.add_row(label, f"HTTP, {concurrency} client(s)", f"{figures['rps']:,.0f}",
                              f"{figures['p50_ms']:.2f}", f"{figures['p99_ms']:.2f}",
                              f"{ratio:.2f}")
                prefix = f"{label}, {concurrency} client(s)"
                rows += [
                    _row(f"{prefix}: requests/s", figures["rps"], "req/s"),
                    _row(f"{prefix}: p50 latency", figures["p50_ms"], "ms"),
                    _row(f"{prefix}: p99 latency", figures["p99_ms"], "ms"),
                    _row(f"{prefix}: throughput vs direct query", ratio, "x"),
                ]
    finally:
        process.terminate()
        process.wait(timeout=15)
        engine.dispose()
    console.print(table)
    return rows


def _row(figure: str, value: float, unit: str) -> dict:
    return {"benchmark": "api", "figure": figure, "value": float(value), "unit": unit}
