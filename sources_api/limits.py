"""Request-size limit for sources_api's uploads (`LAKEHOUSE_MAX_UPLOAD_MB`).

An ASGI middleware sits in front of the routes: a request announcing a larger
`Content-Length` is answered 413 before its body is read; a request without one (chunked
transfer) is counted while it streams in and cut off with the same 413 once it passes the
limit, so an oversized upload never fills the disk or reaches the loader.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from lakehouse.observability.errors import error_body

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _TooLarge(Exception):
    """Raised from `receive` to stop the app reading an oversized body."""


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class UploadLimit:
    """Answer 413 to POST/PUT/PATCH bodies larger than `limit_bytes()` (read per request)."""

    def __init__(self, app: ASGIApp, limit_bytes: Callable[[], int]) -> None:
        self.app = app
        self.limit_bytes = limit_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in {"POST", "PUT", "PATCH"}:
            await self.app(scope, receive, send)
            return
        limit = self.limit_bytes()
        announced = _content_length(scope)
        if announced is not None and announced > limit:
            await self._reject(send, limit)
            return
        state = {"received": 0, "exceeded": False, "started": False}

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["exceeded"] = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # Once over the limit, whatever the app answers is replaced by our 413.
            if state["exceeded"]:
                return
            state["started"] = True
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, counting_receive, guarded_send)
        if state["exceeded"] and not state["started"]:
            await self._reject(send, limit)

    @staticmethod
    async def _reject(send: Send, limit: int) -> None:
        megabytes = limit // (1024 * 1024)
        message = (
            f"request body larger than the upload limit of {megabytes} MB "
            "(LAKEHOUSE_MAX_UPLOAD_MB); split the file with `lakehouse sources split` "
            "and send the parts"
        )
        body = json.dumps(error_body(413, message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
