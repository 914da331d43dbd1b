"""The synthetic data generator: writes the five source files of DATA.md into a folder.

`generate` builds a population (clients, cards, merchants, habits) and a fraud plan from the
seed, then produces the transactions chunk by chunk in time order — normal spending, breached
merchants' fraud marked in place, burst and takeover rows merged in — and streams each chunk
to `transactions_data.csv` and its labels to `train_fraud_labels.json`. Memory therefore
depends on `chunk_rows`, not on the row count. Files are written under temporary names and
renamed at the end, so a failed run never leaves a half-written dataset behind. Beside the five,
the generator's ground truth (which mechanism produced each fraud) goes to
`lakehouse.datagen.truth.MECHANISMS_FILE`, for evaluation per mechanism.
Same arguments, same bytes: every random draw comes from generators seeded by `seed`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lakehouse import formats
from lakehouse.datagen.behaviour import Rows, normal_rows
from lakehouse.datagen.fraud import FraudPlan, plan_fraud
from lakehouse.datagen.params import GenerationSummary, GeneratorParams
from lakehouse.datagen.population import Population, build_population, write_reference_csvs
from lakehouse.datagen.timeline import SECONDS_PER_DAY, Timeline
from lakehouse.datagen.truth import MECHANISMS_FILE, MechanismWriter
from lakehouse.datagen.writer import TransactionWriter, write_mcc_json

__all__ = ["GenerationSummary", "GeneratorParams", "generate"]

Progress = Callable[[int, int], None]
PARTIAL = ".partial"


def _chunk(seed: int, index: int, population: Population, params: GeneratorParams,
           timeline: Timeline, plan: FraudPlan, rows: int, days: tuple[int, int]) -> Rows:
    """All transactions of one chunk of days, sorted by time."""
    rng = np.random.default_rng([seed, 2, index])
    normal = normal_rows(rng, population, params, timeline, rows, days)
    plan.flag_breaches(rng, normal)
    injected = plan.rows_between(days[0] * SECONDS_PER_DAY, days[1] * SECONDS_PER_DAY)
    chunk = Rows.concat([normal, injected])
    return chunk.take(np.argsort(chunk.ts, kind="stable"))


def _validate(clients: int, transactions: int, params: GeneratorParams) -> None:
    if clients < 1:
        raise ValueError(f"clients must be at least 1, got {clients}")
    if transactions < 1:
        raise ValueError(f"transactions must be at least 1, got {transactions}")
    if not 0 < params.label_share <= 1:
        raise ValueError(f"label_share must be in (0, 1], got {params.label_share}")
    if params.fraud_rate < 0 or params.fraud_multiplier < 0:
        raise ValueError("fraud_rate and fraud_multiplier must not be negative")


@dataclass
class _Tally:
    rows: int = 0
    frauds: int = 0
    labeled: int = 0
    labeled_frauds: int = 0


def _stream_transactions(out: Path, seed: int, population: Population,
                         settings: GeneratorParams, timeline: Timeline, plan: FraudPlan,
                         chunks: list[tuple[tuple[int, int], int]],
                         progress: Progress | None, total: int) -> _Tally:
    """Generate chunk after chunk, writing the transactions CSV and the labels JSON."""
    tally = _Tally()
    last_id = settings.first_id - 1
    csv_path = out / (formats.TRANSACTIONS_FILE + PARTIAL)
    labels_path = out / (formats.LABELS_FILE + PARTIAL)
    truth_path = out / (MECHANISMS_FILE + PARTIAL)
    with (open(csv_path, "wb") as csv_file, open(labels_path, "w+b") as labels_file,
          open(truth_path, "wb") as truth_file):
        writer = TransactionWriter(population, csv_file, labels_file)
        truth = MechanismWriter(truth_file)
        for index, (days, rows) in enumerate(chunks):
            chunk = _chunk(seed, index, population, settings, timeline, plan, rows, days)
            chunk_rng = np.random.default_rng([seed, 3, index])
            ids = last_id + np.cumsum(chunk_rng.integers(1, 4, len(chunk)))
            last_id = int(ids[-1]) if len(ids) else last_id
            is_labeled = chunk_rng.random(len(chunk)) < settings.label_share
            writer.write(chunk, ids, is_labeled)
            truth.write(ids, chunk.mechanism)
            tally.rows += len(chunk)
            tally.frauds += int(chunk.fraud.sum())
            tally.labeled += int(is_labeled.sum())
            tally.labeled_frauds += int((chunk.fraud & is_labeled).sum())
            if progress is not None:
                progress(tally.rows, total)
        writer.close()
    return tally


def generate(
    out_dir: Path,
    *,
    clients: int,
    transactions: int,
    seed: int,
    start: str = "2010-01-01",
    end: str = "2019-10-31",
    progress: Progress | None = None,
    **params: object,
) -> GenerationSummary:
    """Write the five files of DATA.md for `clients` clients and `transactions` rows.

    Args:
        out_dir: folder to write into (created if missing; existing files are replaced).
        clients, transactions, seed: size of the population and of the transaction file.
        start, end: first and last day (inclusive) of the transactions, `YYYY-MM-DD`.
        progress: called as `progress(rows_written, transactions)` after every chunk.
        **params: overrides of `GeneratorParams` fields, e.g. `fraud_multiplier=5`.

    Returns:
        A `GenerationSummary` (row, fraud and label counts, file sizes, seconds).
    """
    began = time.perf_counter()
    settings = GeneratorParams().with_overrides(**params)
    _validate(clients, transactions, settings)
    timeline = Timeline.from_dates(start, end)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 1])
    population = build_population(rng, clients, settings, timeline.last_year)
    plan = plan_fraud(rng, population, settings, timeline, transactions)
    write_reference_csvs(population, out, rng, suffix=PARTIAL)
    write_mcc_json(out / (formats.MCC_FILE + PARTIAL))
    bounds = timeline.chunk_bounds(transactions, settings.chunk_rows)
    spans = np.array([b - a for a, b in bounds], dtype=float)
    # Injected fraud rows count towards the total, so the file has exactly `transactions` rows.
    counts = rng.multinomial(transactions - len(plan.rows), spans / spans.sum())
    tally = _stream_transactions(out, seed, population, settings, timeline, plan,
                                 list(zip(bounds, counts.tolist(), strict=True)), progress,
                                 transactions)
    for name in (*formats.ALL_FILES, MECHANISMS_FILE):
        os.replace(out / (name + PARTIAL), out / name)
    return GenerationSummary(
        out_dir=out, rows=tally.rows, frauds=tally.frauds, labeled=tally.labeled,
        labeled_frauds=tally.labeled_frauds, clients=clients, cards=len(population.card_ids),
        merchants=len(population.merchant_ids),
        files={name: (out / name).stat().st_size for name in formats.ALL_FILES},
        seconds=time.perf_counter() - began,
    )
