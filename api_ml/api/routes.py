"""The scoring API's routes: thin functions over `scoring.py`, `state.py` and the schemas.

`create_app` (main.py) mounts `router`. Each route declares what it needs through the
`Annotated` dependencies of `deps.py` (the current model snapshot, the holder for reloads),
hands the validated request to `scoring.score`, and turns its domain errors into JSON
answers: 422 with the allowed values, 503 with the reason no model is loaded.
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Body, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import TypeAdapter

from api_ml.api.casework import CaseDesk
from api_ml.api.deps import FeedSummaryDep, HolderDep, SnapshotDep, WriteAccess
from api_ml.api.metrics import ScoringMetrics
from api_ml.api.normalise import InvalidRequest
from api_ml.api.schemas import (
    MAX_BATCH,
    BatchResponse,
    HealthResponse,
    LabelRequest,
    LabelResponse,
    ModelInfoResponse,
    ModelPublic,
    PredictionResponse,
    ReloadResponse,
    TransactionRequest,
)
from api_ml.api.scoring import ModelUnavailable, flavour_of, score, shows_reasons
from api_ml.api.state import ServingModel, Snapshot
from lakehouse.config import ReasonsScope, Settings
from lakehouse.observability.errors import ErrorItem, error_response

router = APIRouter()

IncludeFeatures = Annotated[
    bool, Query(description="Also return the model inputs computed for the transaction.")
]
# The values of `?reasons=`: the three scopes, and the `true` / `false` that `/predict/batch`
# accepted before the scopes existed, meaning `all` and `none`.
ReasonsQuery = Literal["flagged", "all", "none", "true", "false"]
REASONS_ALIASES: dict[str, ReasonsScope] = {"true": "all", "false": "none"}
WithReasons = Annotated[
    ReasonsQuery | None,
    Query(
        description="Which answers carry their `reasons`, the three features that pushed the "
        "score most toward fraud (TreeSHAP contributions, the costliest part of scoring). "
        "`flagged`: only the answers decided `review` or `decline`, which become cases that "
        "analysts and the cardholder's bank read; an approved answer has `reasons: []`. "
        "`all`: every answer. `none`: every `reasons` empty (bulk re-scoring): only the "
        "reviews and declines are explained, for their cases. `true` and `false` mean `all` "
        "and `none`. The probability, the decision and the case are the same under every "
        "scope. Without it: the service's `LAKEHOUSE_SCORING_REASONS`, `flagged` unless "
        "configured."
    ),
]
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    422: {"description": "A value the model does not know; `detail` lists what is allowed."},
    503: {"description": "No model is loaded for this kind of request, or overloaded."},
}
# From this many rows a call computes its features as columns, below it row by row
# (`predict_together`; docs/benchmarks.md has the crossing).
COLUMNAR_ROWS = 40
Transactions = Annotated[
    list[TransactionRequest], Body(min_length=1, description=f"1 to {MAX_BATCH} transactions.")
]


async def _score(
    request_app: FastAPI,
    snapshot: Snapshot,
    transactions: list[TransactionRequest],
    include_features: bool,
    batch: bool,
    reasons: str | None = None,
    rows_are_requests: bool = False,
) -> list[PredictionResponse] | JSONResponse:
    """Score, decide and record; turns domain errors into 422/503 answers. With
    `rows_are_requests` each row is a request of its own (`predict_together`), each counted
    by the latency histogram."""
    metrics: ScoringMetrics = request_app.state.scoring_metrics
    settings: Settings = request_app.state.settings
    scope = reasons_scope(reasons, settings)
    start = time.perf_counter()
    try:
        # A review's or decline's inputs are always added (its case keeps them); `open_cases`
        # drops them from the answer when they were not asked for.
        run = functools.partial(
            score,
            snapshot,
            transactions,
            include_features=include_features,
            batch=batch,
            monitor=request_app.state.monitor,
            reasons=scope,
        )
        # A Redis round trip blocks: keep it off the event loop. The in-process store answers
        # in microseconds, so its requests stay on the loop (no thread hop).
        remote = settings.online_store == "redis"
        needs_thread = remote and any(flavour_of(t) == "full" for t in transactions)
        answers = await run_in_threadpool(run) if needs_thread else run()
    except InvalidRequest as invalid:
        return error_response(422, f"invalid request: {invalid}", invalid.details())
    except ModelUnavailable as missing:
        return error_response(503, str(missing))
    elapsed = time.perf_counter() - start
    cases: CaseDesk = request_app.state.cases
    records = cases.open_cases(transactions, answers, include_features, shows_reasons(scope))
    await cases.keep(records)
    for flavour in {a.flavour for a in answers}:
        mine = [a for a in answers if a.flavour == flavour]
        metrics.observe(
            flavour, elapsed, [a.fraud_probability for a in mine], [a.is_fraud for a in mine],
            len(mine) if rows_are_requests else 1,
        )  # fmt: skip
    request_app.state.audit.ship(transactions, answers)
    return answers


def reasons_scope(asked: str | None, settings: Settings) -> ReasonsScope:
    """The reasons scope of a request: the one it asked for, else the configured default.

    Args:
        asked: the `reasons` query value (a `ReasonsQuery`), None when not given.
        settings: the service's settings (`scoring_reasons`, the default scope).

    Returns:
        `flagged`, `all` or `none` (`true` and `false` read as `all` and `none`).
    """
    if asked is None:
        return settings.scoring_reasons
    return REASONS_ALIASES.get(asked, asked)  # type: ignore[return-value]


_ANSWERS = TypeAdapter(list[PredictionResponse])


def _json(content: bytes) -> Response:
    """An answer already serialised by its schema: FastAPI does not validate it again."""
    return Response(content, media_type="application/json")


def _public(served: ServingModel, flavour: str) -> ModelPublic:
    model = served.model
    return ModelPublic(
        name=model.name,
        version=str(model.version),
        flavour=flavour,  # type: ignore[arg-type]
        threshold=float(model.threshold),
        metrics=dict(model.metrics),
        data_versions=dict(model.data_versions),
        feature_set_version=model.feature_set_version,
        feature_columns=list(model.feature_columns),
        run_id=model.run_id,
        trained_at=str(model.trained_at),
        loaded_at=served.loaded_at,
        vocabulary=served.vocabulary.as_dict(),
        compiled_trees=bool(getattr(model.booster, "compiled", False)),
    )


async def predict_one(
    request_app: FastAPI,
    snapshot: Snapshot,
    transaction: TransactionRequest,
    include_features: bool,
    reasons: str | None = None,
) -> Response:
    """The `/predict` answer to one validated transaction, whichever path read it.

    Both the FastAPI route below and the lean ASGI path (`lean.py`) answer through here:
    the same scoring, metrics, cases and audit, the same bytes and error bodies.

    Args:
        request_app: the application (its state carries metrics, monitor, cases, audit).
        snapshot: the models served at this moment.
        transaction: the validated request body.
        include_features: add the model inputs to the answer.
        reasons: the `reasons` query value (a `ReasonsQuery`), None for the default scope.

    Returns:
        The JSON answer, or the 422/503 error answer.
    """
    result = await _score(request_app, snapshot, [transaction], include_features, False, reasons)
    if isinstance(result, JSONResponse):
        return result
    return _json(result[0].model_dump_json(exclude_none=True).encode())


async def predict_together(
    request_app: FastAPI,
    snapshot: Snapshot,
    transactions: list[TransactionRequest],
    include_features: bool,
    reasons: str | None = None,
) -> list[Response]:
    """The `/predict` answers to several requests that arrived together, scored in one call.

    The answers are those of `predict_one` on each request in turn, byte for byte (a lone
    request is simply answered by it): a row sees the earlier rows' events as a one-row call
    would (`OnlineState.read_batch`), and each answer is serialised alone. From
    `COLUMNAR_ROWS` rows the features are computed as columns (`columnar.feature_matrix`). A
    call that any request makes fail (a value outside the vocabulary, a model not loaded)
    fails before anything is scored or recorded; each request is then answered alone, with
    its own 422/503.

    Args:
        request_app: the application (its state carries metrics, monitor, cases, audit).
        snapshot: the models served at this moment.
        transactions: the validated request bodies, in arrival order.
        include_features: add the model inputs to each answer.
        reasons: the `reasons` query value (a `ReasonsQuery`), None for the default scope.

    Returns:
        One answer per request, in order.
    """
    if len(transactions) > 1:
        columnar = len(transactions) >= COLUMNAR_ROWS
        result = await _score(
            request_app, snapshot, transactions, include_features, columnar, reasons,
            rows_are_requests=True,
        )  # fmt: skip
        if not isinstance(result, JSONResponse):
            return [_json(a.model_dump_json(exclude_none=True).encode()) for a in result]
    # One request, or a call that one of them made fail: each alone, with its own 422/503.
    return [
        await predict_one(request_app, snapshot, transaction, include_features, reasons)
        for transaction in transactions
    ]


@router.post(
    "/predict",
    response_model=PredictionResponse,
    responses=ERROR_RESPONSES,
    response_model_exclude_none=True,
)
async def predict(
    request: Request,
    transaction: TransactionRequest,
    snapshot: SnapshotDep,
    include_features: IncludeFeatures = False,
    reasons: WithReasons = None,
) -> Response:
    """Score one transaction: basic model for the seed's fields, full model with ids."""
    return await predict_one(request.app, snapshot, transaction, include_features, reasons)


