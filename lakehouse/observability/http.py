"""What every HTTP service of the platform has in common: metrics, JSON errors, offline docs.

`instrument_app(app, service)` is called once by each service's app factory (sources_api,
api, api_ml). It adds a middleware that counts requests and times them per route template
(so `/client_features/{client_id}` is one series, not one per id), serves those metrics at
`GET /metrics` in the Prometheus text format, and turns every error into a JSON body with a
clear message — validation errors answer 422 with the offending fields, unexpected ones 500
with no stack trace leaked (and are logged). Its `/docs` and `/redoc` pages load their assets
from the service itself (`api_docs`), so they work on a host without internet access.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from lakehouse.observability.api_docs import serve_docs_offline

logger = logging.getLogger("lakehouse.http")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """Request counters and latency histograms, in a registry owned by one app.

    A registry per app (not the global one) lets several services live in one process,
    as they do in the tests, without "duplicated timeseries" errors.
    """

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by route template, method and status code.",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["service", "method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.service = service


def _route_template(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    # Unmatched paths (404s) share one label so scanners cannot explode the series count.
    return path if path else "<unmatched>"


def _error_body(status: int, message: str, detail: object | None = None) -> dict[str, object]:
    body: dict[str, object] = {"error": message, "status": status}
    if detail is not None:
        body["detail"] = detail
    return body


def install_error_handlers(app: FastAPI) -> None:
    """JSON errors everywhere: `{"error": ..., "status": ..., "detail": ...}`."""

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        message = detail if isinstance(detail, str) else "request failed"
        extra = None if isinstance(detail, str) else detail
        return JSONResponse(
            _error_body(exc.status_code, message, extra),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "location": ".".join(str(part) for part in err.get("loc", ())),
                "message": err.get("msg", "invalid value"),
                "type": err.get("type", "value_error"),
            }
            for err in exc.errors()
        ]
        summary = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:5])
        return JSONResponse(
            _error_body(422, f"invalid request: {summary}", errors), status_code=422
        )

    @app.exception_handler(Exception)
    async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            _error_body(500, "internal error; see the service log for details"), status_code=500
        )


def instrument_app(app: FastAPI, service: str) -> HttpMetrics:
    """Add request metrics, `GET /metrics`, JSON error handlers and offline docs to `app`."""
    metrics = HttpMetrics(service)
    app.state.http_metrics = metrics

    @app.middleware("http")
    async def _measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = _route_template(request)
            metrics.requests.labels(service, request.method, route, str(status)).inc()
            metrics.latency.labels(service, request.method, route).observe(
                time.perf_counter() - start
            )

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    install_error_handlers(app)
    serve_docs_offline(app)
    return metrics
