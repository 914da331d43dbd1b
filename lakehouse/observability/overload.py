"""Load shedding shared by every HTTP service: past a limit, 503 with Retry-After at once.

`instrument_app` puts `ConcurrencyLimit` in front of each service's routes. It counts the
requests in flight; when `LAKEHOUSE_MAX_CONCURRENT_REQUESTS` are already being served, a new
request is answered 503 with `Retry-After` and the one error body
(`lakehouse.observability.errors`) without reaching a route, a worker thread or a model. So
under overload latency stays bounded for the requests that are admitted, the worker threads
stay bounded, and a client (or a load balancer) knows to come back instead of waiting in an
unbounded queue. `/health` and `/metrics` are never shed: probes must see a busy service as
alive. Each shed request is counted in `http_requests_shed_total`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from lakehouse.observability.errors import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

RETRY_AFTER_SECONDS = 1
NEVER_SHED = frozenset({"/health", "/metrics"})


class ConcurrencyLimit:
    """ASGI middleware: at most `limit` requests in flight; the others get 503 at once.

    The counter lives on the event loop's thread (ASGI calls are not concurrent across
    threads), so no lock is needed.
    """

    def __init__(self, app: ASGIApp, limit: int, service: str, registry: CollectorRegistry) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0
        self.shed = Counter(
            "http_requests_shed",
            "Requests answered 503 at once because the service was at its concurrency limit.",
            ["service"],
            registry=registry,
        ).labels(service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in NEVER_SHED:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self.shed.inc()
            await self._reject(send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _reject(self, send: Send) -> None:
        await send_error(
            send,
            503,
            f"overloaded: {self.limit} requests already in progress "
            f"(LAKEHOUSE_MAX_CONCURRENT_REQUESTS); retry after {RETRY_AFTER_SECONDS} s",
            [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())],
        )


async def send_error(
    send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer with the one JSON error body (`errors.error_body`), from a plain ASGI middleware.

    Args:
        send: the server's ASGI `send`.
        status: the HTTP status.
        message: what went wrong and what to do next.
        headers: extra response headers (e.g. `Retry-After`).
    """
    body = json.dumps(error_body(status, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
