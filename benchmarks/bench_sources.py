"""Benchmark of the source system's batch loader (`lakehouse.sources.loader.load_batch`).

Writes a synthetic transactions_data.csv of N rows (small 100 k, medium 1 M, full 13.3 M; valid
under `lakehouse.formats`), then times, on SQLite and on PostgreSQL (a database of its own,
created and dropped here; skipped with the reason when the server is unreachable):
- the real load: validation + staging + one atomic INSERT ... ON CONFLICT (COPY on PostgreSQL);
- an idempotent resend of the same file (every row skipped);
- the baseline, measured in the same run: pandas `DataFrame.to_sql` (SQLAlchemy executemany, no
  validation, no idempotence) on a sample of the same rows, extrapolated per row.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from lakehouse.sources.loader import load_batch
from lakehouse.sources.schema import source_engine

console = Console()
ROWS = {"small": 100_000, "medium": 1_000_000, "full": 13_305_915}
BASELINE_SAMPLE = 50_000
PG_ADMIN_URL = os.environ.get(
    "LAKEHOUSE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
CITIES = np.array(["Beulah", "Vista", "Rome", "Houston", "Miami", "Seattle"])
STATES = np.array(["ND", "CA", "Italy", "TX", "FL", "WA"])
ERRORS = np.array(["", "", "", "", "Bad PIN", "Insufficient Balance",
                   "Bad PIN,Insufficient Balance"])


def synthetic_frame(rows: int, first_id: int, seed: int) -> pd.DataFrame:
    """`rows` valid transactions as text columns, sorted by date, ids from `first_id`."""
    rng = np.random.default_rng(seed)
    minutes = np.sort(rng.integers(0, 9 * 365 * 24 * 60, rows)).astype("timedelta64[m]")
    stamps = np.datetime_as_string(np.datetime64("2010-01-01T00:00") + minutes, unit="s")
    online = rng.random(rows) < 0.11
    place = rng.integers(0, len(CITIES), rows)
    abroad = STATES[place] == "Italy"
    cents = rng.integers(-5_000, 40_000, rows)
    zips = (rng.integers(10_000, 99_999, rows).astype(str).astype(object) + ".0")
    return pd.DataFrame({
        "id": np.arange(first_id, first_id + rows).astype(str),
        "date": np.char.replace(stamps, "T", " "),
        "client_id": rng.integers(1, 2_000, rows).astype(str),
        "card_id": rng.integers(1, 6_146, rows).astype(str),
        "amount": [f"${c / 100:.2f}" for c in cents.tolist()],
        "use_chip": np.where(online, "Online Transaction",
                             np.where(rng.random(rows) < 0.6, "Swipe Transaction",
                                      "Chip Transaction")),
        "merchant_id": rng.integers(1, 100_000, rows).astype(str),
        "merchant_city": np.where(online, "ONLINE", CITIES[place]),
        "merchant_state": np.where(online, "", STATES[place]),
        "zip": np.where(online | abroad, "", zips),
        "mcc": rng.choice(np.array(["5411", "5812", "5541", "4829", "5499"]), rows),
        "errors": rng.choice(ERRORS, rows),
    })


def write_csv(path: Path, rows: int) -> Path:
    chunk = 500_000
    with path.open("w") as handle:
        for index, start in enumerate(range(0, rows, chunk)):
            frame = synthetic_frame(min(chunk, rows - start), 1 + start, seed=index)
            frame.to_csv(handle, index=False, header=index == 0)
    return path


def _timed(action) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def measure(name: str, url: str, path: Path, rows: int) -> list[dict]:
    """Load, resend and baseline on one database; returns the benchmark rows."""
    engine = source_engine(url)
    try:
        results: list[object] = []
        load_s = _timed(lambda: results.append(load_batch(engine, path)))
        resend_s = _timed(lambda: results.append(load_batch(engine, path)))
        assert results[0].inserted == rows and results[1].skipped == rows  # type: ignore[attr-defined]
        sample = pd.read_csv(path, nrows=min(BASELINE_SAMPLE, rows), dtype=str,
                             keep_default_na=False)
        base_s = _timed(lambda: sample.to_sql("baseline_to_sql", engine, index=False,
                                              if_exists="replace", chunksize=10_000))
    finally:
        engine.dispose()
    base_rate = len(sample) / base_s
    rate = rows / load_s
    console.print(f"{name}: load {rows:,} rows in {load_s:.1f} s ({rate:,.0f} rows/s), resend "
                  f"{resend_s:.1f} s; baseline to_sql {base_rate:,.0f} rows/s → "
                  f"{rate / base_rate:.1f}x")
    figure = f"{name} load"
    return [
        {"benchmark": "sources", "figure": f"{figure} seconds", "value": load_s, "unit": "s"},
        {"benchmark": "sources", "figure": f"{figure} rows/s", "value": rate, "unit": "rows/s"},
        {"benchmark": "sources", "figure": f"{name} resend (all skipped) seconds",
         "value": resend_s, "unit": "s"},
        {"benchmark": "sources", "figure": f"{name} baseline pandas to_sql rows/s",
         "value": base_rate, "unit": "rows/s"},
        {"benchmark": "sources", "figure": f"{name} speed-up vs to_sql", "value": rate / base_rate,
         "unit": "x"},
    ]


def _postgres(path: Path, rows: int) -> list[dict]:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"lakehouse_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any failure means no usable server: skip, say why
        console.print(f"[yellow]PostgreSQL skipped[/]: not reachable at {PG_ADMIN_URL} ({exc})")
        admin.dispose()
        return []
    try:
        return measure("postgresql", PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", path, rows)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(scale: str, workdir: Path) -> list[dict]:
    rows = ROWS[scale]
    console.print(f"writing a synthetic transactions CSV of {rows:,} rows ...")
    path = write_csv(workdir / "transactions_data.csv", rows)
    results = measure("sqlite", f"sqlite:///{workdir / 'sources.db'}", path, rows)
    results += _postgres(path, rows)
    table = Table(title=f"sources loader ({rows:,} rows)")
    for column in ("figure", "value", "unit"):
        table.add_column(column)
    for row in results:
        table.add_row(row["figure"], f"{row['value']:,.2f}", row["unit"])
    console.print(table)
    return results
