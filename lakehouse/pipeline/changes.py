"""What changed in silver since gold last looked, and folding it into stored partials.

Every gold table records the silver version it reflects. `ChangeFeed.since(version)` answers
what changed since then from the Delta log alone: the data files a later commit added hold the
new rows, the files it removed hold the rows they replaced, and rows a rewrite merely copied
over appear on both sides and cancel (`EXCEPT ALL`). What is left are the rows that came, went
or changed — for a daily run, the day's transactions. `merge_state` adds such changes, as
partial aggregates (`lakehouse.pipeline.partials`), to a stored partials table in one commit.
`lakehouse.pipeline.gold` (datamarts) and `features_incremental` (`ml_features`) use both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake.exceptions import DeltaError

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.engines import Engine
from lakehouse.pipeline import partials

logger = logging.getLogger("lakehouse.pipeline.changes")

SILVER = "silver_transactions"
# Above this share of silver rewritten since gold's version (a full silver rebuild), diffing
# costs more than recomputing gold, which is then rebuilt in full.
DIFF_MAX_FRACTION = 0.5
# A partial rewrite of stored partials names at most this many values of one grain column.
MAX_PREDICATE_VALUES = 64
# The key of the parsed partials plan in the stored partials' commits (`PartialsPlan.record`).
PLAN = "plan"


@dataclass(frozen=True)
class SilverChanges:
    """The silver rows that differ between version `since` and `version`."""

    since: int
    version: int
    added: pa.Table
    removed: pa.Table


class ChangeFeed:
    """Silver's changes since a version, computed once per version for all gold tables."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.version = storage.version(catalog.location(SILVER, settings), settings)
        self._cache: dict[int, SilverChanges | None] = {}

    def since(self, version: int | None) -> SilverChanges | None:
        """Changes from `version` to now; None when unknown or cheaper to recompute.

        Computed once per version and shared by every gold table asking for it.

        Args:
            version: the silver version a gold table was last built from (None: never built).

        Returns:
            Silver's added and removed rows since then, or None (no version, silver absent or
            older than `version`, or `silver_changes` gave up).
        """
        if version is None or self.version is None or version > self.version:
            return None
        if version not in self._cache:
            self._cache[version] = silver_changes(self.settings, self.engine, version)
        return self._cache[version]


def silver_changes(settings: Settings, engine: Engine, since: int) -> SilverChanges | None:
    """Rows added to and removed from silver since version `since`, unchanged rows cancelled.

    Only data commits count: a compaction (maintenance) commit moves rows between files
    without changing any, so walking each data commit's own added and removed files keeps a
    tidied lake from looking rewritten.

    Args:
        settings: where the lake is.
        engine: the SQL engine that cancels rows both added and removed.
        since: the silver version to diff from.

    Returns:
        The added and removed rows with both versions; None when silver is absent, the schema
        changed or more than `DIFF_MAX_FRACTION` of the rows were rewritten (then a full
        recompute is cheaper).
    """
    uri = catalog.location(SILVER, settings)
    table = storage.open_table(uri, settings)
    version = storage.version(uri, settings)
    if table is None or version is None:
        return None
    commits = sorted(
        int(c["version"])
        for c in storage.history(uri, settings, limit=table.version() - since)
        if int(c["version"]) > since and c.get("operation") not in storage.MAINTENANCE_OPERATIONS
    )
    came, went, rewritten = [], [], 0
    try:
        for commit in commits:
            before = storage.data_files(uri, settings, at_version=commit - 1)
            after = storage.data_files(uri, settings, at_version=commit)
            removed = [path for path in before if path not in after]
            rewritten += sum(before[path] for path in removed)
            came.append(
                storage.read_files(
                    uri, [p for p in after if p not in before], settings, at_version=commit
                )
            )
            went.append(storage.read_files(uri, removed, settings, at_version=commit - 1))
    except DeltaError:  # that history was cleaned up: recompute instead
        return None
    total = sum(storage.data_files(uri, settings).values())
    schemas = {piece.schema for piece in (*came, *went)}
    if not commits or rewritten > DIFF_MAX_FRACTION * max(total, 1) or len(schemas) > 1:
        return None
    inputs = {"new_rows": ds.dataset(came), "old_rows": ds.dataset(went)}
    # A rewritten file carries its untouched rows over: EXCEPT ALL cancels them pairwise.
    added = engine.run_sql("SELECT * FROM new_rows EXCEPT ALL SELECT * FROM old_rows", inputs)
    gone = engine.run_sql("SELECT * FROM old_rows EXCEPT ALL SELECT * FROM new_rows", inputs)
    logger.info(
        "silver changes",
        extra={
            "since": since,
            "version": version,
            "data_commits": len(commits),
            "rows_added": added.num_rows,
            "rows_removed": gone.num_rows,
        },
    )
    return SilverChanges(since, version, added, gone)


