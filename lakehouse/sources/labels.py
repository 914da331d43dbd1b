"""Fraud labels given by analysts, kept in the source system with the time each became known.

The reference file `train_fraud_labels.json` says which transactions were fraud, but not when
anybody knew. Labels from the case queue do know: when an analyst closes a case as confirmed
fraud or legitimate, the scoring API posts the outcome to sources_api (`POST /labels`), which
stores it in table `analyst_labels` of the source DB (`lakehouse.sources.schema`) with
`label_known_at`, the moment the decision was recorded. The pipeline's bronze stage reads
them from this table (as it reads transaction batches) into `bronze_fraud_labels`, and silver
prefers them to the reference file's, with their source.

Recording is idempotent: the same label again changes nothing (and keeps its first known-at
time); a different label for the same transaction (a lead overturning a decision) replaces it
and becomes known at its own time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lakehouse.sources.schema import analyst_labels

# Where a silver label comes from: the dataset's reference file, or an analyst's review.
LABEL_SOURCES = ("reference_file", "analyst_review")


@dataclass(frozen=True)
class LabelCounts:
    """What one `record_labels` call did."""

    received: int
    inserted: int
    updated: int
    unchanged: int


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def record_labels(engine: Engine, labels: Sequence[dict[str, Any]]) -> LabelCounts:
    """Insert new labels, replace changed ones, leave repeated ones alone (one transaction).

    Args:
        engine: the source DB.
        labels: dicts with `transaction_id`, `is_fraud`, `source`, `reviewer` and
            `label_known_at` (timezone-aware, or naive UTC).

    Returns:
        How many were received, inserted, updated and unchanged.
    """
    inserted = updated = unchanged = 0
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for label in labels:
            row = {**label, "label_known_at": _utc(label["label_known_at"]), "recorded_at": now}
            key = analyst_labels.c.transaction_id == label["transaction_id"]
            found = connection.execute(sa.select(analyst_labels.c.is_fraud).where(key)).first()
            if found is None:
                connection.execute(analyst_labels.insert().values(**row))
                inserted += 1
            elif bool(found.is_fraud) != bool(label["is_fraud"]):
                connection.execute(analyst_labels.update().where(key).values(**row))
                updated += 1
            else:
                unchanged += 1
    return LabelCounts(len(labels), inserted, updated, unchanged)


def read_labels(engine: Engine) -> list[dict[str, Any]]:
    """Every analyst label, oldest known first (the feeder reads them all: they are few).

    Args:
        engine: the source DB.

    Returns:
        One dictionary per label, `label_known_at` in UTC.
    """
    query = sa.select(analyst_labels).order_by(
        analyst_labels.c.label_known_at, analyst_labels.c.transaction_id
    )
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(query)]
    for row in rows:
        row["label_known_at"] = _utc(row["label_known_at"])
        row["recorded_at"] = _utc(row["recorded_at"])
    return rows
