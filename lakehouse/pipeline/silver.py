"""The silver stage: typed cards and users, then `silver_transactions` batch by batch.

Silver cards and users are rebuilt whole by the stage runner's `build_model` when their bronze
input moved. `silver_transactions` is incremental: the bronze batches (situation dates) that
are new or grew since silver's last commit are recomputed and replace only their own rows,
with the ids already in silver passed as `known_transaction_ids` so cross-batch duplicates
drop. On DuckDB the changed rows run through the SQL in chunks of transaction-id buckets
(bounded memory at full scale); a `TableBuilder` engine (Spark) reads and writes the lake
itself. The batches each commit covers are recorded in its metadata, so a rerun converges.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.engines import Engine
from lakehouse.engines.base import TableBuilder, TableScan
from lakehouse.pipeline.build import KNOWN_IDS, NO_KNOWN_IDS
from lakehouse.pipeline.changes import id_filter
from lakehouse.pipeline.checks import assert_checks
from lakehouse.pipeline.chunks import write_chunks
from lakehouse.pipeline.model import Model
from lakehouse.pipeline.models import MODELS, model_params, run_model
from lakehouse.pipeline.runner import (
    StageResult,
    bronze_batch_counts,
    build_model,
    dates_predicate,
    input_versions,
    pause_point,
    read_inputs,
    sql_hash,
)

logger = logging.getLogger("lakehouse.pipeline.silver")

# Rows of bronze handed to one run of the silver_transactions SQL: bounds memory at full
# scale while keeping DuckDB's per-call overhead negligible.
SILVER_CHUNK_ROWS = 2_000_000
# The labels input of the silver SQL: each chunk reads the id range of its transactions.
_LABELS = "bronze_fraud_labels"


def run_silver(settings: Settings, engine: Engine) -> StageResult:
    """Silver: typed cards and users, then `silver_transactions` incrementally.

    Args:
        settings: where the lake is.
        engine: the SQL engine.

    Returns:
        The stage's result, with the seconds spent per table; "up_to_date" when nothing
        was written.
    """
    result = StageResult("silver")
    for name in ("silver_cards", "silver_users"):
        start = time.perf_counter()
        rows_in, rows_out, written = build_model(name, engine, settings)
        result.add_table(name, rows_in, rows_out, written, time.perf_counter() - start)
    start = time.perf_counter()
    _build_silver_transactions(settings, engine, result)
    result.table_seconds["silver_transactions"] = time.perf_counter() - start
    if not result.tables:
        result.status = "up_to_date"
    return result


def _build_silver_transactions(settings: Settings, engine: Engine, result: StageResult) -> None:
    """Replace the situation_dates of silver that changed in bronze, or rebuild it all.

    A full rebuild happens on the first run, when the SQL changed, or when a reference input
    (labels arrive late; cards, users, MCC codes) moved since silver was last built — silver
    must carry current labels. Otherwise only new or grown batches are recomputed, with the
    ids already in silver passed as `known_transaction_ids` so cross-batch duplicates drop.
    """
    model = MODELS["silver_transactions"]
    params = model_params(model, settings)
    uri = catalog.location("silver_transactions", settings)
    references = tuple(n for n in model.inputs if n not in ("bronze_transactions", KNOWN_IDS))
    lineage = {"inputs": input_versions(references, settings), "sql": sql_hash(model.sql, params)}
    previous = storage.last_metadata(uri, settings)
    bronze = bronze_batch_counts(catalog.location("bronze_transactions", settings), settings)
    if not bronze:
        raise RuntimeError("bronze_transactions is empty: load batches into the source DB "
                           "(`lakehouse sources load`) and run the bronze stage first")
    full = not storage.exists(uri, settings) or any(
        previous.get(k) != v for k, v in lineage.items()
    )
    done: dict[str, int] = {} if full else dict(previous.get("batches", {}))
    changed = sorted(day for day, count in bronze.items() if done.get(day) != count)
    if not changed:
        return
    batches = {**done, **{d: bronze[d] for d in changed}}
    metadata = {**lineage, "batches": batches, "full_rebuild": full}
    if isinstance(engine, TableBuilder):
        result.tables["silver_transactions"] = _silver_on_builder(
            engine, model, settings, changed, full, params, metadata)
    else:
        known, narrowed = (NO_KNOWN_IDS, {}) if full else _batch_inputs(changed, bronze, settings)
        source = storage.read_dataset(catalog.location("bronze_transactions", settings), settings)
        filters = _chunk_filters(source, changed, bronze)
        chunks = _silver_chunks(model, engine, settings, source, filters, known, params,
                                narrowed)
        result.tables["silver_transactions"] = write_chunks(
            uri, chunks, settings, mode="overwrite",
            predicate=None if full else dates_predicate(changed), metadata=metadata)
    rows_in = sum(bronze[d] for d in changed)
    result.rows_in += rows_in
    result.rows_out += storage.read_dataset(uri, settings).count_rows(
        filter=pc.field("situation_date").isin(pa.array(changed).cast(pa.date32())))
    logger.info("silver_transactions written",
                extra={"full_rebuild": full, "batches": len(changed), "rows_in": rows_in})


def _silver_on_builder(engine: TableBuilder, model: Model, settings: Settings, changed: list[str],
                       full: bool, params: dict[str, float | int],
                       metadata: dict[str, Any]) -> int:
    """`silver_transactions` built by an engine that reads and writes the lake itself.

    The same rule as the chunked path: the changed batches are recomputed, with the ids
    already in silver as `known_transaction_ids`; the other batches' rows are kept as they are.
    """
    uri = catalog.location("silver_transactions", settings)
    changed_days = dates_predicate(changed)
    others = None if full else f"NOT ({changed_days})"
    inputs: dict[str, TableScan | pa.Table] = {
        n: TableScan(catalog.location(n, settings)) for n in model.inputs if n != KNOWN_IDS}
    inputs["bronze_transactions"] = TableScan(catalog.location("bronze_transactions", settings),
                                              where=changed_days)
    inputs[KNOWN_IDS] = NO_KNOWN_IDS if full else TableScan(
        uri, where=others, columns=("transaction_id",))
    _, written = engine.build_table(
        model.render_sql(params), inputs, uri, keep=others, metadata=metadata,
        check=lambda frame: assert_checks(model, frame, engine), settings=settings)
    return written


def _batch_inputs(changed: list[str], counts: Mapping[str, int],
                  settings: Settings) -> tuple[pa.Table, dict[str, pa.Table]]:
    """`known_transaction_ids` for the changed batches, and the labels when narrowed.

    The SQL reads both by the batches' ids only (a NOT EXISTS and a LEFT JOIN on the id), so
    when the batches fit in one chunk — a daily run — silver's ids and the labels are read
    for those ids alone, not whole (13.3 M ids and 8.9 M labels at full scale, growing with
    the history); a larger catch-up reads silver's ids whole, as a set that size costs more.
    """
    days = pa.array(changed).cast(pa.date32())
    others = ~pc.field("situation_date").isin(days)
    silver = catalog.location("silver_transactions", settings)
    if sum(counts[d] for d in changed) > SILVER_CHUNK_ROWS:
        return storage.read_table(silver, settings, columns=["transaction_id"], filter=others), {}
    batches = storage.read_table(catalog.location("bronze_transactions", settings), settings,
                                 columns=["id"], filter=pc.field("situation_date").isin(days))
    in_batches = id_filter("transaction_id", pc.unique(batches.column("id").combine_chunks()))
    known = storage.read_table(silver, settings, columns=["transaction_id"],
                               filter=others & in_batches)
    labels = storage.read_table(catalog.location(_LABELS, settings), settings, filter=in_batches)
    return known, {_LABELS: labels}


def _chunk_filters(
    bronze: ds.Dataset, days: list[str], counts: Mapping[str, int]
) -> list[tuple[pc.Expression, pc.Expression | None]]:
    """Filters cutting the changed batches into chunks of about SILVER_CHUNK_ROWS rows.

    Chunks are ranges of the transaction id, cut at quantiles of the changed rows' ids, not
    dates: one batch may hold the whole history, and every copy of an id lands in the same
    range, so deduplication inside a chunk is deduplication inside the batch, and chunks never
    share an id. Bronze holds its rows in the source's id order, so a range reads only the
    row groups whose id statistics overlap it (buckets of the id's low bits read all of bronze
    once per chunk: 8 decodes of 13.3 M rows at full scale). A chunk's labels are the same
    range of `bronze_fraud_labels` (a label joins its transaction by id), so each chunk's
    join builds its hash table from its own labels, not from all of them.

    Args:
        bronze: `bronze_transactions`.
        days: the changed batches (situation dates).
        counts: rows per batch.

    Returns:
        (bronze_transactions filter, bronze_fraud_labels filter or None for all) per chunk.
    """
    rows = sum(counts[d] for d in days)
    chunks = 1 << max(0, math.ceil(math.log2(max(rows, 1) / SILVER_CHUNK_ROWS)))
    in_days = pc.field("situation_date").isin(pa.array(days).cast(pa.date32()))
    if chunks == 1:
        return [(in_days, None)]
    ids = np.sort(bronze.to_table(columns=["id"], filter=in_days).column("id").to_numpy(
        zero_copy_only=False))
    cuts = sorted({int(ids[len(ids) * k // chunks]) for k in range(1, chunks)})
    bounds = list(zip([None, *cuts], [*cuts, None], strict=True))

    def in_range(column: str, low: int | None, high: int | None) -> pc.Expression:
        field = pc.field(column)
        if low is None:
            return field < high
        return field >= low if high is None else (field >= low) & (field < high)

    return [(in_days & in_range("id", low, high), in_range("transaction_id", low, high))
            for low, high in bounds]


def _silver_chunks(model: Model, engine: Engine, settings: Settings, bronze: ds.Dataset,
                   filters: list[tuple[pc.Expression, pc.Expression | None]], known: pa.Table,
                   params: dict[str, float | int],
                   narrowed: Mapping[str, pa.Table]) -> Iterator[pa.Table]:
    """Run the silver SQL chunk by chunk over the changed bronze rows (`narrowed`: inputs
    already read for those rows only; with several chunks, each reads its id range of the
    labels)."""
    inputs: dict[str, Any] = read_inputs(
        tuple(n for n in model.inputs if n != "bronze_transactions" and n not in narrowed),
        settings)
    inputs.update(narrowed)
    labels = inputs[_LABELS]
    inputs[KNOWN_IDS] = known
    for index, (chunk_filter, labels_filter) in enumerate(filters):
        inputs["bronze_transactions"] = bronze.to_table(filter=chunk_filter)
        inputs[_LABELS] = labels if labels_filter is None else labels.to_table(
            filter=labels_filter)
        table = run_model(engine, model.name, inputs, params)
        assert_checks(model, table)
        # In time order, each file's row groups cover short spans of time: the gold stage's
        # time ranges of `ml_features` then read their days, not the whole table.
        table = table.sort_by("ts")
        yield table
        if index == 0:
            pause_point("silver")
