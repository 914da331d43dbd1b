"""The model-monitoring store: feature vectors and shadow scores logged by the scoring API.

A relational database at `LAKEHOUSE_MONITOR_DB_URL` (default: the SQLite file
`$LAKEHOUSE_DATA_DIR/monitoring.db`; in containers the analytics PostgreSQL, so every api_ml
replica and the pipeline share it). The scoring API's monitor worker writes, never a request:

- `feature_samples`: for a deterministic sample of scored transactions
  (`LAKEHOUSE_SKEW_SAMPLE_RATE`, by a hash of `transaction_id` so replicas agree), the model
  inputs computed at scoring time, keyed by `transaction_id` — read by the skew job
  (`lakehouse.monitoring.skew`) once the pipeline has built their gold rows;
- `shadow_scores`: champion and challenger scores of the same transaction
  (`lakehouse.monitoring.shadow`).
Tables are created on first use.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lakehouse.config import Settings
from lakehouse.database import create_engine_for

MONITOR_DB_SETTING = "LAKEHOUSE_MONITOR_DB_URL"
# Knuth's multiplicative hash: spreads consecutive ids evenly over [0, 2^32).
_HASH, _SPACE = 2654435761, 2**32

metadata = sa.MetaData()
feature_samples = sa.Table(
    "feature_samples",
    metadata,
    sa.Column("transaction_id", sa.BigInteger, nullable=False),
    sa.Column("flavour", sa.String(16), nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("features", sa.Text, nullable=False),  # JSON {column: number or null}
)
shadow_scores = sa.Table(
    "shadow_scores",
    metadata,
    sa.Column("transaction_id", sa.BigInteger, nullable=True),
    sa.Column("flavour", sa.String(16), nullable=False),
    sa.Column("champion_version", sa.String(32), nullable=False),
    sa.Column("challenger_version", sa.String(32), nullable=False),
    sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("champion_score", sa.Float, nullable=False),
    sa.Column("challenger_score", sa.Float, nullable=False),
    sa.Column("champion_threshold", sa.Float, nullable=False),
    sa.Column("challenger_threshold", sa.Float, nullable=False),
    # What the decision policy needs (lakehouse.ml.policy): the amount, and each model's
    # decline and review thresholds when it scored (NULL in rows logged before they were).
    sa.Column("amount", sa.Float, nullable=True),
    *(
        sa.Column(f"{who}_{threshold}", sa.Float, nullable=True)
        for who in ("champion", "challenger")
        for threshold in ("decline_probability", "review_expected_loss")
    ),
)


def monitor_engine(settings: Settings) -> Engine:
    """An engine on the monitoring store, its tables created (or completed) if needed.

    Args:
        settings: `LAKEHOUSE_MONITOR_DB_URL`.

    Returns:
        The engine (the caller disposes of it).
    """
    engine = create_engine_for(settings.monitor_db_url or "", MONITOR_DB_SETTING)
    metadata.create_all(engine)
    _add_missing_columns(engine, shadow_scores)
    return engine


def _add_missing_columns(engine: Engine, table: sa.Table) -> None:
    """Add the nullable columns a store created by an older version lacks (ALTER TABLE)."""
    present = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
    missing = [c for c in table.columns if c.name not in present and c.nullable]
    if not missing:
        return
    for column in missing:
        kind = column.type.compile(dialect=engine.dialect)
        try:
            with engine.begin() as connection:
                connection.execute(
                    sa.text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")
                )
        except sa.exc.DBAPIError:  # another replica added it meanwhile
            names = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
            if column.name not in names:
                raise


def sampled(transaction_id: int, rate: float) -> bool:
    """Whether this transaction belongs to the logged sample (the same answer everywhere).

    Args:
        transaction_id: the transaction.
        rate: the share of transactions sampled, in [0, 1].

    Returns:
        True when its id hash falls under `rate`.
    """
    return (transaction_id * _HASH) % _SPACE < rate * _SPACE


def sampled_many(transaction_ids: np.ndarray, rate: float) -> np.ndarray:
    """`sampled` of many non-negative ids at once.

    Args:
        transaction_ids: the transactions (non-negative integers).
        rate: the share of transactions sampled, in [0, 1].

    Returns:
        One flag per id, as `sampled` answers: the product wraps modulo 2**64 in uint64,
        which leaves it unchanged modulo `_SPACE` (2**32).
    """
    hashed = (np.asarray(transaction_ids, dtype=np.uint64) * np.uint64(_HASH)) % np.uint64(_SPACE)
    return hashed < rate * _SPACE


def write_samples(engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    """Append feature vectors: dicts with the `feature_samples` columns, features as a dict.

    Args:
        engine: the monitoring store (`monitor_engine`).
        rows: the samples (nothing is written for none).
    """
    if rows:
        with engine.begin() as connection:
            connection.execute(
                feature_samples.insert(),
                [{**row, "features": json.dumps(row["features"])} for row in rows],
            )


def read_samples(engine: Engine, since: datetime) -> pd.DataFrame:
    """Feature vectors logged since `since`, the latest per transaction and flavour.

    Args:
        engine: the monitoring store (`monitor_engine`).
        since: the oldest scoring time read.

    Returns:
        One row per (transaction_id, flavour): model_version, scored_at and `features` (dict).
    """
    query = sa.select(feature_samples).where(feature_samples.c.scored_at >= since)
    with engine.connect() as connection:
        frame = pd.read_sql(query.order_by(feature_samples.c.scored_at), connection)
    frame = frame.drop_duplicates(["transaction_id", "flavour"], keep="last")
    frame["features"] = frame["features"].map(json.loads)
    return frame.reset_index(drop=True)


def write_shadow(engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    """Append champion/challenger score pairs (dicts with the `shadow_scores` columns).

    Args:
        engine: the monitoring store (`monitor_engine`).
        rows: the score pairs (nothing is written for none).
    """
    if rows:
        with engine.begin() as connection:
            connection.execute(shadow_scores.insert(), list(rows))


def read_shadow(engine: Engine, flavour: str, challenger_version: str) -> pd.DataFrame:
    """Every score pair logged for this challenger version, the latest per transaction.

    Args:
        engine: the monitoring store (`monitor_engine`).
        flavour: "full" or "basic".
        challenger_version: the registered version shadowed.

    Returns:
        One row per transaction (pairs without a transaction id are left out).
    """
    query = (
        sa.select(shadow_scores)
        .where(shadow_scores.c.flavour == flavour)
        .where(shadow_scores.c.challenger_version == challenger_version)
        .order_by(shadow_scores.c.scored_at)
    )
    with engine.connect() as connection:
        frame = pd.read_sql(query, connection)
    keyed = frame[frame["transaction_id"].notna()]
    return keyed.drop_duplicates("transaction_id", keep="last").reset_index(drop=True)


def prune_samples(engine: Engine, before: datetime) -> int:
    """Delete the feature samples logged before `before`.

    Args:
        engine: the monitoring store (`monitor_engine`).
        before: samples scored earlier are removed.

    Returns:
        The rows removed.
    """
    with engine.begin() as connection:
        removed = connection.execute(
            feature_samples.delete().where(feature_samples.c.scored_at < before)
        ).rowcount
    return int(removed)
