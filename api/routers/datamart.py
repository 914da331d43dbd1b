"""One router factory that serves every datamart of the registry.

`datamart_router(name, datamart)` turns a registry entry of `api.datamarts.DATAMARTS` into
two routes: `GET /<name>` (a filtered, sorted page plus the total count) and
`GET /<name>/{<key>}` (one row, 404 when absent). Parameters are validated from the schema
itself — sort only by the schema's numeric columns, filters only on the columns the registry
names, keys within their range — so a bad request is a 422 before any SQL runs.

No `from __future__ import annotations` here: the parameter types are built per datamart at
run time, and FastAPI must see them as objects, not as strings to resolve.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field, create_model

from api import schemas
from api.datamarts import Datamart, ListQuery, get_row, list_rows, numeric_columns
from api.deps import EngineDep

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50


def _sort_values(datamart: Datamart) -> tuple[str, ...]:
    names = numeric_columns(datamart.schema)
    return tuple(names) + tuple(f"-{name}" for name in names)


def _bounds(datamart: Datamart, column: str) -> dict[str, int]:
    """The column's declared range (e.g. hour 0..23), else the BIGINT range of ids."""
    bounds = {"ge": 0, "le": schemas.INT64_MAX}
    for constraint in datamart.schema.model_fields[column].metadata:
        bounds["ge"] = getattr(constraint, "ge", bounds["ge"])
        bounds["le"] = getattr(constraint, "le", bounds["le"])
    return bounds


def _filter_field(datamart: Datamart, column: str, side: str) -> tuple[object, object]:
    annotation = datamart.schema.model_fields[column].annotation
    is_int = annotation is int
    description = f"Only rows with {column} {'>=' if side == 'min' else '<='} this value."
    if is_int:
        return int | None, Field(None, ge=0, le=schemas.INT64_MAX, description=description)
    return float | None, Field(None, ge=0, allow_inf_nan=False, description=description)


def list_parameters(name: str, datamart: Datamart) -> type[BaseModel]:
    """The query-parameter model of one datamart's list route.

    Args:
        name: the datamart's route name, used to name the model.
        datamart: its registry entry (key, sortable and filterable columns).

    Returns:
        A pydantic model with `limit`, `offset`, `sort` and `min_*` / `max_*` per filterable
        column; unknown parameters are refused.
    """
    sort_values = _sort_values(datamart)
    fields: dict[str, tuple[object, object]] = {
        "limit": (int, Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Rows per page.")),
        "offset": (int, Field(0, ge=0, le=schemas.INT64_MAX, description="Rows to skip.")),
        "sort": (
            Literal[sort_values] | None,  # type: ignore[valid-type]
            Field(
                None,
                description="A numeric column, ascending; prefix `-` for descending "
                f"(e.g. `-{datamart.filters[-1]}`). Default: by `{datamart.key}`.",
            ),
        ),
    }
    for column in datamart.filters:
        fields[f"min_{column}"] = _filter_field(datamart, column, "min")
        fields[f"max_{column}"] = _filter_field(datamart, column, "max")
    model_name = "".join(part.title() for part in name.split("_")) + "ListParams"
    # Unknown parameters are refused: a typo like `min_txcount` must not silently match all.
    return create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)  # type: ignore[call-overload]


def _list_query(datamart: Datamart, params: BaseModel) -> ListQuery:
    values = params.model_dump()
    minimum = {c: values[f"min_{c}"] for c in datamart.filters if values[f"min_{c}"] is not None}
    maximum = {c: values[f"max_{c}"] for c in datamart.filters if values[f"max_{c}"] is not None}
    return ListQuery(values["limit"], values["offset"], values["sort"], minimum, maximum)


def datamart_router(name: str, datamart: Datamart) -> APIRouter:
    """`GET /<name>` and `GET /<name>/{key}` for one registry entry.

    Args:
        name: the datamart's route name (the path prefix).
        datamart: its registry entry (table, key, schemas, filters).

    Returns:
        A router with the list route and the by-key route.
    """
    router = APIRouter(
        prefix=f"/{name}", tags=["datamarts"], responses=schemas.error_responses(422, 503)
    )
    params_model = list_parameters(name, datamart)
    key = datamart.key
    KeyParam = Annotated[int, Path(alias=key, description=f"The {key}.", **_bounds(datamart, key))]

    @router.get("", response_model=datamart.page_schema, summary=f"List {name}")
    def list_datamart(
        engine: EngineDep, params: Annotated[params_model, Query()]  # type: ignore[valid-type]
    ) -> dict:
        query = _list_query(datamart, params)
        rows, count = list_rows(engine, datamart, query)
        return {"data": rows, "count": count, "limit": query.limit, "offset": query.offset}

    @router.get(
        f"/{{{key}}}",
        response_model=datamart.schema,
        summary=f"One {name} row by {key}",
        responses=schemas.error_responses(404),
    )
    def get_datamart_row(engine: EngineDep, key_value: KeyParam) -> dict:
        row = get_row(engine, datamart, key_value)
        if row is None:
            raise HTTPException(404, f"no {name} row for {key}={key_value}")
        return row

    list_datamart.__doc__ = (
        f"A page of `{datamart.table}`, filtered and sorted, with the total matching `count`."
    )
    get_datamart_row.__doc__ = f"The `{datamart.table}` row whose `{key}` is given."
    return router
