"""Engine adapters: the same SQL models run on DuckDB (embedded) or Spark (clusters).

`get_engine()` returns the engine named by `LAKEHOUSE_ENGINE` (or the `--engine` option); every
engine satisfies `lakehouse.engines.base.Engine`: `run_sql(sql, inputs) -> pa.Table`.
Engines load lazily, so importing this package never starts a JVM.
"""

from __future__ import annotations

import importlib

from lakehouse.config import get_settings
from lakehouse.engines.base import Engine, EngineError, TableLike

__all__ = ["ENGINE_NAMES", "Engine", "EngineError", "TableLike", "get_engine"]

# name -> (module, factory), imported on first use so a JVM starts only for Spark.
_FACTORIES: dict[str, tuple[str, str]] = {
    "duckdb": ("lakehouse.engines.duckdb", "DuckDBEngine"),
    "spark": ("lakehouse.engines.spark", "SparkEngine"),
}
ENGINE_NAMES = tuple(_FACTORIES)


def get_engine(name: str | None = None) -> Engine:
    """The engine called `name` (`duckdb` or `spark`); None means `Settings.engine`.

    Args:
        name: the engine's name, or None.

    Returns:
        The engine, configured from the settings.

    Raises:
        ValueError: unknown name, or the engine's module is not installed.
    """
    if name is None:
        name = get_settings().engine
    if name not in _FACTORIES:
        raise ValueError(f"unknown engine {name!r}: choose one of {', '.join(ENGINE_NAMES)}")
    module_name, class_name = _FACTORIES[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:  # the adapter itself, not one of its libraries
            raise ValueError(
                f"engine {name!r} has no adapter in this installation ({module_name}); "
                "use LAKEHOUSE_ENGINE=duckdb"
            ) from exc
        raise ValueError(
            f"engine {name!r} is not available ({exc}); install its extra "
            f"(`pip install 'lakehouse[{name}]'`) or use LAKEHOUSE_ENGINE=duckdb"
        ) from exc
    factory = getattr(module, class_name)
    # Engines configured by Settings expose `from_settings`; plain classes are called bare.
    return factory.from_settings() if hasattr(factory, "from_settings") else factory()
