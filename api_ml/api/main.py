"""The real-time fraud scoring API (port 9997): `POST /predict` and friends.

`lakehouse serve api-ml` runs `create_app()` under uvicorn. At start-up the app loads the
champions of `fraud-detector-basic` and `fraud-detector` from the MLflow registry (and, for
the full model, the lake's recent history) into memory, then polls the registry for newly
promoted champions. Requests arrive as JSON in the seed's format; answers leave as JSON with
the seed's `fraud_probability`, `is_fraud`, `confidence` plus the model that answered and
why. Every prediction is also counted in `/metrics` and, when `ELASTICSEARCH_URL` is set,
shipped to the `lakehouse-predictions` audit index without ever waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api_ml.api import audit
from api_ml.api.deps import HolderDep, SettingsDep, SnapshotDep, require_api_key
from api_ml.api.metrics import ScoringMetrics
from api_ml.api.normalise import InvalidRequest
from api_ml.api.reload import poll_forever
from api_ml.api.schemas import (
    MAX_BATCH,
    BatchResponse,
    HealthResponse,
    ModelInfoResponse,
    ModelPublic,
    PredictionResponse,
    ReloadResponse,
    TransactionRequest,
)
from api_ml.api.scoring import ModelUnavailable, flavour_of, score
from api_ml.api.state import ModelHolder, ServingModel, Snapshot
from lakehouse.config import Settings, get_settings
from lakehouse.observability.http import instrument_app

IncludeFeatures = Annotated[
    bool, Query(description="Also return the model inputs computed for the transaction.")
]
ERROR_RESPONSES: dict[int | str, dict[str, str]] = {
    422: {"description": "A value the model does not know; `detail` lists what is allowed."},
    503: {"description": "No model is loaded for this kind of request; the message says why."},
}


def _error(status: int, message: str, detail: object | None = None) -> JSONResponse:
    body: dict[str, object] = {"error": message, "status": status}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status)


async def _score(
    request_app: FastAPI,
    snapshot: Snapshot,
    settings: Settings,
    transactions: list[TransactionRequest],
    include_features: bool,
    batch: bool,
) -> list[PredictionResponse] | JSONResponse:
    """Score and record; turns domain errors into 422/503 answers."""
    metrics: ScoringMetrics = request_app.state.scoring_metrics
    start = time.perf_counter()
    try:
        needs_state = any(flavour_of(t) == "full" for t in transactions)
        # The full model runs DuckDB over the online state: keep it off the event loop.
        if needs_state:
            answers = await run_in_threadpool(
                score, snapshot, transactions, include_features=include_features, batch=batch
            )
        else:
            answers = score(snapshot, transactions, include_features=include_features, batch=batch)
    except InvalidRequest as invalid:
        return _error(422, f"invalid request: {invalid}", invalid.details())
    except ModelUnavailable as missing:
        return _error(503, str(missing))
    elapsed = time.perf_counter() - start
    for flavour in {a.flavour for a in answers}:
        mine = [a for a in answers if a.flavour == flavour]
        metrics.observe(
            flavour, elapsed, [a.fraud_probability for a in mine], [a.is_fraud for a in mine]
        )
    request_app.state.audit.ship(transactions, answers)
    return answers


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
    )


def _add_routes(app: FastAPI) -> None:
    @app.post(
        "/predict",
        response_model=PredictionResponse,
        responses=ERROR_RESPONSES,
        response_model_exclude_none=True,
    )
    async def predict(
        transaction: TransactionRequest,
        snapshot: SnapshotDep,
        settings: SettingsDep,
        include_features: IncludeFeatures = False,
    ) -> PredictionResponse | JSONResponse:
        """Score one transaction: basic model for the seed's fields, full model with ids."""
        result = await _score(app, snapshot, settings, [transaction], include_features, False)
        return result if isinstance(result, JSONResponse) else result[0]

    @app.post(
        "/predict/batch",
        response_model=BatchResponse,
        response_model_exclude_none=True,
        responses={**ERROR_RESPONSES, 413: {"description": f"More than {MAX_BATCH} rows."}},
    )
    async def predict_batch(
        transactions: list[TransactionRequest],
        snapshot: SnapshotDep,
        settings: SettingsDep,
        include_features: IncludeFeatures = False,
    ) -> BatchResponse | JSONResponse:
        """Score up to MAX_BATCH transactions with one model call per flavour."""
        if len(transactions) > MAX_BATCH:
            return _error(
                413,
                f"a batch holds at most {MAX_BATCH} transactions, got "
                f"{len(transactions)}: split it",
            )
        if not transactions:
            return _error(422, "a batch needs at least one transaction")
        result = await _score(app, snapshot, settings, transactions, include_features, True)
        if isinstance(result, JSONResponse):
            return result
        return BatchResponse(data=result, count=len(result))

    @app.get("/model/info", response_model=ModelInfoResponse)
    def model_info(snapshot: SnapshotDep) -> ModelInfoResponse:
        """Name, version, metrics, threshold, data versions and feature set of each flavour."""
        full = snapshot.models.get("full")
        return ModelInfoResponse(
            models={
                f: (_public(s, f) if (s := snapshot.models.get(f)) else None)
                for f in ("basic", "full")
            },
            unavailable=snapshot.unavailable,
            online_state=full.online.summary() if full and full.online else None,
        )

    @app.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
    def health(snapshot: SnapshotDep) -> HealthResponse | JSONResponse:
        """200 when both flavours are served; 503 with the reasons otherwise."""
        body = HealthResponse(
            status="ok" if not snapshot.unavailable else "degraded",
            models=snapshot.versions(),
            unavailable=snapshot.unavailable,
        )
        if snapshot.unavailable:
            reasons = "; ".join(f"{f}: {why}" for f, why in snapshot.unavailable.items())
            return _error(503, f"not ready: {reasons}", body.model_dump())
        return body

    @app.post(
        "/model/reload", response_model=ReloadResponse, dependencies=[Depends(require_api_key)]
    )
    async def reload_model(holder: HolderDep) -> ReloadResponse:
        """Load the current champions now (instead of waiting for the next poll)."""
        changed = await asyncio.to_thread(holder.refresh)
        snapshot = holder.snapshot
        return ReloadResponse(
            changed=changed, models=snapshot.versions(), unavailable=snapshot.unavailable
        )

    @app.get("/", include_in_schema=False)
    def root() -> dict[str, object]:
        return {"service": "api_ml", "docs": "/docs", "predict": "POST /predict"}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The scoring API; models load at start-up and reload when a new champion appears."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        holder: ModelHolder = app.state.holder
        # Started here, not in create_app: uvicorn's logging set-up closes every logging
        # handler that exists before it runs, the shipper included.
        app.state.audit = audit.from_settings(settings)
        await asyncio.to_thread(holder.refresh)
        poller = None
        if settings.model_poll_seconds > 0:
            poller = asyncio.create_task(poll_forever(holder, settings.model_poll_seconds))
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            app.state.audit.close()

    app = FastAPI(
        title="Lakehouse fraud scoring API",
        version="1.0.0",
        description="Real-time fraud scores for card transactions (seed-compatible /predict).",
        lifespan=lifespan,
    )
    http_metrics = instrument_app(app, "api_ml")
    app.state.settings = settings
    app.state.scoring_metrics = ScoringMetrics(http_metrics.registry)
    app.state.holder = ModelHolder(settings, app.state.scoring_metrics)
    app.state.audit = audit.NullAudit()
    _add_routes(app)
    return app
