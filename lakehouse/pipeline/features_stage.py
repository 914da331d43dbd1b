"""Writing `ml_features`: the gold feature table, built bucket by bucket of clients.

The one-shot model would hold the whole table in memory (about 6 GB at the full 13.3 M
rows); `feature_batches` gives the same rows in buckets of clients (tested), so only one
bucket is in memory at a time. Each bucket is checked, and all are streamed into one Delta
commit by `chunks.write_chunks`: a failed check leaves the previous version.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from lakehouse.config import Settings
from lakehouse.engines import Engine
from lakehouse.features.batch_sql import feature_batches
from lakehouse.pipeline.checks import assert_checks
from lakehouse.pipeline.chunks import write_chunks
from lakehouse.pipeline.models import ML_FEATURES

logger = logging.getLogger("lakehouse.pipeline.features_stage")

# Rows of silver per bucket of clients.
ML_FEATURES_BUCKET_ROWS = 2_000_000


def write_ml_features(
    uri: str,
    engine: Engine,
    silver: ds.Dataset,
    rows_in: int,
    params: Mapping[str, Any],
    lineage: Mapping[str, Any],
    settings: Settings,
) -> tuple[int, int]:
    """Build, check and commit `ml_features` from `silver`; (rows_out, Delta version).

    `rows_in` (the silver rows, already counted by the runner) sets the number of buckets.
    """
    buckets = max(1, math.ceil(rows_in / ML_FEATURES_BUCKET_ROWS))
    rows_out = 0

    def checked_buckets() -> Iterator[pa.Table]:
        nonlocal rows_out
        for piece in feature_batches(engine, silver, buckets=buckets):
            assert_checks(ML_FEATURES, piece)
            rows_out += piece.num_rows
            yield piece

    written = write_chunks(
        uri, checked_buckets(), settings, metadata={**lineage, "buckets": buckets}
    )
    logger.info(
        "table written",
        extra={"table": "ml_features", "rows": rows_out, "version": written, "buckets": buckets},
    )
    return rows_out, written