@router.post(
    "/predict/batch",
    response_model=BatchResponse,
    response_model_exclude_none=True,
    responses={**ERROR_RESPONSES, 413: {"description": f"More than {MAX_BATCH} rows."}},
)
async def predict_batch(
    request: Request,
    transactions: Transactions,
    snapshot: SnapshotDep,
    include_features: IncludeFeatures = False,
    reasons: WithReasons = None,
) -> Response:
    """Score up to MAX_BATCH transactions with one model call per flavour."""
    if len(transactions) > MAX_BATCH:
        return error_response(
            413,
            f"a batch holds at most {MAX_BATCH} transactions, got {len(transactions)}: split it",
        )
    return await answer_batch(request.app, snapshot, transactions, include_features, reasons)


async def answer_batch(
    request_app: FastAPI,
    snapshot: Snapshot,
    transactions: list[TransactionRequest],
    include_features: bool,
    reasons: str | None,
) -> Response:
    """The `/predict/batch` answer built row by row (`PredictionResponse` objects).

    The route answers through here; so does the lean batch path (`lean_batch.py`) for the
    requests it leaves to this path (a refused value, a missing model: the same 422/503), and
    its tests compare its column-built bytes with these.

    Args:
        request_app: the application (its state carries metrics, monitor, cases, audit).
        snapshot: the models served at this moment.
        transactions: the validated batch (1 to MAX_BATCH rows).
        include_features: add the model inputs to each answer.
        reasons: the `reasons` query value (a `ReasonsQuery`), None for the default scope.

    Returns:
        The JSON answer `{"data": [...], "count": n}`, or the 422/503 error answer.
    """
    result = await _score(request_app, snapshot, transactions, include_features, True, reasons)
    if isinstance(result, JSONResponse):
        return result
    data = _ANSWERS.dump_json(result, exclude_none=True)
    return _json(b'{"data":' + data + b',"count":' + str(len(result)).encode() + b"}")


