"""Datamarts as additive partial aggregates: how a new day is merged into the history.

Every datamart's SQL (`lakehouse/models/gold/dm_*.sql`) is written as
`WITH partials AS (...) <finalize>`: `partials` groups `silver_transactions` by a grain (a
client and a merchant, a client and a day, a card...) into columns that only ever add up —
counts and sums, never averages or distinct counts — and the final SELECT turns those into the
datamart's rows. Running the whole text gives the datamart in one go; this module splits it so
the gold stage can instead

1. run `partials` over only the rows that changed in silver (added rows count +1, removed or
   replaced rows count -1),
2. add those to the stored partials of the same grain keys (`merge_sql`), and
3. run the final SELECT over the stored partials of the datamart keys that moved only.

Sums of +1/-1 contributions make the result independent of the order days arrived in, which
is why incremental equals full recompute (tests/pipeline/test_incremental_gold.py). Pure SQL
text, no I/O: `lakehouse.pipeline.gold` reads and writes the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pyarrow as pa

from lakehouse.pipeline.models import MODELS

PARTIALS = "partials"
ROW_COUNT = "row_count"  # every partial counts its rows: a grain key whose count drops to 0 is gone


@dataclass(frozen=True)
class PartialsPlan:
    """One datamart's SQL cut in two, with the columns each part works on."""

    name: str
    partials_sql: str  # over `silver_transactions`
    finalize_sql: str  # over `partials`
    grain: tuple[str, ...]  # the GROUP BY columns of `partials`
    additive: tuple[str, ...]  # the aggregate columns, merged by addition
    key: tuple[str, ...]  # the datamart's own key (its declared grain)
    count: str = ROW_COUNT  # the additive column counting rows: 0 means the grain key is gone

    def record(self) -> dict[str, object]:
        """The parsed parts, as recorded in the stored partials' commits (`recorded_plan`).

        Returns:
            The partials and final SQL, the grain and the additive columns.
        """
        return {"partials_sql": self.partials_sql, "finalize_sql": self.finalize_sql,
                "grain": list(self.grain), "additive": list(self.additive)}


def recorded_plan(name: str, record: object) -> PartialsPlan:
    """The plan of datamart `name` from the parts its stored partials recorded, or parsed
    from its SQL when they recorded none.

    The parts are recorded beside the SQL hash they were parsed from, so a caller that found
    the hash unchanged skips parsing (and importing the SQL parser) on every daily run.

    Args:
        name: a gold datamart whose SQL has a `partials` CTE.
        record: `PartialsPlan.record()` as a commit stored it, or None.

    Returns:
        The datamart's partials plan.
    """
    if not isinstance(record, dict):
        return plan(name)
    return PartialsPlan(name, str(record["partials_sql"]), str(record["finalize_sql"]),
                        tuple(record["grain"]), tuple(record["additive"]), MODELS[name].key)


@cache
def plan(name: str) -> PartialsPlan:
    """The partials plan of datamart `name` (parsed once from its SQL).

    Args:
        name: a gold datamart whose SQL has a `partials` CTE.

    Returns:
        Its partials SQL (over silver), the rest of the SQL (over `partials`), the grain and
        additive columns, and the datamart's key.

    Raises:
        ValueError: the model has no `partials` CTE, or a partial column is not a COUNT or a SUM.
    """
    import sqlglot  # only a run that merges parses SQL: a run with nothing new skips it
    from sqlglot import exp

    model = MODELS[name]
    tree = sqlglot.parse_one(model.sql, read="duckdb")
    with_ = tree.args.get("with_") or tree.args.get("with")
    ctes = list(with_.expressions) if with_ else []
    partials = next((cte for cte in ctes if cte.alias == PARTIALS), None)
    if partials is None:
        raise ValueError(f"{name}: its SQL has no `{PARTIALS}` CTE to merge incrementally")
    grain, additive = [], []
    for column in partials.this.expressions:
        aggregate = column.find(exp.AggFunc)
        if aggregate is None:
            grain.append(column.alias_or_name)
        elif isinstance(aggregate, exp.Count | exp.Sum):
            additive.append(column.alias_or_name)
        else:
            raise ValueError(f"{name}: partial column {column.alias_or_name} is not additive")
    if ROW_COUNT not in additive:
        raise ValueError(f"{name}: `{PARTIALS}` must count its rows as `{ROW_COUNT}`")
    partials_sql = partials.this.sql(dialect="duckdb")
    partials.pop()
    if not with_.expressions:
        with_.pop()
    return PartialsPlan(
        name,
        partials_sql,
        tree.sql(dialect="duckdb"),
        tuple(grain),
        tuple(additive),
        model.key,
    )


