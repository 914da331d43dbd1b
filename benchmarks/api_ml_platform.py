"""The lake and models the scoring benchmark serves, built by the platform's own code.

`lakehouse.datagen.generate` writes the five files, the source DB loads the transactions,
`sources_api` (in a thread) serves the reference files to the pipeline, which builds silver
and gold, and `train_and_register` trains both flavours in a local MLflow store. `payloads`
then draws request bodies from the lake's latest transactions.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
from rich.console import Console

from benchmarks.http_load import free_port

console = Console()
NEW_IDS_FROM = 9_000_000_000_000


@contextlib.contextmanager
def _sources_api() -> Iterator[str]:
    """sources_api in a thread: the pipeline's bronze stage fetches reference files from it."""
    import uvicorn

    from sources_api.api import create_app

    port = free_port()
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
    for i, row in enumerate(frame.to_dict("records")):
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
                # New ids, beyond the lake's: every cell re-sends these bodies, and a resend
                # counts once (as a client's retry would), so the state keeps its size across
                # cells instead of gaining every body again per cell.
                "transaction_id": NEW_IDS_FROM + i,
            }
        )
    return basic, full