@router.get("/model/info", response_model=ModelInfoResponse)
def model_info(snapshot: SnapshotDep, source_feed: FeedSummaryDep) -> ModelInfoResponse:
    """Name, version, metrics, threshold, data versions and feature set of each flavour, the
    online state and the source feed that keeps it up to date between pipeline runs."""
    full = snapshot.models.get("full")
    return ModelInfoResponse(
        models={
            f: (_public(s, f) if (s := snapshot.models.get(f)) else None) for f in ("basic", "full")
        },
        unavailable=snapshot.unavailable,
        online_state=full.online.summary() if full and full.online else None,
        source_feed=source_feed,
    )


@router.get("/health", response_model=HealthResponse, responses={503: {"description": "No model."}})
def health(snapshot: SnapshotDep) -> HealthResponse | JSONResponse:
    """200 while a model is served ("degraded" lists a missing flavour); 503 with no model.

    One flavour missing leaves the other answering, so the service stays in rotation; its
    reason is in the body and in `/model/info`.
    """
    body = HealthResponse(
        status="ok" if not snapshot.unavailable else "degraded",
        models=snapshot.versions(),
        unavailable=snapshot.unavailable,
    )
    if not snapshot.models:
        reasons = "; ".join(f"{f}: {why}" for f, why in snapshot.unavailable.items())
        items = [
            ErrorItem(location=f"models.{flavour}", message=why, type="model_unavailable")
            for flavour, why in snapshot.unavailable.items()
        ]
        return error_response(503, f"not ready: {reasons}", items)
    return body


@router.post("/model/reload", response_model=ReloadResponse, dependencies=[WriteAccess])
async def reload_model(holder: HolderDep) -> ReloadResponse:
    """Load the current champions now (instead of waiting for the next poll)."""
    changed = await asyncio.to_thread(holder.refresh)
    snapshot = holder.snapshot
    return ReloadResponse(
        changed=changed, models=snapshot.versions(), unavailable=snapshot.unavailable
    )


@router.post(
    "/online/labels",
    response_model=LabelResponse,
    dependencies=[WriteAccess],
    responses={503: {"description": "No full model (and so no online state) is loaded."}},
)
def record_label(label: LabelRequest, snapshot: SnapshotDep) -> LabelResponse | JSONResponse:
    """Count a label that became known in the online risk tallies (idempotent by id)."""
    full = snapshot.models.get("full")
    if full is None or full.online is None:
        return error_response(
            503, "no online state is loaded: " + snapshot.unavailable.get("full", "")
        )
    counted, day = full.online.record_label(
        label.transaction_id, label.label, label.known_at, label.merchant_id, label.mcc
    )
    return LabelResponse(counted=counted, usable_from_day=day.isoformat())


@router.get("/", include_in_schema=False)
def root() -> dict[str, object]:
    return {"service": "api_ml", "docs": "/docs", "predict": "POST /predict"}
