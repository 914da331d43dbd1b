"""Writing `ml_features` in full: the gold feature table, built piece by piece of time.

The one-shot model would hold the whole table in memory (about 6 GB at the full 13.3 M
rows); `feature_chunks` gives the same rows in consecutive time ranges of about
`ML_FEATURES_CHUNK_ROWS` rows each (tested), so only one piece is in memory at a time. Each
piece is checked, and all are streamed into one Delta commit by `chunks.write_chunks`: a
failed check leaves the previous version. The next piece is computed in a worker thread while
the current one is checked and written (DuckDB and delta-rs' Parquet writer both run outside
the GIL), so the two cores overlap the SQL and the write; two pieces are alive at a time.
Because the pieces follow time, the table's files are clustered by date, which keeps the
day-by-day merge (`features_incremental`) to the files of the days it touches.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from lakehouse.config import Settings
from lakehouse.engines import Engine
from lakehouse.features.batch_sql import day_counts_sql, feature_chunks, time_ranges
from lakehouse.pipeline.checks import assert_checks
from lakehouse.pipeline.chunks import write_chunks
from lakehouse.pipeline.models import ML_FEATURES

logger = logging.getLogger("lakehouse.pipeline.features_stage")

# Rows of silver per time range: bounds the Arrow piece in memory (about 0.8 GB per million
# rows of ~85 columns) while the 30-day context each piece re-reads stays a few percent.
ML_FEATURES_CHUNK_ROWS = 1_000_000


def write_ml_features(
    uri: str,
    engine: Engine,
    silver: ds.Dataset,
    lineage: Mapping[str, Any],
    settings: Settings,
) -> tuple[int, int]:
    """Build, check and commit `ml_features` from all of `silver`; (rows_out, Delta version).

    Args:
        uri: the table's location.
        engine: the engine running the feature SQL.
        silver: `silver_transactions` (its latest snapshot).
        lineage: what the table is built from (recorded in the commit).
        settings: the run's settings (storage options).

    Returns:
        (rows written, the Delta version committed).
    """
    days = engine.run_sql(day_counts_sql(), {"silver_transactions": silver})
    ranges = time_ranges(
        zip(days.column("day_n").to_pylist(), days.column("n").to_pylist(), strict=True),
        ML_FEATURES_CHUNK_ROWS,
    ) or [(0, None)]  # no rows: one piece gives the empty table with its columns
    rows_out = 0

    def checked_chunks() -> Iterator[pa.Table]:
        nonlocal rows_out
        for piece in _computed_ahead(feature_chunks(engine, silver, ranges)):
            assert_checks(ML_FEATURES, piece)
            rows_out += piece.num_rows
            yield piece
            del piece  # not kept alive while the next range is computed

    written = write_chunks(
        uri,
        checked_chunks(),
        settings,
        metadata={**lineage, "chunks": len(ranges), "incremental": False},
    )
    logger.info(
        "table written",
        extra={"table": "ml_features", "rows": rows_out, "version": written, "chunks": len(ranges)},
    )
    return rows_out, written


def _computed_ahead(pieces: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """`pieces` in order, each next one computed in a worker thread while the caller uses
    the current one (at most two alive)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ml_features") as pool:
        pending = pool.submit(next, pieces, None)
        while (piece := pending.result()) is not None:
            pending = pool.submit(next, pieces, None)
            yield piece
            del piece
