"""Request bodies past a size limit: 413 at once, before anything holds them whole.

Neither uvicorn nor Starlette bounds a request body: a JSON route (and the scoring API's lean
paths) reads the whole body into memory before validating it, an upload fills a spool file,
so one client sending a gigabyte could exhaust the memory or the disk for every other client.
`instrument_app` puts `BodyLimit` in front of every service's routes, with the service's own
limit: `LAKEHOUSE_MAX_BODY_BYTES` for the JSON APIs, `LAKEHOUSE_MAX_UPLOAD_MB` for
sources_api's file uploads. A request announcing a larger `Content-Length` is answered 413
before its body is read; a request without one (chunked transfer) is counted while it streams
in and cut off with the same 413 once it passes the limit, whatever the app made of the
interrupted read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from lakehouse.config import Settings
from lakehouse.observability.overload import ASGIApp, Message, Receive, Scope, Send, send_error

WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class _TooLarge(Exception):
    """Raised from `receive` to stop the app reading an oversized body."""


@dataclass(frozen=True)
class Limit:
    """A service's body limit and how its 413 tells the client what to do."""

    max_bytes: Callable[[], int]  # read per request (tests override the settings)
    setting: str  # the environment variable that sets it
    advice: str  # what to do next, e.g. "split the file with `lakehouse sources split`"

    def message(self, limit: int) -> str:
        """The 413's error message for a limit of `limit` bytes."""
        return f"request body larger than {limit:,} bytes ({self.setting}): {self.advice}"


def json_body_limit(settings: Settings, advice: str = "send smaller requests") -> Limit:
    """The limit of a JSON API's bodies, `LAKEHOUSE_MAX_BODY_BYTES`.

    Args:
        settings: the service's settings.
        advice: what the 413 tells the client to do.

    Returns:
        The limit for `instrument_app`.
    """
    return Limit(lambda: settings.max_body_bytes, "LAKEHOUSE_MAX_BODY_BYTES", advice)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimit:
    """Answer 413 to POST/PUT/PATCH bodies larger than the limit (read per request)."""

    def __init__(self, app: ASGIApp, limit: Limit) -> None:
        """Wrap the rest of the application.

        Args:
            app: the next ASGI application.
            limit: the service's limit and its advice.
        """
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WITH_BODY:
            await self.app(scope, receive, send)
            return
        limit = self.limit.max_bytes()
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
            # Once over the limit, whatever the app answers (FastAPI turns the interrupted
            # read into a 400) is replaced by the 413.
            if state["exceeded"]:
                return
            state["started"] = True
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, counting_receive, guarded_send)
        if state["exceeded"] and not state["started"]:
            await self._reject(send, limit)

    async def _reject(self, send: Send, limit: int) -> None:
        # The rest of the body is never read: the connection closes after the answer.
        await send_error(send, 413, self.limit.message(limit), [(b"connection", b"close")])
