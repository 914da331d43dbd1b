"""Freshness of the data the model learns from and scores with, measured after each pipeline run.

`lakehouse pipeline run/serve` calls `measure` once the stages are done and hands the result
to `PipelineMetrics.record_freshness`, which exports it for Prometheus (alert rules in
prometheus/alerts.yml, panels on the Model health dashboard):

- the time of the newest transaction in `gold/ml_features` (what the next model trains on);
- the lag of the lake behind the source system: the newest `situation_date` in the source
  DB minus the newest one in bronze (0 when the lake has every batch);
- the share of recent transactions whose label is known: among the transactions of the last
  `RECENT_DAYS` days before the newest one in silver, those with a label known by then.
  Labels arrive days after the transaction, so a share falling well below its usual level
  means labels stopped flowing, and the model's measured quality goes stale with them.
Newest times come from the Delta log's file statistics (no data read); the label share reads
only the rows of the last `RECENT_DAYS` days (files and row groups outside them are skipped by
their statistics), so measuring after a daily run costs what the recent days cost, not the
history. A missing table gives None.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.engines.duckdb import session
from lakehouse.pipeline import source_extract
from lakehouse.pipeline.runner import bronze_batch_counts
from lakehouse.sources.schema import source_engine

logger = logging.getLogger("lakehouse.monitoring.freshness")

RECENT_DAYS = 30


@dataclass(frozen=True)
class Freshness:
    """The freshness figures of one pipeline run (None: not measurable yet)."""

    gold_newest_transaction: datetime | None
    source_watermark_lag_seconds: float | None
    recent_label_known_ratio: float | None


def _query(settings: Settings, table: str, sql: str) -> tuple | None:
    """One row of `sql` over the catalog table registered under its own name."""
    uri = catalog.location(table, settings)
    if not storage.exists(uri, settings):
        return None
    with session({table: storage.read_dataset(uri, settings)}, settings) as connection:
        return connection.execute(sql).fetchone()


def _newest(settings: Settings, table: str) -> datetime | None:
    """MAX(ts) of a catalog table: from the log's statistics, else by a scan."""
    newest = storage.column_max(catalog.location(table, settings), "ts", settings)
    if newest is not None:
        return newest
    row = _query(settings, table, f"SELECT MAX(ts) FROM {table}")
    return row[0] if row else None


def gold_newest_transaction(settings: Settings) -> datetime | None:
    """Time of the newest transaction in `gold/ml_features`.

    Args:
        settings: where the lake is.

    Returns:
        The time, or None before gold exists.
    """
    return _newest(settings, "ml_features")


def recent_label_known_ratio(settings: Settings) -> float | None:
    """Share of the last `RECENT_DAYS` days of silver transactions whose label is known.

    Args:
        settings: where the lake is.

    Returns:
        The share in [0, 1], or None before silver exists.
    """
    uri = catalog.location("silver_transactions", settings)
    newest = _newest(settings, "silver_transactions")
    if newest is None:
        return None
    dataset = storage.read_dataset(uri, settings)
    # A lake written before silver carried `label_known_at` counts any label as known.
    has_known_at = "label_known_at" in dataset.schema.names
    recent = dataset.to_table(
        columns=["label", *(["label_known_at"] if has_known_at else [])],
        filter=pc.field("ts") > pc.scalar(newest - timedelta(days=RECENT_DAYS)))
    if recent.num_rows == 0:
        return None
    known = pc.is_valid(recent.column("label"))
    if has_known_at:
        at = recent.column("label_known_at")
        known = pc.and_(known, pc.fill_null(pc.less_equal(at, pa.scalar(newest, at.type)), False))
    return pc.sum(pc.cast(known, "int64")).as_py() / recent.num_rows


def source_watermark_lag_seconds(settings: Settings) -> float | None:
    """Newest source `situation_date` minus the newest in bronze, in seconds (>= 0).

    Args:
        settings: the source DB and the lake.

    Returns:
        The lag; 0.0 when the source holds no batch, None when bronze holds none or the
        source DB cannot be read.
    """
    bronze = bronze_batch_counts(catalog.location("bronze_transactions", settings), settings)
    lake = max(bronze) if bronze else None
    engine = source_engine(settings.source_db_url or "")
    try:
        since = None if lake is None else date.fromisoformat(lake)
        source = source_extract.source_batch_counts(engine, since)
    except Exception as exc:  # the source being down is its own alert; freshness is unknown
        logger.warning("source watermark not measured: %s", exc)
        return None
    finally:
        engine.dispose()
    if not source:
        return 0.0
    newest = date.fromisoformat(max(source))
    behind = newest - (date.fromisoformat(lake) if lake else newest)
    return float(max(behind.days, 0) * 86400) if lake else None


def measure(settings: Settings) -> Freshness:
    """Every freshness figure, for `PipelineMetrics.record_freshness`.

    Args:
        settings: the source DB and the lake.

    Returns:
        The figures (None where a table does not exist yet).
    """
    return Freshness(
        gold_newest_transaction=gold_newest_transaction(settings),
        source_watermark_lag_seconds=source_watermark_lag_seconds(settings),
        recent_label_known_ratio=recent_label_known_ratio(settings),
    )
