"""What a SQL model is: one silver or gold table, its SQL, its grain and its declared checks.

A `Model` is the single definition of a table (docs/design.md rule 5), built by
`lakehouse.pipeline.models` from the table's `.sql` and its declaration next to it
(`lakehouse/models/<layer>/<table>.yml`): the runner reads the relations named in `inputs`, an
engine runs `sql` over them, `lakehouse.pipeline.checks` verifies `checks` on the result, and
the runner writes it under `name`. The SQL is written in
the subset of DuckDB SQL that Spark SQL also accepts, so the same text runs on both engines.

Parameters: a model that needs a number from the settings (e.g. the label delay of
`ml_features`) lists it in `params` and writes `{name}` in its SQL (`${name}`, `{{name}}` and
`:name` are accepted too). `render_sql` substitutes finite numbers only — never text — so a
parameter can't inject SQL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CHECK_KINDS = ("unique", "not_null", "accepted_values", "expression", "row_count_min")
LAYERS = ("silver", "gold")


@dataclass(frozen=True)
class Check:
    """One declared data check on a model's output (dbt-style).

    kinds:
        unique            `column` has no duplicate value (a comma-separated list = composite key)
        not_null          `column` has no NULL
        accepted_values   every non-NULL `column` value is in `arg` (a tuple)
        expression        the SQL boolean `arg` is not false on any row (NULL passes)
        row_count_min     the table has at least `arg` rows
    """

    kind: str
    column: str | None = None
    arg: Any = None

    def __post_init__(self) -> None:
        if self.kind not in CHECK_KINDS:
            raise ValueError(f"unknown check kind {self.kind!r}: use one of {CHECK_KINDS}")
        if self.kind in {"unique", "not_null", "accepted_values"} and not self.column:
            raise ValueError(f"a {self.kind} check needs a column")
        if self.kind == "accepted_values" and not isinstance(self.arg, tuple | list | frozenset):
            raise ValueError("an accepted_values check needs its values as a tuple in arg")
        if self.kind == "expression" and not (isinstance(self.arg, str) and self.arg.strip()):
            raise ValueError("an expression check needs a SQL boolean expression in arg")
        if self.kind == "row_count_min" and not isinstance(self.arg, int):
            raise ValueError("a row_count_min check needs an integer in arg")

    def describe(self) -> str:
        """Short human wording, used in failure messages and the README.

        Returns:
            E.g. "unique(card_id)", "use_chip in ('Swipe Transaction', ...)", the expression
            itself, or "at least N rows".
        """
        if self.kind == "accepted_values":
            return f"{self.column} in {tuple(self.arg)!r}"
        if self.kind == "expression":
            return str(self.arg)
        if self.kind == "row_count_min":
            return f"at least {self.arg} rows"
        return f"{self.kind}({self.column})"


@dataclass(frozen=True)
class Model:
    """One table of the lake defined by SQL over other tables."""

    name: str
    layer: str
    inputs: tuple[str, ...]
    sql: str
    grain: str
    description: str
    checks: tuple[Check, ...]
    params: tuple[str, ...] = ()
    key: tuple[str, ...] = ()  # the grain's columns (their unique/not_null checks are in `checks`)

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"model {self.name}: layer must be in {LAYERS}, not {self.layer!r}")

    def render_sql(self, params: Mapping[str, float | int] | None = None) -> str:
        """The SQL with every declared parameter replaced by its numeric value.

        Values for parameters the model does not declare are ignored, so a runner may pass
        the same parameter set to every model.

        Args:
            params: parameter name -> value (none needed when the model declares none).

        Returns:
            The runnable SQL.

        Raises:
            ValueError: a declared parameter is missing or not a finite number.
        """
        given = dict(params or {})
        sql = self.sql
        for name in self.params:
            if name not in given:
                raise ValueError(f"model {self.name} needs parameter {name!r}")
            sql = _placeholder(name).sub(_numeric_literal(name, given[name]), sql)
        return sql


def _placeholder(name: str) -> re.Pattern[str]:
    escaped = re.escape(name)
    # `{name}`, `${name}`, `{{ name }}` or `:name` (but not the `::` of a cast).
    return re.compile(rf"\$?\{{\{{?\s*{escaped}\s*\}}\}}?|(?<!:):{escaped}\b")


def _numeric_literal(name: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"parameter {name!r} must be a number, not {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"parameter {name!r} must be finite, not {value!r}")
    return repr(int(value)) if isinstance(value, int) else repr(float(value))
