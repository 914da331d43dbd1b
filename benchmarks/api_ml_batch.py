"""In-process `/predict/batch` figures: rows per CPU-second of the whole route, no socket.

`bench_api_ml` runs this in a fresh interpreter (`python -m benchmarks.api_ml_batch COUNT`, the
lake in `LAKEHOUSE_DATA_DIR`): the app of `create_app` with its lifespan (models, online state,
monitor, whose queue is drained inside the timed window), driven through
`httpx.ASGITransport`, so the figure is the service's own CPU per row —
body parsing and validation, normalisation, the store, features, model, answers, JSON, cases,
audit and metrics — without the HTTP server and the load generator sharing the cores. Then
`scoring.score` alone on the validated rows, with the batch's columnar features
(`columnar.feature_matrix`) and with the row-wise features (`compute.feature_vector` per row,
the path the batch used before), in the same process.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pydantic import TypeAdapter
from rich.table import Table

from benchmarks.http_load import JSON_VIA_ROUTE

LEAN = "application/json"  # the Content-Type the lean /predict/batch path takes

ROUNDS = 5
# The `?reasons=` scopes timed: reviews and declines explained (the default), all, none.
SCOPES = ("flagged", "all", "none")


def _rows_per_cpu_second(call, rows: int, rounds: int = ROUNDS) -> float:  # type: ignore[no-untyped-def]
    call()  # warm-up: the first call also records the events (later ones are resends)
    start = time.process_time()
    for _ in range(rounds):
        call()
    return rounds * rows / (time.process_time() - start)


async def _route(app, bodies: list[dict], flavour: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Rows per CPU-second of POST /predict/batch per reasons scope, through the lean batch
    path (`application/json`) and through the FastAPI route (`JSON_VIA_ROUTE`), alternated."""
    content = json.dumps(bodies).encode()
    out = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for scope in SCOPES:
            path = f"/predict/batch?reasons={scope}"
            for via, content_type in (("route", JSON_VIA_ROUTE), ("lean", LEAN)):
                headers = {"Content-Type": content_type}

                async def post(path: str = path, headers: dict = headers) -> None:
                    answer = await client.post(path, content=content, headers=headers)
                    answer.raise_for_status()

                await post()
                app.state.monitor.join()
                start = time.process_time()
                for _ in range(ROUNDS):
                    await post()
                app.state.monitor.join()  # its drift/skew/shadow work on these rows is the route's
                rate = ROUNDS * len(bodies) / (time.process_time() - start)
                out[f"{flavour}, {via} reasons={scope}"] = rate
    return out


def measure(bodies: list[dict], basic: list[dict]) -> dict[str, float]:
    """Rows per CPU-second: the lean path and the route per reasons scope (full and basic
    bodies), and `score` with columnar and row-wise features (`reasons="none"`), on the lake of
    `LAKEHOUSE_DATA_DIR`.

    Args:
        bodies: full-model request bodies, one batch.
        basic: the same transactions with the seed's fields only (the basic model).

    Returns:
        Figure name -> rows per CPU-second.
    """
    from api_ml.api.main import create_app
    from api_ml.api.schemas import TransactionRequest
    from api_ml.api.scoring import score
    from lakehouse.config import get_settings

    app = create_app(get_settings())

    async def run() -> dict[str, float]:
        async with app.router.lifespan_context(app):
            figures = await _route(app, bodies, "full")
            figures.update(await _route(app, basic, "basic"))
            snapshot = app.state.holder.snapshot
            requests = TypeAdapter(list[TransactionRequest]).validate_python(bodies)
            for name, columnar in (("columnar", True), ("row-wise", False)):
                figures[f"score, {name} features"] = _rows_per_cpu_second(
                    lambda c=columnar: score(
                        snapshot, requests, include_features=True, batch=c, reasons="none"
                    ),
                    len(requests),
                )
            return figures

    return asyncio.run(run())


def _measure_in_child(workdir: Path, rows: int, compiled: bool) -> dict[str, float]:
    """`measure` in a fresh interpreter on `workdir`'s lake, trees compiled or not."""
    env = {
        **os.environ,
        "LAKEHOUSE_DATA_DIR": str(workdir / "data"),
        "LAKEHOUSE_LOG_LEVEL": "WARNING",
        "LAKEHOUSE_MODEL_POLL_SECONDS": "0",
        "LAKEHOUSE_COMPILED_TREES": "true" if compiled else "false",
    }
    command = [sys.executable, "-m", "benchmarks.api_ml_batch", str(rows)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def in_child(workdir: Path, rows: int, table: Table) -> list[dict]:
    """`measure` in a fresh interpreter on `workdir`'s lake, like the service: its figures
    added to `table` (with the columnar / row-wise ratio) and as summary rows; then the lean
    path's full rows again with LightGBM's own predictor (`LAKEHOUSE_COMPILED_TREES=false`),
    the compiled trees' gain.

    Args:
        workdir: the benchmark's work folder (lake, MLflow store).
        rows: the batch size.
        table: the benchmark's table.

    Returns:
        The summary rows (`benchmarks.run`'s format).
    """
    figures = _measure_in_child(workdir, rows, compiled=True)
    out = []
    for figure, rate in figures.items():
        name = f"/predict/batch of {rows} in process, {figure}"
        flavour = "basic" if figure.startswith("basic") else "full"
        table.add_row(flavour, name, f"{rate:,.0f} rows/CPU-s")
        out.append({"benchmark": "api_ml", "figure": name, "value": rate, "unit": "rows/CPU-s"})
    gain = figures["score, columnar features"] / figures["score, row-wise features"]
    table.add_row("full", "in process: score, columnar / row-wise features", f"{gain:.2f}x")
    name = "/predict/batch in process: columnar vs row-wise features"
    out.append({"benchmark": "api_ml", "figure": name, "value": gain, "unit": "x"})
    for flavour in ("full", "basic"):
        for scope in SCOPES:
            lean = figures[f"{flavour}, lean reasons={scope}"]
            lean /= figures[f"{flavour}, route reasons={scope}"]
            name = f"/predict/batch in process, {flavour}, reasons={scope}: lean / FastAPI route"
            table.add_row(flavour, name, f"{lean:.2f}x")
            out.append({"benchmark": "api_ml", "figure": name, "value": lean, "unit": "x"})
    interpreted = _measure_in_child(workdir, rows, compiled=False)
    for scope in ("flagged", "none"):
        figure = f"full, lean reasons={scope}"
        name = f"/predict/batch in process, {figure}, LightGBM's predictor"
        rate = interpreted[figure]
        table.add_row("full", name, f"{rate:,.0f} rows/CPU-s")
        out.append({"benchmark": "api_ml", "figure": name, "value": rate, "unit": "rows/CPU-s"})
        gain = figures[figure] / interpreted[figure]
        name = f"/predict/batch in process, {figure}: compiled trees / LightGBM's predictor"
        table.add_row("full", name, f"{gain:.2f}x")
        out.append({"benchmark": "api_ml", "figure": name, "value": gain, "unit": "x"})
    return out


if __name__ == "__main__":
    from benchmarks.api_ml_platform import payloads
    from lakehouse.config import get_settings

    basic, full = payloads(get_settings(), int(sys.argv[1]))
    print(json.dumps(measure(full, basic)))
