"""The benchmark's open-loop load generator (`benchmarks/http_load.py`) against a real server.

A closed loop hides a slow service's queue (each client waits before sending its next
request); the open loop offers a fixed rate and counts each latency from the request's due
time. Against a service that takes at least 20 ms per request on one connection, offered
200 req/s, request k cannot finish before 20 ms x (k + 1) after the start, 5 ms x k after it
was due: the generator must report that wait (a lower bound, never a wall-clock ceiling).
"""

from __future__ import annotations

import asyncio

from benchmarks.http_load import post_concurrently, post_open_loop

SERVICE_MS = 20


async def _slow_app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    """An ASGI app that answers every request after at least SERVICE_MS, one at a time."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await asyncio.sleep(SERVICE_MS / 1000)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2"), (b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}"})


def test_open_loop_counts_the_queue_a_closed_loop_hides(live_server) -> None:  # type: ignore[no-untyped-def]
    with live_server(_slow_app) as base:
        closed, closed_errors = post_concurrently(base, [{"k": 1}] * 20, 1)
        opened, open_errors = post_open_loop(base, [{"k": 1}], 1, rate=200, seconds=0.5)
    assert closed_errors == open_errors == 0
    assert closed["p99_ms"] >= SERVICE_MS
    # 100 requests due 5 ms apart on one connection served >= 20 ms each: request k waits at
    # least 20 + 15 k ms from its due time; the 99th percentile is request 98's or later.
    assert opened["p99_ms"] >= SERVICE_MS + 15 * 98
    assert opened["p50_ms"] >= SERVICE_MS + 15 * 49
    assert opened["offered_rps"] == 200
