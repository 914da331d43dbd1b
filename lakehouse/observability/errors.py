"""The one error model of every HTTP service, and its declaration in each OpenAPI document.

sources_api, api and api_ml answer every error — a refused row, a failed validation, an
undecodable body, a missing key, an unknown path, an oversized upload, an overloaded or
unavailable service — with the same JSON body, `ErrorPublic`:

    {"error": "what went wrong and what to do", "status": 422, "detail": [ErrorItem, ...]}

`detail` is always present (empty when there is nothing to itemise). Each `ErrorItem` names
where the problem is (`location`), what it is (`message`, `type`) and, when they apply, the
source-file `row`/`column` and the `allowed` values. `install_error_handlers` turns FastAPI's
exceptions into that body; `declare_error_responses` writes it into the app's OpenAPI document
for every route and every status the route can answer, so the document and the answers match
(schemathesis checks both in the tests). docs/operations.md lists the statuses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("lakehouse.http")

# Statuses every route can answer, with what they mean.
RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying (sent when the service is overloaded).",
        "schema": {"type": "integer"},
    }
}
STATUS_DESCRIPTIONS: dict[int, str] = {
    400: "The body could not be decoded (not UTF-8, or not the announced content type).",
    401: "The X-API-Key header is missing (the service runs with LAKEHOUSE_API_KEY set).",
    403: "The X-API-Key header is wrong.",
    404: "Nothing with this name or key.",
    409: "The request conflicts with what is stored.",
    413: "The body is larger than the service accepts.",
    422: "A parameter or a body value is invalid: `detail` says which and why.",
    503: "Overloaded (retry after `Retry-After` seconds) or a dependency is unavailable.",
}


class ErrorItem(BaseModel):
    """One thing wrong with a request."""

    location: str = Field(
        description="Where: `body.amount`, `query.limit`, `body.3.date`, `row 3, column date`."
    )
    message: str
    type: str = Field(description="A stable code, e.g. `missing`, `value_not_allowed`.")
    row: int | None = Field(
        None, description="Source-file data row (1-based; 0 = header or whole file)."
    )
    column: str | None = Field(None, description="Source-file column.")
    allowed: list[str] | None = Field(None, description="The values that would be accepted.")


class ErrorPublic(BaseModel):
    """Every error answer of every service."""

    error: str = Field(description="What went wrong, and what to do about it.")
    status: int
    detail: list[ErrorItem] = Field(default_factory=list)
    truncated: bool = Field(False, description="True when more problems exist than listed.")


def error_body(
    status: int,
    message: str,
    items: Iterable[ErrorItem | Mapping[str, Any]] = (),
    truncated: bool = False,
) -> dict[str, Any]:
    """The JSON body of an error answer.

    Args:
        status: the HTTP status.
        message: what went wrong and what to do next.
        items: itemised problems (`ErrorItem` or dicts with its fields).
        truncated: whether more problems exist than `items` lists.

    Returns:
        A dict in the `ErrorPublic` shape, items without their empty optional fields.
    """
    detail = [ErrorItem.model_validate(item).model_dump(exclude_none=True) for item in items]
    return {"error": message, "status": status, "detail": detail, "truncated": truncated}


def error_response(
    status: int,
    message: str,
    items: Iterable[ErrorItem | Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
    truncated: bool = False,
) -> JSONResponse:
    """An error answer in the `ErrorPublic` shape (see `error_body`).

    Args:
        status: the HTTP status, also repeated in the body.
        message: what went wrong, without the refused values.
        items: per-field problems (`ErrorItem`s or mappings of their fields).
        headers: extra response headers (e.g. `Retry-After`).
        truncated: True when `items` was cut to a maximum.

    Returns:
        The JSON response.
    """
    return JSONResponse(
        error_body(status, message, items, truncated), status_code=status, headers=headers
    )


def validation_items(errors: Iterable[Mapping[str, Any]]) -> list[ErrorItem]:
    """Pydantic/FastAPI validation errors as `ErrorItem`s (`location` like `body.amount`).

    A validator that knows the accepted values passes them as `allowed` in the error context.

    Args:
        errors: the validation errors (`exc.errors()`), each with `loc`, `msg`, `type`, `ctx`.

    Returns:
        One item per error; the refused input itself is never copied.
    """
    return [
        ErrorItem(
            location=".".join(str(part) for part in err.get("loc", ())),
            message=str(err.get("msg", "invalid value")),
            type=str(err.get("type", "value_error")),
            allowed=(err.get("ctx") or {}).get("allowed"),
        )
        for err in errors
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of `app` in the `ErrorPublic` shape; a 500 never leaks a trace.

    HTTP errors keep their status and message, validation errors become a 422 listing the
    fields, and any other exception is logged and answered as a generic 500.

    Args:
        app: the service whose exception handlers are set.
    """

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        message = detail if isinstance(detail, str) else "request failed"
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        items = validation_items(exc.errors())
        summary = "; ".join(f"{i.location}: {i.message}" for i in items[:5])
        return error_response(422, f"invalid request: {summary}", items)

    @app.exception_handler(Exception)
    async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error; see the service log for details")


def _statuses_of(operation: dict[str, Any]) -> set[int]:
    """The generic statuses an operation can answer, from what it takes."""
    statuses = {503}
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.add(422)
    if operation.get("requestBody"):
        statuses.add(400)
    if operation.get("security") or any(
        p.get("in") == "header" and p.get("name", "").lower() == "x-api-key"
        for p in operation.get("parameters", [])
    ):
        statuses.update((401, 403))
    return statuses


def _declare(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    model_schema = ErrorPublic.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(model_schema.pop("$defs", {}))
    schemas["ErrorPublic"] = model_schema
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorPublic"}}}
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            declared = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
            for status in declared | _statuses_of(operation):
                entry = responses.setdefault(str(status), {})
                entry.setdefault("description", STATUS_DESCRIPTIONS.get(status, "Error."))
                entry["content"] = reference  # FastAPI's own 422 shape is never answered
                if status == 503:
                    entry["headers"] = RETRY_AFTER_HEADER
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def declare_error_responses(app: FastAPI) -> None:
    """Make `app.openapi()` declare `ErrorPublic` for every status each route can answer.

    Statuses a route declares itself (404, 409, 413 ...) get the shared body; every route also
    gets 503 (overload, dependency down) with `Retry-After`; routes with parameters 422; with
    a body 400; with an API key 401 and 403.

    Args:
        app: the service whose `openapi` method is replaced (the document is built once).
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = _declare(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
