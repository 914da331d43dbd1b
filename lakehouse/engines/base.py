"""The engine contract: what the pipeline needs from DuckDB, Spark or any other SQL engine.

Every silver and gold table is one SQL model (`lakehouse.pipeline.models`). The stage runner
reads the model's inputs from Delta as Arrow (`TableLike`), hands them to an `Engine` under
their catalog names, and gets the result back as one Arrow table, which it checks and writes.
An engine therefore only has to do one thing — run a SELECT over named Arrow inputs — which is
why the same definitions run in-process on DuckDB and on a Spark cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.dataset as pads

from lakehouse.config import Settings

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
        """Run `sql`, in which each key of `inputs` is a relation name; return the result.

        Args:
            sql: one SELECT in the models' dialect (DuckDB's; `translate_sql` adapts it).
            inputs: relation name -> Arrow table, dataset or stream.

        Returns:
            The result as one Arrow table.

        Raises:
            EngineError: the SQL failed on this engine.
        """
        ...


@dataclass(frozen=True)
class TableScan:
    """A Delta table an engine reads by itself: where it is, which rows, which columns.

    `where` is a SQL predicate both engines understand (e.g. `situation_date IN ('2019-01-02')`).
    """

    uri: str
    where: str | None = None
    columns: tuple[str, ...] | None = None


@runtime_checkable
class TableBuilder(Protocol):
    """An engine that reads and writes the lake itself (Spark on a cluster).

    The stage runner hands it table locations instead of Arrow data, so no table passes
    through the runner's process: the engine's workers scan the inputs and write the output
    files, and the runner's process only commits their list to the Delta log.
    """

    def build_table(
        self,
        sql: str,
        inputs: Mapping[str, TableScan | pa.Table],
        uri: str,
        *,
        check: Callable[[Any], None],
        metadata: Mapping[str, Any],
        settings: Settings,
        keep: str | None = None,
    ) -> tuple[int, int]:
        """Replace the table at `uri` with `sql` over `inputs`; (rows written, version).

        `check(result)` gets the written rows (in the engine's own form, runnable by its
        `run_sql`) before the commit and raises to abandon it. With `keep`, the rows of the
        current table matching that predicate are carried over next to the new ones.

        Args:
            sql: the model's SQL, in DuckDB's dialect.
            inputs: table name in the SQL -> a lake table's scan or an Arrow table.
            uri: the output table's location.
            check: the model's checks, raising to abandon the commit.
            metadata: written into the Delta commit (lineage).
            settings: where the lake is and how to reach it.
            keep: a predicate on the current table's rows to carry over, or None to replace all.

        Returns:
            (rows written, the Delta version committed).
        """
        ...


def translate_sql(sql: str, dialect: str) -> str:
    """A model's SQL (written in DuckDB's dialect) rewritten for `dialect`, e.g. "spark".

    The models stick to the SQL both engines share, so this is mostly the identity; it exists
    so an engine whose dialect differs in a detail (a function name, a cast spelling) fixes it
    in one tested place instead of keeping a second copy of the model.

    Args:
        sql: the model's SQL.
        dialect: a sqlglot dialect name.

    Returns:
        The SQL in that dialect (statements joined by ";").
    """
    if dialect == "duckdb":
        return sql
    import sqlglot

    return ";\n".join(sqlglot.transpile(sql, read="duckdb", write=dialect, pretty=True))
