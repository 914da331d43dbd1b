"""The lean path of `POST /predict`: a plain JSON request scored without FastAPI's machinery.

A `/predict` request through FastAPI pays for route matching over every route, a dependency
resolution pass, Starlette's `Request` object and a JSON parse before the body is validated:
about 40 % of a full-model request's CPU (docs/benchmarks.md). `LeanPredict` sits in the
middleware stack inside the metrics and the load shedding (`instrument_app`) and takes the
common request — `POST /predict`, `Content-Type: application/json`, no query or only
`include_features=true|false` and a valid `reasons` scope, in any order — straight to a
Pydantic parse of the body bytes and `routes.predict_one`, the very function the FastAPI
route answers through: the same scoring, metrics, cases, audit, answer bytes and 422/503
bodies. Requests that arrive together are scored by one call (`Coalescer`,
`routes.predict_together`), each still getting the answer it would have got alone.

Anything else goes to FastAPI unchanged, the body it already read replayed: other paths,
other content types or query strings, and every body that fails validation (so a bad JSON,
a wrong type, a missing field get FastAPI's own 422, word for word). The route stays
declared, so `/docs` and the OpenAPI document do not change. `LeanPath` is that mechanism for
any declared `POST` route: `LeanPredict` here, `lean_batch.LeanBatch` for `/predict/batch`.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from dataclasses import dataclass
from typing import Any, ClassVar, get_args
from urllib.parse import parse_qsl

from fastapi.responses import Response
from pydantic import ValidationError

from api_ml.api.routes import ReasonsQuery, predict_one, predict_together, router
from api_ml.api.schemas import TransactionRequest
from api_ml.api.state import Snapshot
from lakehouse.observability.overload import ASGIApp, Message, Receive, Scope, Send

PATH = "/predict"
# The query parameters the lean path reads itself, and the values it reads for each; any
# other parameter, value or repeat leaves the request to FastAPI.
INCLUDE_FEATURES = {"false": False, "true": True}
REASONS = frozenset(get_args(ReasonsQuery))


@functools.lru_cache(maxsize=256)
def lean_query(query: bytes) -> tuple[bool, str | None] | None:
    """`(include_features, reasons)` of a query string the lean path reads itself.

    Parsed as Starlette parses it (`parse_qsl`, any order); cached, since clients repeat a
    handful of query strings.

    Args:
        query: the raw query string of the request.

    Returns:
        The two parameters (`reasons` None when not given), or None when the query holds
        anything else: another parameter, a repeat, or a value FastAPI must judge.
    """
    try:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    values = dict(pairs)
    if len(values) != len(pairs) or not values.keys() <= {"include_features", "reasons"}:
        return None
    include = values.get("include_features", "false")
    reasons = values.get("reasons")
    if include not in INCLUDE_FEATURES or (reasons is not None and reasons not in REASONS):
        return None
    return INCLUDE_FEATURES[include], reasons


def is_plain_json(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the request says `Content-Type: application/json`, without parameters.

    Args:
        headers: the ASGI scope's raw headers.

    Returns:
        True for exactly `application/json` (any case); False for a charset or another type.
    """
    for name, value in headers:
        if name == b"content-type":
            return value.lower() == b"application/json"
    return False


def declared_route(path: str) -> Any:
    """The router's `POST path` route: its path is the metrics' `route` label, its schema the
    OpenAPI one.

    Args:
        path: the route's path, e.g. `/predict`.

    Returns:
        The FastAPI route object.
    """
    return next(
        route for route in router.routes if getattr(route, "path", None) == path
        and "POST" in getattr(route, "methods", ())
    )


class LeanPath:
    """ASGI middleware: plain JSON `POST` requests to one declared route, with a query the
    lean paths read (`lean_query`), answered without FastAPI's routing, dependencies and
    request objects; every other request, and every body `validated` refuses, passes
    through to FastAPI untouched (the body replayed).

    A subclass names its `path` and says how it validates a body and answers it.
    """

    path: ClassVar[str]

    def __init__(self, app: ASGIApp) -> None:
        """Wrap the rest of the application.

        Args:
            app: the next ASGI application (FastAPI's exception middleware and router).
        """
        self.app = app
        self.route = declared_route(self.path)

    def validated(self, body: bytes) -> Any | None:
        """The parsed, validated body, or None to leave the request to FastAPI."""
        raise NotImplementedError

    async def answer(
        self, app: Any, snapshot: Snapshot, parsed: Any, include_features: bool,
        reasons: str | None,
    ) -> Response:  # fmt: skip
        """The answer to a validated body (the route's own function)."""
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = None
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "POST":
            query = lean_query(scope["query_string"])
        if query is None or not is_plain_json(scope["headers"]):
            await self.app(scope, receive, send)
            return
        received, body = await read_body(receive)
        complete = received[-1]["type"] == "http.request"
        parsed = self.validated(body) if complete and body else None
        if parsed is None:  # FastAPI answers it, with its own error body
            await self.app(scope, replay(received, receive), send)
            return
        app = scope["app"]
        scope["route"] = self.route  # the metrics' route label, as FastAPI's routing sets it
        response = await self.answer(app, app.state.holder.snapshot, parsed, *query)
        await response(scope, receive, send)


