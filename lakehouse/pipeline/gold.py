"""Gold stage: the five datamarts and `ml_features`, built in full once, then merged day by day.

The first run (or a run after a model's SQL changed) computes every gold table from all of
silver. Every later run takes what changed in silver since the version gold reflects
(`lakehouse.pipeline.changes`: for a daily run, the day's rows) and

- for each datamart, runs its `partials` over those rows only (+1 for a new row, -1 for a
  replaced one), adds them to its stored partials (`<datamart>_partials`) and recomputes the
  rows of the datamart keys they touch (`lakehouse.pipeline.partials`);
- `ml_features` recomputes only the rows whose inputs changed — the new rows, their
  clients' next 30 days, the days after newly known labels — and rewrites only the dates
  they fall on (`features_incremental.py`).

A day therefore costs what the day costs, not what the history costs. (An engine that builds
tables from the lake's files itself — Spark, `TableBuilder` — rebuilds every gold table.)
Each table and its stored partials record the silver version and SQL they reflect; a run
killed between the two writes leaves lineages that disagree, and the next run rebuilds that
table in full, so a crash never leaves gold half-merged. The incremental result equals a full
recompute (tests/pipeline/test_incremental_gold.py).
"""

from __future__ import annotations

import logging
import time

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.engines import Engine
from lakehouse.engines.base import TableBuilder
from lakehouse.pipeline import partials
from lakehouse.pipeline.changes import (
    PLAN,
    SILVER,
    ChangeFeed,
    SilverChanges,
    matching_state,
    merge_state,
)
from lakehouse.pipeline.checks import assert_checks
from lakehouse.pipeline.features_incremental import build_ml_features
from lakehouse.pipeline.models import MODELS
from lakehouse.pipeline.runner import (
    StageResult,
    build_model,
    input_versions,
    pause_point,
    sql_hash,
)

logger = logging.getLogger("lakehouse.pipeline.gold")


def run_gold(settings: Settings, engine: Engine) -> StageResult:
    """Gold: the five datamarts and `ml_features`, merged from silver's changes when possible.

    With a `TableBuilder` engine (Spark) every table is rebuilt in full.

    Args:
        settings: where the lake is.
        engine: the SQL engine.

    Returns:
        The stage's result, with the seconds spent per table; "up_to_date" when nothing
        was written.
    """
    result = StageResult("gold")
    feed = ChangeFeed(settings, engine)
    for name in catalog.GOLD_TABLES:
        start = time.perf_counter()
        if isinstance(engine, TableBuilder):
            # Spark's executors build each table from the lake's files: rebuilt in full.
            rows_in, rows_out, written = build_model(name, engine, settings)
        else:
            build = build_ml_features if name == "ml_features" else build_datamart
            rows_in, rows_out, written = build(name, engine, settings, feed)
        result.add_table(name, rows_in, rows_out, written, time.perf_counter() - start)
        if written is not None:
            pause_point("gold")
    if not result.tables:
        result.status = "up_to_date"
    return result


def _plan_changes(
    name: str, settings: Settings, feed: ChangeFeed, lineage: dict
) -> tuple[bool, SilverChanges | None, partials.PartialsPlan]:
    """(up to date?, silver's changes to merge or None for a full build, the partials plan)
    for table `name`.

    Merging needs the table and its stored partials to reflect the same earlier silver
    version under the current SQL; the plan is then the one the partials recorded.
    """
    previous = storage.last_metadata(catalog.location(name, settings), settings)
    if all(previous.get(k) == v for k, v in lineage.items()):
        return True, None, partials.plan(name)
    stored = storage.last_metadata(catalog.location(f"{name}_partials", settings), settings)
    if previous.get("sql") != lineage["sql"] or any(
        stored.get(k) != previous.get(k) for k in lineage
    ):
        return False, None, partials.plan(name)
    plan = partials.recorded_plan(name, stored.get(PLAN))
    return False, feed.since(previous.get("inputs", {}).get(SILVER)), plan


def build_datamart(
    name: str, engine: Engine, settings: Settings, feed: ChangeFeed, *, force: bool = False
) -> tuple[int, int, int | None]:
    """Bring one datamart and its partials up to date; (rows_in, rows_out, version or None).

    Merges silver's changes into the stored partials when both reflect the same earlier
    silver version under the current SQL; otherwise builds the table in full.

    Args:
        name: the datamart's catalog name.
        engine: the SQL engine.
        settings: where the lake is.
        feed: silver's changes, shared with the other gold tables.
        force: rebuild in full even when the table is current.

    Returns:
        (rows read, rows written, the Delta version written or None when already current).

    Raises:
        DataCheckError: the datamart's checks refused the result; it was not written.
    """
    model = MODELS[name]
    lineage = {"inputs": input_versions(model.inputs, settings), "sql": sql_hash(model.sql, {})}
    current, changes, plan = _plan_changes(name, settings, feed, lineage)
    if current and not force:
        return 0, 0, None
    if changes is None or force:
        rows_in, table = _full(plan, engine, settings, lineage)
    else:
        rows_in, table = _merge(plan, engine, settings, lineage, changes)
    assert_checks(model, table)
    incremental = changes is not None and not force
    written = storage.write(
        catalog.location(name, settings),
        table,
        metadata={**lineage, "rows": table.num_rows, "incremental": incremental},
        settings=settings,
    )
    logger.info(
        "table written",
        extra={
            "table": name,
            "rows": table.num_rows,
            "version": written,
            "incremental": incremental,
        },
    )
    return rows_in, table.num_rows, written


def _full(
    plan: partials.PartialsPlan, engine: Engine, settings: Settings, lineage: dict
) -> tuple[int, pa.Table]:
    """Partials from all of silver, stored; the datamart from them."""
    silver = storage.read_dataset(catalog.location(SILVER, settings), settings)
    state = engine.run_sql(plan.partials_sql, {SILVER: silver})
    storage.write(
        catalog.location(f"{plan.name}_partials", settings),
        state,
        metadata={**lineage, "rows": state.num_rows, PLAN: plan.record()},
        settings=settings,
    )
    return silver.count_rows(), engine.run_sql(plan.finalize_sql, {partials.PARTIALS: state})


def _merge(
    plan: partials.PartialsPlan,
    engine: Engine,
    settings: Settings,
    lineage: dict,
    changes: SilverChanges,
) -> tuple[int, pa.Table]:
    """Fold silver's changes into the stored partials; recompute only the touched keys."""
    state, merged = merge_state(plan, engine, settings, lineage, changes)
    touched = engine.run_sql(
        partials.state_sql(plan, keys=plan.key),
        {"state": matching_state(state, merged, plan.key), "merged": merged},
    )
    fresh = engine.run_sql(plan.finalize_sql, {partials.PARTIALS: touched})
    current = storage.read_table(catalog.location(plan.name, settings), settings)
    # Keys that lost all their partials (or no longer qualify) are simply not in `fresh`.
    kept = current.filter(pc.invert(_in_keys(current, merged, plan.key)))
    table = pa.concat_tables([kept, fresh.cast(current.schema)])
    rows_in = changes.added.num_rows + changes.removed.num_rows
    return rows_in, table.sort_by([(k, "ascending") for k in plan.key])


def _in_keys(table: pa.Table, keys_from: pa.Table, key: tuple[str, ...]) -> pa.ChunkedArray:
    """Which rows of `table` have their key among the keys of `keys_from` (one-column keys)."""
    (column,) = key
    values = pc.unique(keys_from.column(column).combine_chunks())
    return pc.is_in(table.column(column), value_set=values.cast(table.schema.field(column).type))
