"""The registry of SQL models: every silver and gold table, defined once, run by any engine.

Each model is declared in `lakehouse/models/<layer>/<table>.yml` next to its SQL
(`lakehouse.models` reads them); this module turns each declaration into a `Model`, and
`run_model` runs one on an engine over the inputs the runner read from Delta. What a
declaration names rather than states is filled in here:

- the SQL of a model without a `.sql` file: `ml_features` is generated from the feature
  declarations (`lakehouse.features.batch_sql`), so the runner treats every gold table alike;
- the row-level derivations that silver SQL writes as `{{ derived: name }}` markers, from
  `lakehouse.features.derivations`, so silver and a scoring request share one definition;
- the vocabularies that `accepted_values` checks name (`values: card_brands`), each defined
  once in `lakehouse.formats` or `lakehouse.sources.labels`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from functools import cache

import pyarrow as pa

from lakehouse.config import Settings, get_settings
from lakehouse.engines.base import Engine, TableLike
from lakehouse.features.batch_sql import features_sql
from lakehouse.features.derivations import render_silver
from lakehouse.formats import CARD_BRANDS, CARD_TYPES, USE_CHIP_VALUES
from lakehouse.models import CheckSpec, Declaration, declarations
from lakehouse.pipeline.model import Check, Model
from lakehouse.sources.labels import LABEL_SOURCES

# The value sets an `accepted_values` check may name instead of listing them.
VOCABULARIES: dict[str, tuple[object, ...]] = {
    "card_brands": CARD_BRANDS,
    "card_types": CARD_TYPES,
    "use_chip_values": USE_CHIP_VALUES,
    "label_sources": LABEL_SOURCES,
    "hours": tuple(range(24)),
}

# Models whose SQL is generated rather than written in a `.sql` file.
GENERATED_SQL: dict[str, Callable[[], str]] = {"ml_features": features_sql}


def _check(spec: CheckSpec, model: str) -> Check:
    """The `Check` a declared spec stands for, its named vocabulary filled in."""
    if spec.kind != "accepted_values":
        return Check(spec.kind, spec.column, spec.arg)
    values = spec.arg
    if isinstance(values, str):
        if values not in VOCABULARIES:
            known = ", ".join(VOCABULARIES)
            raise ValueError(f"model {model}: no vocabulary {values!r}; known: {known}")
        values = VOCABULARIES[values]
    return Check(spec.kind, spec.column, tuple(values) if isinstance(values, list) else values)


def _sql(declaration: Declaration) -> str:
    """The model's SQL: its `.sql` with derivations filled in, or the generated text."""
    if declaration.sql_path is not None:
        return render_silver(declaration.read_sql())
    if declaration.name not in GENERATED_SQL:
        raise ValueError(f"model {declaration.name} has neither a .sql file nor generated SQL")
    return GENERATED_SQL[declaration.name]()


def model_from(declaration: Declaration) -> Model:
    """The runnable model of one declaration.

    Args:
        declaration: a model's `.yml`, as `lakehouse.models.declarations()` read it.

    Returns:
        The `Model`: its SQL rendered, its checks with their vocabularies filled in.

    Raises:
        ValueError: a check is malformed or names an unknown vocabulary, or there is no SQL.
    """
    return Model(
        name=declaration.name,
        layer=declaration.layer,
        inputs=declaration.inputs,
        sql=_sql(declaration),
        grain=declaration.grain,
        description=declaration.description,
        checks=tuple(_check(spec, declaration.name) for spec in declaration.checks),
        params=declaration.params,
        key=declaration.key,
    )


# In dependency order: silver_cards and silver_users feed silver_transactions, which feeds gold.
MODELS: dict[str, Model] = {name: model_from(d) for name, d in declarations().items()}
SILVER_MODELS: tuple[Model, ...] = tuple(m for m in MODELS.values() if m.layer == "silver")
DATAMART_MODELS: tuple[Model, ...] = tuple(
    MODELS[name] for name, d in declarations().items() if d.datamart
)
ML_FEATURES = MODELS["ml_features"]


def model_params(model: Model, settings: Settings) -> dict[str, float | int]:
    """The numbers a model asks for by name (`Model.params`), taken from the settings.

    Args:
        model: the model whose declared `params` are wanted.
        settings: where the numbers come from (the label delay).

    Returns:
        One value per name in `model.params`.
    """
    available: dict[str, float | int] = {
        "label_delay_seconds": settings.label_delay_days * 86_400,
        "label_delay_days": settings.label_delay_days,
    }
    return {name: available[name] for name in model.params}


def run_model(
    engine: Engine,
    name: str,
    inputs: Mapping[str, TableLike],
    params: Mapping[str, float | int] | None = None,
) -> pa.Table:
    """Run the model called `name` on `engine` over `inputs` (catalog name -> table).

    Args:
        engine: where the SQL runs (`lakehouse.engines.get_engine()`).
        name: a key of `MODELS`.
        inputs: at least every relation in the model's `inputs`; extra ones are ignored.
        params: numeric values for the model's declared `params` (others ignored).

    Returns:
        The model's output as one Arrow table (not yet checked: see `assert_checks`).

    Raises:
        KeyError: no model has that name.
        ValueError: an input or a parameter is missing.
    """
    if name not in MODELS:
        raise KeyError(f"no SQL model named {name!r}; known models: {', '.join(MODELS)}")
    model = MODELS[name]
    missing = [relation for relation in model.inputs if relation not in inputs]
    if missing:
        raise ValueError(f"model {name} needs input(s) {missing}; got {sorted(inputs)}")
    if params is None and model.params:
        params = model_params(model, get_settings())  # a caller outside the stage runner
    sql = model.render_sql(params)
    tables = {relation: inputs[relation] for relation in model.inputs}
    streams = {r for r, table in tables.items() if isinstance(table, pa.RecordBatchReader)}
    # A stream can be scanned once only; a model that reads a relation twice gets a copy.
    # Only then is the SQL parsed (with sqlglot, which a run otherwise need not import).
    if streams:
        for relation in streams & _read_more_than_once(name):
            tables[relation] = tables[relation].read_all()
    return engine.run_sql(sql, tables)


@cache
def _read_more_than_once(name: str) -> frozenset[str]:
    """The inputs that `name`'s SQL scans more than once (from its parse tree)."""
    import sqlglot  # parsed only when a model runs: a run with nothing new never imports it
    from sqlglot import exp

    model = MODELS[name]
    tree = sqlglot.parse_one(model.render_sql(dict.fromkeys(model.params, 0)), read="duckdb")
    reads = Counter(table.name for table in tree.find_all(exp.Table))
    return frozenset(relation for relation in model.inputs if reads[relation] > 1)