@dataclass(frozen=True)
class _Waiting:
    """A validated `/predict` request waiting for its answer."""

    snapshot: Snapshot
    transaction: TransactionRequest
    include_features: bool
    reasons: str | None
    answer: asyncio.Future[Response]

    def call(self) -> tuple[int, bool, str | None]:
        """What a scoring call is made with: requests that share it can share the call."""
        return id(self.snapshot), self.include_features, self.reasons


class Coalescer:
    """Concurrent `/predict` requests answered by one scoring call (`predict_together`).

    A request waits for one turn of the event loop: every request whose body was read in the
    same turn (the loop reads all the connections that are ready at once) joins it, and the
    lot is scored by one call — one model call, one store read, one case write, one monitor
    record — in arrival order. A lone request is answered as before (`predict_one`), one
    loop turn later; under load the calls grow with the queue and each request costs less
    CPU (docs/scoring.md). Consecutive requests with other models or another query are
    scored in calls of their own, in order.
    """

    def __init__(self) -> None:
        self._waiting: list[_Waiting] = []
        self._drains: set[asyncio.Task[None]] = set()  # referenced until done

    async def answer(
        self, app: Any, snapshot: Snapshot, transaction: TransactionRequest,
        include_features: bool, reasons: str | None,
    ) -> Response:  # fmt: skip
        """The request's answer, once the call that scores it has run.

        Args:
            app: the application (`predict_one`'s).
            snapshot: the models served when the request arrived.
            transaction: the validated request body.
            include_features: add the model inputs to the answer.
            reasons: the `reasons` query value, None for the default scope.

        Returns:
            What `predict_one` answers to this request.
        """
        loop = asyncio.get_running_loop()
        waiting = _Waiting(snapshot, transaction, include_features, reasons, loop.create_future())
        self._waiting.append(waiting)
        if len(self._waiting) == 1:  # the first of this turn: the drain runs on the next one
            drain = loop.create_task(self._drain(app))
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        return await waiting.answer

    async def _drain(self, app: Any) -> None:
        """Answer every waiting request, in runs of requests one call can answer."""
        taken, self._waiting = self._waiting, []
        for _, consecutive in itertools.groupby(taken, key=_Waiting.call):
            run = list(consecutive)
            first = run[0]
            try:
                app.state.scoring_metrics.groups.observe(len(run))
                answers = await predict_together(
                    app, first.snapshot, [w.transaction for w in run], first.include_features,
                    first.reasons,
                )  # fmt: skip
            except Exception as error:  # each request fails as it would have alone
                for waiting in run:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(error)
                continue
            for waiting, answer in zip(run, answers, strict=True):
                if not waiting.answer.done():
                    waiting.answer.set_result(answer)


class LeanPredict(LeanPath):
    """`POST /predict`: one transaction, answered through `routes.predict_one`, or with the
    requests that arrived with it (`Coalescer`)."""

    path = PATH

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self.coalescer = Coalescer()

    def validated(self, body: bytes) -> TransactionRequest | None:
        """The request body as a `TransactionRequest`, or None when it is not a valid one."""
        try:
            return TransactionRequest.model_validate_json(body)
        except ValidationError:
            return None

    async def answer(
        self, app: Any, snapshot: Snapshot, parsed: TransactionRequest, include_features: bool,
        reasons: str | None,
    ) -> Response:  # fmt: skip
        """`routes.predict_one`'s answer, the FastAPI route's own, through the coalescer
        unless `LAKEHOUSE_PREDICT_COALESCE` is off."""
        if not app.state.settings.predict_coalesce:
            return await predict_one(app, snapshot, parsed, include_features, reasons)
        return await self.coalescer.answer(app, snapshot, parsed, include_features, reasons)


async def read_body(receive: Receive) -> tuple[list[Message], bytes]:
    """The messages received until the body is complete (or the client left), and the body.

    Args:
        receive: the server's ASGI `receive`.

    Returns:
        The messages as received (for `replay`) and the body bytes they carried.
    """
    received: list[Message] = []
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    return received, b"".join(m.get("body", b"") for m in received)


def replay(received: list[Message], receive: Receive) -> Receive:
    """A `receive` that hands out `received` again, then defers to the server's.

    Args:
        received: the messages `read_body` took.
        receive: the server's ASGI `receive`.

    Returns:
        The `receive` to hand to FastAPI, which reads the body as if untouched.
    """
    pending = list(received)

    async def replaying() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replaying
