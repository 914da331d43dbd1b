"""DuckDB engine: runs the SQL models in-process over Arrow inputs (the embedded default).

The runner passes Delta tables as Arrow datasets; registering them in DuckDB is zero-copy, so
DuckDB streams the Parquet files of a Delta snapshot straight through the model's joins and
aggregates and hands back one Arrow table. Each engine opens one in-memory database (opening
one costs tens of milliseconds) and each call runs on its own cursor, whose registered inputs
vanish when it closes — models share nothing but their inputs, and a failed model leaves no
state behind. Memory and threads are capped from `Settings` so the full dataset fits the
machine (beyond the limit DuckDB spills to `LAKEHOUSE_DUCKDB_TEMP_DIRECTORY`, by default
`<data_dir>/tmp/duckdb`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from lakehouse.config import Settings, get_settings
from lakehouse.engines.base import EngineError, TableLike


class DuckDBEngine:
    """The `Engine` protocol on an in-process DuckDB connection per call."""

    name = "duckdb"

    def __init__(
        self,
        memory_limit: str | None = None,
        threads: int | None = None,
        temp_directory: Path | None = None,
    ) -> None:
        self.memory_limit = memory_limit
        self.threads = threads
        self.temp_directory = temp_directory
        self._database: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> DuckDBEngine:
        """An engine capped by the DuckDB memory and thread settings.

        `LAKEHOUSE_DUCKDB_MEMORY_LIMIT` and `LAKEHOUSE_DUCKDB_THREADS` cap it; it spills to
        `LAKEHOUSE_DUCKDB_TEMP_DIRECTORY`.

        Args:
            settings: the platform settings; None means `get_settings()`.

        Returns:
            The engine (no database is opened before its first call).
        """
        settings = settings or get_settings()
        return cls(
            memory_limit=settings.duckdb_memory_limit,
            threads=settings.duckdb_threads,
            temp_directory=settings.duckdb_temp_directory,
        )

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A fresh in-memory database with this engine's limits applied.

        Returns:
            An open connection (the caller closes it).

        Raises:
            EngineError: DuckDB rejected the limits (the message names the settings).
        """
        config: dict[str, str | int | bool] = {}
        if self.memory_limit:
            config["memory_limit"] = self.memory_limit
        if self.threads:
            config["threads"] = self.threads
        if self.temp_directory is not None:
            # DuckDB creates only the last folder of the path; spilling must not fail on it.
            self.temp_directory.mkdir(parents=True, exist_ok=True)
            config["temp_directory"] = str(self.temp_directory)
        try:
            return duckdb.connect(":memory:", config=config)
        except duckdb.Error as exc:
            raise EngineError(
                f"DuckDB rejected its settings {config}: {exc}. Check "
                "LAKEHOUSE_DUCKDB_MEMORY_LIMIT (e.g. '2GB'), LAKEHOUSE_DUCKDB_THREADS and "
                "LAKEHOUSE_DUCKDB_TEMP_DIRECTORY."
            ) from exc

    def run_sql(self, sql: str, inputs: Mapping[str, TableLike]) -> pa.Table:
        """Register every input under its name, run `sql`, return the result as Arrow.

        Args:
            sql: one SELECT over the inputs' names.
            inputs: relation name -> Arrow table, dataset or stream.

        Returns:
            The result as one Arrow table.

        Raises:
            EngineError: the SQL failed (syntax, missing column, type error...).
        """
        connection = self._cursor()
        try:
            for name, table in inputs.items():
                connection.register(name, table)
            # `sql()` builds a lazy relation; `to_arrow_table()` streams the result out
            # without the extra copy a DB-API cursor would make.
            return connection.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise EngineError(f"DuckDB failed: {exc}") from exc
        finally:
            connection.close()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A new connection to this engine's database (safe to use from any thread)."""
        with self._lock:
            if self._database is None:
                self._database = self.connect()
            return self._database.cursor()

    def close(self) -> None:
        """Release the database (and its memory); the next call opens a new one."""
        with self._lock:
            if self._database is not None:
                self._database.close()
                self._database = None


def connect(
    settings: Settings | None = None, *, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB database with the settings' memory cap, threads and spill folder.

    Every module that queries the lake with DuckDB outside the stage runner (training,
    monitoring, the online store's build, the scoring API, the UI) opens its connection here,
    so `LAKEHOUSE_DUCKDB_*` caps all of them, not only the pipeline. The caller closes it.

    Args:
        settings: the platform settings; None means `get_settings()`.
        threads: at most this many threads, when the caller knows its work is small.

    Returns:
        An open connection.

    Raises:
        EngineError: DuckDB rejected the settings (the message names them).
    """
    engine = DuckDBEngine.from_settings(settings)
    if threads is not None:
        engine.threads = min(threads, engine.threads or threads)
    return engine.connect()


@contextmanager
def session(
    inputs: Mapping[str, TableLike] | None = None,
    settings: Settings | None = None,
    *,
    threads: int | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A `connect()` connection with `inputs` registered under their names, closed on exit.

    Args:
        inputs: relation name -> Arrow table, lazy dataset (a Delta snapshot) or batch stream.
        settings: the platform settings; None means `get_settings()`.
        threads: at most this many threads.

    Returns:
        A context manager yielding the connection.
    """
    connection = connect(settings, threads=threads)
    try:
        for name, table in (inputs or {}).items():
            connection.register(name, table)
        yield connection
    finally:
        connection.close()
