"""From the one model definition to Spark: the SQL text and the result schema.

The SQL models (`lakehouse.pipeline.models`, `lakehouse.ml.features`) are written once, in the
DuckDB dialect. The Spark engine needs two things from them, both derived here so no second
copy of a model ever exists:

- `to_spark_sql`: the text, transpiled by sqlglot (`epoch(ts)` → `UNIX_TIMESTAMP(ts)`, ...).
- `output_schema`: the Arrow schema the model has — obtained by running the model on DuckDB
  over *empty* inputs with the real inputs' schemas (milliseconds), so Spark's result is cast
  to exactly the column types DuckDB writes, and a Delta table never changes type because
  another engine wrote its next version.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import lru_cache

import pyarrow as pa

from lakehouse.engines.base import EngineError, translate_sql

_SCHEMAS: dict[tuple[str, tuple[tuple[str, str], ...]], pa.Schema] = {}
_LOCK = threading.Lock()


@lru_cache(maxsize=64)
def to_spark_sql(sql: str) -> str:
    """The model's DuckDB SQL in Spark SQL's dialect.

    Args:
        sql: the model's SQL.

    Returns:
        The same query for Spark.

    Raises:
        EngineError: sqlglot could not parse the model (a syntax error in the model itself).
    """
    import sqlglot.errors

    try:
        return translate_sql(sql, "spark")
    except sqlglot.errors.SqlglotError as exc:
        raise EngineError(f"cannot translate the model's SQL for Spark: {exc}") from exc


def output_schema(sql: str, inputs: Mapping[str, pa.Schema]) -> pa.Schema:
    """The schema DuckDB gives `sql` over inputs of these schemas (cached per model and input).

    Args:
        sql: the model's SQL.
        inputs: relation name -> the schema of that input.

    Returns:
        The result's Arrow schema.

    Raises:
        EngineError: the SQL does not run on DuckDB either.
    """
    key = (sql, tuple(sorted((name, schema.to_string()) for name, schema in inputs.items())))
    with _LOCK:
        cached = _SCHEMAS.get(key)
    if cached is not None:
        return cached
    import duckdb

    connection = duckdb.connect(":memory:")
    try:
        for name, schema in inputs.items():
            connection.register(name, schema.empty_table())
        schema = connection.sql(sql).to_arrow_table().schema
    except duckdb.Error as exc:
        raise EngineError(f"the model does not run on DuckDB's empty inputs: {exc}") from exc
    finally:
        connection.close()
    with _LOCK:
        _SCHEMAS[key] = schema
    return schema
