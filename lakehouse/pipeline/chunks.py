"""Streaming a table built in pieces into one Delta commit.

Silver transactions (by chunk of days) and `ml_features` (by bucket of clients) are too large
to build as one Arrow table at full scale; each piece is checked as it is computed, and
`write_chunks` streams them into a single `storage.write`, so a failed check leaves the
previous version of the table readable.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from lakehouse import storage
from lakehouse.config import Settings


def write_chunks(
    uri: str, chunks: Iterator[pa.Table], settings: Settings, **write_args: Any
) -> int:
    """Stream checked tables into one Delta commit (`storage.write`).

    A failed check raised inside the stream is re-raised as itself, not as delta-rs' wrapper.
    Each table is let go once its batches are handed over, so memory holds about one piece.

    Args:
        uri: the table to write.
        chunks: the tables to write, all of the first one's schema; at least one.
        settings: where the lake is.
        **write_args: passed on to `storage.write` (mode, predicate, metadata).

    Returns:
        The Delta version committed.
    """
    first = next(chunks)
    schema = first.schema
    failures: list[BaseException] = []
    reader = pa.RecordBatchReader.from_batches(
        schema, _chain(schema, _pieces(first, chunks), failures)
    )
    del first
    try:
        return storage.write(uri, reader, settings=settings, **write_args)
    except Exception:
        if failures:
            raise failures[0] from None
        raise


def _pieces(first: pa.Table, rest: Iterator[pa.Table]) -> Iterator[pa.Table]:
    yield first
    del first  # not kept alive while the rest is computed
    yield from rest


def _chain(
    schema: pa.Schema, pieces: Iterator[pa.Table], failures: list[BaseException]
) -> Iterator[pa.RecordBatch]:
    # Each chunk's schema follows the first one (DuckDB may infer nullability differently).
    # An exception raised here reaches Python again only wrapped by delta-rs, so keep it.
    try:
        for piece in pieces:
            batches = piece.cast(schema).to_batches()
            del piece  # the batches are all that is left of it
            while batches:
                yield batches.pop(0)
    except Exception as exc:
        failures.append(exc)
        raise