def _same(left: str, right: str, columns: tuple[str, ...]) -> str:
    # NULL grain values (an unknown card type, an MCC without description) are keys too.
    return " AND ".join(f"{left}.{c} IS NOT DISTINCT FROM {right}.{c}" for c in columns)


def merge_sql(merge: PartialsPlan, schema: pa.Schema) -> str:
    """SQL over `state`, `added`, `removed` (partials): the merged rows of the touched keys.

    Rows whose count (`row_count`) falls to 0 are returned too (with zeros): their key must leave
    the stored partials, which `state_sql` does.

    Args:
        merge: the datamart's partials plan.
        schema: the stored partials' schema, whose types the sums are cast back to.

    Returns:
        The DuckDB SQL.
    """
    grain = ", ".join(merge.grain)
    negated = ", ".join(f"-{c} AS {c}" for c in merge.additive)
    sums = ", ".join(
        f"CAST(SUM({c}) AS {_sql_type(schema.field(c).type)}) AS {c}" for c in merge.additive
    )
    columns = ", ".join((*merge.grain, *merge.additive))
    return f"""
WITH changes AS (
    SELECT {columns} FROM added
    UNION ALL
    SELECT {grain}, {negated} FROM removed),
touched AS (SELECT DISTINCT {grain} FROM changes)
SELECT {grain}, {sums}
FROM (
    SELECT {columns} FROM state AS s
    WHERE EXISTS (SELECT 1 FROM touched AS t WHERE {_same("s", "t", merge.grain)})
    UNION ALL
    SELECT {columns} FROM changes) AS u
GROUP BY {grain}"""


def state_sql(merge: PartialsPlan, keys: tuple[str, ...] = (), where: str | None = None) -> str:
    """SQL over `state` and `merged`: stored partials with the merged rows folded in.

    Untouched stored rows are kept when they share a key in `keys` with a merged row (the
    datamart key: the final SELECT needs all partials of the datamarts rows it recomputes)
    and match `where` (a condition on `state`, e.g. the predicate of a partial rewrite);
    no `keys` and no `where` gives the whole new state.

    Args:
        merge: the datamart's partials plan.
        keys: keep only stored rows sharing these columns' values with a merged row.
        where: keep only stored rows matching this SQL condition.

    Returns:
        The DuckDB SQL; merged rows whose count is 0 are dropped.
    """
    columns = ", ".join((*merge.grain, *merge.additive))
    conditions = [f"NOT EXISTS (SELECT 1 FROM merged AS m WHERE {_same('s', 'm', merge.grain)})"]
    if keys:
        conditions.append(f"EXISTS (SELECT 1 FROM merged AS m WHERE {_same('s', 'm', keys)})")
    if where:
        conditions.append(f"({where})")
    return f"""
SELECT {columns} FROM state AS s
WHERE {" AND ".join(conditions)}
UNION ALL
SELECT {columns} FROM merged WHERE {merge.count} <> 0"""


def _sql_type(dtype: pa.DataType) -> str:
    if pa.types.is_integer(dtype):
        return "BIGINT"
    if pa.types.is_floating(dtype):
        return "DOUBLE"
    raise ValueError(f"partial aggregates are counts or sums, not {dtype}")
