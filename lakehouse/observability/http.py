"""What every HTTP service of the platform has in common: metrics, JSON errors, offline docs.

`instrument_app(app, service)` is called once by each service's app factory (sources_api,
api, api_ml). It adds a middleware that counts requests and times them per route template
(so `/client_features/{client_id}` is one series, not one per id), serves those metrics at
`GET /metrics` in the Prometheus text format, sheds load past a concurrency limit
(`overload.py`), refuses oversized bodies (`body_limit.py`), and installs the one error model of
`lakehouse.observability.errors` (JSON bodies, declared in the OpenAPI document). Its `/docs`
and `/redoc` pages load their assets from the service itself (`api_docs`), so they work on a
host without internet access.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from lakehouse.observability.api_docs import serve_docs_offline
from lakehouse.observability.body_limit import BodyLimit, Limit
from lakehouse.observability.elasticsearch import ShippingCollector
from lakehouse.observability.errors import declare_error_responses, install_error_handlers
from lakehouse.observability.overload import (
    ASGIApp,
    ConcurrencyLimit,
    Message,
    Receive,
    Scope,
    Send,
)

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
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: str, seconds: float) -> None:
        """Count one request and time it.

        The labelled series are looked up once per (method, route, status): `labels()` takes a
        lock and builds a key on every call, a few microseconds of each request. Routes are
        templates and statuses few, so the cache stays small.

        Args:
            method: the HTTP method.
            route: the route template (`<unmatched>` for 404s).
            status: the answer's status code.
            seconds: how long the request took.
        """
        key = (method, route, status)
        series = self._children.get(key)
        if series is None:
            series = self._children[key] = (
                self.requests.labels(self.service, method, route, status),
                self.latency.labels(self.service, method, route),
            )
        series[0].inc()
        series[1].observe(seconds)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    # Unmatched paths (404s) share one label so scanners cannot explode the series count.
    return path if path else "<unmatched>"


class _Measure:
    """ASGI middleware: count and time every HTTP request by route template and status."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.observe(
                scope["method"], _route_template(scope), str(status), time.perf_counter() - start
            )


def instrument_app(
    app: FastAPI, service: str, max_concurrent: int, body_limit: Limit
) -> HttpMetrics:
    """Add request metrics, `GET /metrics`, JSON errors, load shedding, a body size limit and
    offline docs.

    Args:
        app: the service's application.
        service: its name, the `service` label of its metrics.
        max_concurrent: requests in flight past which it answers 503 (`ConcurrencyLimit`).
        body_limit: request bodies larger than this are answered 413 (`BodyLimit`).

    Returns:
        The metrics, whose registry the service may add its own to.
    """
    metrics = HttpMetrics(service)
    metrics.registry.register(ShippingCollector())
    app.state.http_metrics = metrics
    # Inside the load shedding and the metrics (a 413 is counted), outside every route and
    # the scoring API's lean paths, which read bodies themselves.
    app.add_middleware(BodyLimit, limit=body_limit)
    # Added before the metrics middleware, so it sits inside it: shed requests are counted.
    app.add_middleware(
        ConcurrencyLimit, limit=max_concurrent, service=service, registry=metrics.registry
    )

    # A plain ASGI middleware, not `@app.middleware("http")`: Starlette's BaseHTTPMiddleware
    # runs every request through an extra task and a memory stream, a large share of a
    # sub-millisecond scoring request.
    app.add_middleware(_Measure, metrics=metrics)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    install_error_handlers(app)
    declare_error_responses(app)
    serve_docs_offline(app)
    return metrics
