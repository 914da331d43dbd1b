"""Declared data checks: every silver and gold table proves its keys, values and invariants.

Each `Model` declares `Check`s (docs/design.md rule 6). After a stage computes a table, the runner
calls `assert_checks(model, table)`; a failure stops the stage before anything is written, so
the previous version of the table stays in place. Tests call `run_checks` to see every
failure. The checks are compiled into ONE SQL query — a single scan counts the offending rows
of every row-level check, and each unique check adds a GROUP BY — run by an engine (DuckDB
in-process by default: the table is already in memory as Arrow); then a few offending values
are fetched for each failing check so the message shows what is wrong, not only that
something is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from lakehouse.config import get_settings
from lakehouse.engines.base import Engine
from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.pipeline.model import Check, Model

RELATION = "model_output"
EXAMPLES = 5
_ENGINES: dict[tuple[object, ...], Engine] = {}


@dataclass(frozen=True)
class CheckFailure:
    """A check that failed: how many rows offend and a few examples of them."""

    model: str
    check: Check
    failing: int
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def message(self) -> str:
        """One line for the error: the model, what the check expects, and what was found."""
        what = self.check.describe()
        if self.check.kind == "row_count_min":
            return f"{self.model}: expected {what}, found {self.failing}"
        shown = "; ".join(_format_example(row) for row in self.examples)
        return f"{self.model}: {self.failing} row(s) violate {what}" + (
            f" — e.g. {shown}" if shown else ""
        )


class DataCheckError(Exception):
    """A model's output failed one or more declared checks; the message lists every one."""

    def __init__(self, model: str, failures: Sequence[CheckFailure]) -> None:
        self.model = model
        self.failures = list(failures)
        lines = "\n".join(f"  - {failure.message}" for failure in self.failures)
        super().__init__(
            f"{len(self.failures)} data check(s) failed on {model}; the table was not "
            f"written. Fix the source data or the model's SQL:\n{lines}"
        )


def run_checks(model: Model, table: pa.Table, engine: Engine | None = None) -> list[CheckFailure]:
    """Evaluate every check of `model` on `table`; return the failures (empty when clean).

    All checks are counted in one scan; examples are fetched only for the checks that fail.

    Args:
        model: the model whose declared checks run.
        table: its output (a Spark frame when `engine` is Spark's).
        engine: the engine to run the checks with (default: a cached DuckDB engine).

    Returns:
        One `CheckFailure` per failed check, with the failing count and a few example rows.
    """
    if not model.checks:
        return []
    engine = engine or _default_engine()
    inputs = {RELATION: table}
    counts = engine.run_sql(_counts_sql(model.checks), inputs).to_pylist()[0]
    failures = []
    for i, check in enumerate(model.checks):
        found = int(counts[f"c{i}"] or 0)
        if check.kind == "row_count_min":
            if found < check.arg:
                failures.append(CheckFailure(model.name, check, found))
        elif found:
            examples = engine.run_sql(_examples_sql(check), inputs).to_pylist()
            failures.append(CheckFailure(model.name, check, found, examples))
    return failures


def assert_checks(model: Model, table: pa.Table, engine: Engine | None = None) -> None:
    """Raise `DataCheckError` listing every failed check of `model` on `table`.

    Args:
        model: the model whose declared checks run.
        table: its output.
        engine: the engine to run the checks with (default: a cached DuckDB engine).

    Raises:
        DataCheckError: at least one check failed.
    """
    failures = run_checks(model, table, engine)
    if failures:
        raise DataCheckError(model.name, failures)


def _default_engine() -> Engine:
    """One DuckDB engine per configuration, reused: checks run after every stage."""
    settings = get_settings()
    key = (settings.duckdb_memory_limit, settings.duckdb_threads, str(settings.data_dir))
    if key not in _ENGINES:
        _ENGINES[key] = DuckDBEngine.from_settings()
    return _ENGINES[key]


def _key_columns(check: Check) -> list[str]:
    return [name.strip() for name in (check.column or "").split(",") if name.strip()]


def _literal(value: Any) -> str:
    """A SQL literal for an accepted value (strings quoted, quotes doubled)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _violation_predicate(check: Check) -> str:
    """The WHERE clause selecting offending rows (row-level kinds only)."""
    if check.kind == "not_null":
        return f"{check.column} IS NULL"
    if check.kind == "accepted_values":
        values = ", ".join(_literal(value) for value in check.arg)
        return f"{check.column} IS NOT NULL AND {check.column} NOT IN ({values})"
    # NULL means "unknown", which passes, as in dbt's expression_is_true.
    return f"NOT ({check.arg})"


def _counts_sql(checks: Sequence[Check]) -> str:
    """One query, column `c<i>` per check: offending rows (for row_count_min: all rows).

    Row-level checks share a single scan of the table; each unique check adds a GROUP BY.
    """
    row_level = ["COUNT(*) AS n_rows"]
    joins = []
    for i, check in enumerate(checks):
        if check.kind == "row_count_min":
            row_level.append(f"COUNT(*) AS c{i}")
        elif check.kind == "unique":
            keys = ", ".join(_key_columns(check))
            joins.append(
                f"CROSS JOIN (SELECT COALESCE(SUM(n), 0) AS c{i} FROM (SELECT COUNT(*) AS n "
                f"FROM {RELATION} GROUP BY {keys} HAVING COUNT(*) > 1) AS copies_{i}) AS u{i}"
            )
        else:
            row_level.append(f"COUNT(CASE WHEN {_violation_predicate(check)} THEN 1 END) AS c{i}")
    return " ".join(
        [f"SELECT * FROM (SELECT {', '.join(row_level)} FROM {RELATION}) AS row_level", *joins]
    )


def _examples_sql(check: Check) -> str:
    """A few offending rows, restricted to the columns the check is about."""
    if check.kind == "unique":
        keys = ", ".join(_key_columns(check))
        return (
            f"SELECT {keys}, COUNT(*) AS copies FROM {RELATION} GROUP BY {keys} "
            f"HAVING COUNT(*) > 1 ORDER BY copies DESC LIMIT {EXAMPLES}"
        )
    columns = _expression_columns(check) if check.kind == "expression" else [check.column or ""]
    return (
        f"SELECT DISTINCT {', '.join(columns)} FROM {RELATION} "
        f"WHERE {_violation_predicate(check)} LIMIT {EXAMPLES}"
    )


def _expression_columns(check: Check) -> list[str]:
    """The columns an expression check reads, so examples show exactly those values."""
    import sqlglot  # only the examples of a failed check parse SQL
    from sqlglot import exp

    names = []
    for column in sqlglot.parse_one(str(check.arg), read="duckdb").find_all(exp.Column):
        if column.name not in names:
            names.append(column.name)
    return names or ["*"]


def _format_example(row: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in row.items())
