"""What every HTTP service of the platform has in common: metrics, JSON errors, offline docs.

`instrument_app(app, service)` is called once by each service's app factory (sources_api,
api, api_ml). It adds a middleware that counts requests and times them per route template
(so `/client_features/{client_id}` is one series, not one per id), serves those metrics at
`GET /metrics` in the Prometheus text format, and installs the one error model of
`lakehouse.observability.errors` (JSON bodies, declared in the OpenAPI document). Its `/docs`
and `/redoc` pages load their assets from the service itself (`api_docs`), so they work on a
host without internet access.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from lakehouse.observability.api_docs import serve_docs_offline
from lakehouse.observability.elasticsearch import ShippingCollector
from lakehouse.observability.errors import declare_error_responses, install_error_handlers
from lakehouse.observability.overload import ConcurrencyLimit

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


def instrument_app(app: FastAPI, service: str, max_concurrent: int) -> HttpMetrics:
    """Add request metrics, `GET /metrics`, JSON errors, load shedding and offline docs.

    Args:
        app: the service's application.
        service: its name, the `service` label of its metrics.
        max_concurrent: requests in flight past which it answers 503 (`ConcurrencyLimit`).
    Returns:
        The metrics, whose registry the service may add its own to.
    """
    metrics = HttpMetrics(service)
    metrics.registry.register(ShippingCollector())
    app.state.http_metrics = metrics
    # Added before the metrics middleware, so it sits inside it: shed requests are counted.
    app.add_middleware(
        ConcurrencyLimit, limit=max_concurrent, service=service, registry=metrics.registry
    )

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
    declare_error_responses(app)
    serve_docs_offline(app)
    return metrics