def merge_state(
    plan: partials.PartialsPlan,
    engine: Engine,
    settings: Settings,
    lineage: dict,
    changes: SilverChanges,
) -> tuple[ds.Dataset, pa.Table]:
    """Commit `<plan.name>_partials` with silver's changes folded in; (old state, merged rows).

    Only the stored files holding the merged grain keys are rewritten when one grain column
    bounds them (`_replace_predicate`); the merged rows include keys whose count fell to 0.
    The commit records the plan's parsed parts, so the next merge does not parse the SQL.

    Args:
        plan: the gold table's partials plan (its SQL and grain).
        engine: the SQL engine.
        settings: where the lake is.
        lineage: commit metadata (input versions, SQL hash).
        changes: silver's added and removed rows.

    Returns:
        (the partials table as it was before this commit, the merged partial rows).
    """
    state_uri = catalog.location(f"{plan.name}_partials", settings)
    state = storage.read_dataset(state_uri, settings)
    added = engine.run_sql(plan.partials_sql, {SILVER: changes.added})
    removed = engine.run_sql(plan.partials_sql, {SILVER: changes.removed})
    touched = pa.concat_tables([added.select(plan.grain), removed.select(plan.grain)])
    merged = engine.run_sql(
        partials.merge_sql(plan, state.schema),
        {"state": matching_state(state, touched, plan.grain), "added": added,
         "removed": removed},
    )
    column, predicate, where = _replace_predicate(plan, merged)
    if merged.num_rows:
        # The rewrite keeps the stored rows under the predicate: only those are read.
        kept = state if column is None else matching_state(state, merged, (column,))
        replacement = engine.run_sql(
            partials.state_sql(plan, where=where), {"state": kept, "merged": merged}
        )
    else:  # nothing moved: an empty append only records the new lineage
        replacement = state.schema.empty_table()
    storage.write(
        state_uri,
        replacement.cast(state.schema),
        mode="overwrite" if merged.num_rows else "append",
        predicate=predicate,
        metadata={**lineage, "rows_replaced": replacement.num_rows, PLAN: plan.record()},
        settings=settings,
    )
    return state, merged


def matching_state(state: ds.Dataset, rows: pa.Table, columns: tuple[str, ...]) -> pa.Table:
    """The stored partials whose value in each of `columns` occurs in `rows`, read with a
    pyarrow filter.

    A superset of the stored rows SQL matches to `rows` on those columns (NULL matches NULL,
    as `IS NOT DISTINCT FROM` does), and far fewer than the whole state, which grows with the
    history (client × day): the merge SQL gets these instead of scanning every stored row.

    Args:
        state: the stored partials.
        rows: the rows whose values are wanted (merged or changed partials).
        columns: grain or key columns present in both.

    Returns:
        The matching stored rows.
    """
    condition = None
    for column in columns:
        values = pc.unique(rows.column(column).combine_chunks())
        wanted = id_filter(column, values.cast(state.schema.field(column).type))
        condition = wanted if condition is None else condition & wanted
    return state.to_table(filter=condition)


def id_filter(column: str, values: pa.Array) -> pc.Expression:
    """`column IN values` as a pyarrow filter, with the values' range too when they hold no
    NULL: the range lets a scan skip the Parquet row groups whose statistics lie outside it
    (a day's ids or dates in a table written in time order), which `isin` alone does not.

    Args:
        column: the column filtered.
        values: the wanted values, of the column's type.

    Returns:
        The filter expression.
    """
    wanted = pc.field(column).isin(values)
    if values.null_count or not len(values):
        return wanted
    bounds = pc.min_max(values)
    return (pc.field(column) >= bounds["min"]) & (pc.field(column) <= bounds["max"]) & wanted


def _replace_predicate(
    plan: partials.PartialsPlan, merged: pa.Table
) -> tuple[str | None, str | None, str | None]:
    """(grain column, Delta predicate, SQL condition) covering the merged grain keys, or
    (None, None, None).

    The grain column with the fewest distinct merged values bounds the rewrite — for a new
    day, `tx_date` names one day — so only the stored files holding those values are
    rewritten. Without a selective column the whole partials table is rewritten.
    """
    best: tuple[str, list] | None = None
    if not merged.num_rows:
        return None, None, None
    for column in plan.grain:
        values = pc.unique(merged.column(column).combine_chunks())
        if values.null_count or len(values) > MAX_PREDICATE_VALUES:
            continue
        if best is None or len(values) < len(best[1]):
            best = (column, values.to_pylist())
    if best is None:
        return None, None, None
    column, values = best
    literals = ", ".join(_literal(value) for value in values)
    condition = f"{column} IN ({literals})"
    return column, condition, f"s.{condition}"


def _literal(value: object) -> str:
    # Values come from our own partials (ids, dates, hours, card types), quoted all the same.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = str(value).replace("'", "''")
    return f"'{text}'"
