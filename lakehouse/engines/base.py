"""The engine contract: what the pipeline needs from DuckDB, Spark or any other SQL engine.

Every silver and gold table is one SQL model (`lakehouse.pipeline.models`). The stage runner
reads the model's inputs from Delta as Arrow (`TableLike`), hands them to an `Engine` under
their catalog names, and gets the result back as one Arrow table, which it checks and writes.
An engine therefore only has to do one thing — run a SELECT over named Arrow inputs — which is
why the same definitions run in-process on DuckDB and on a Spark cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.dataset as pads

# A table as the runner hands it over: in memory, a lazily scanned (Delta) dataset, or a
# one-shot stream of record batches (scanned at most once, so a model reads it once).
TableLike = pa.Table | pads.Dataset | pa.RecordBatchReader


class EngineError(RuntimeError):
    """A model's SQL failed on an engine; the message names the engine and the cause."""


@runtime_checkable
class Engine(Protocol):
    """Runs one engine-neutral SELECT over named Arrow inputs and returns an Arrow table."""

    name: str

    def run_sql(self, sql: str, inputs: Mapping[str, TableLike]) -> pa.Table:
        """Run `sql`, in which each key of `inputs` is a relation name; return the result."""
        ...


def translate_sql(sql: str, dialect: str) -> str:
    """A model's SQL (written in DuckDB's dialect) rewritten for `dialect`, e.g. "spark".

    The models stick to the SQL both engines share, so this is mostly the identity; it exists
    so an engine whose dialect differs in a detail (a function name, a cast spelling) fixes it
    in one tested place instead of keeping a second copy of the model.
    """
    if dialect == "duckdb":
        return sql
    import sqlglot

    return ";\n".join(sqlglot.transpile(sql, read="duckdb", write=dialect, pretty=True))
