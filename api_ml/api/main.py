"""The real-time fraud scoring API (port 9997): `POST /predict` and friends.

`lakehouse serve api-ml` runs `create_app()` under uvicorn. At start-up the app loads the
champions of `fraud-detector-basic` and `fraud-detector` from the MLflow registry (and, for
the full model, the lake's recent history) into memory, then polls the registry for newly
promoted champions, starts the model monitors' worker (`monitor.py`) and the source feed
(`feed.py`: batches and labels that reach the source DB after the lake's watermark go into the
online store between pipeline runs). Requests arrive as
JSON in the seed's format; answers leave as JSON with the seed's `fraud_probability`,
`is_fraud`, `confidence` plus the model that answered and why. Every prediction is also
counted in `/metrics` and, when `ELASTICSEARCH_URL` is set, shipped to the
`lakehouse-predictions` audit index without ever waiting for it. Each answer also carries the
model's cost-policy decision; reviews and declines become cases for the analysts' queue
(`casework.py`, routes in `case_routes.py`, docs/cases.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from api_ml.api import audit
from api_ml.api.case_metrics import CaseQueueCollector
from api_ml.api.case_routes import case_router
from api_ml.api.casework import CaseDesk
from api_ml.api.feed import FeedCollector, feed_forever, make_feed
from api_ml.api.lean import LeanPredict
from api_ml.api.lean_batch import LeanBatch
from api_ml.api.metrics import ScoringMetrics
from api_ml.api.monitor import Monitor
from api_ml.api.reload import poll_forever
from api_ml.api.routes import router
from api_ml.api.schemas import MAX_BATCH
from api_ml.api.state import ModelHolder
from lakehouse.config import Settings, get_settings
from lakehouse.observability.body_limit import json_body_limit
from lakehouse.observability.http import instrument_app


def create_app(settings: Settings | None = None) -> FastAPI:
    """The scoring API; models load at start-up and reload when a new champion appears.

    Builds the metrics, model holder, monitors, case desk and (when
    `LAKEHOUSE_SOURCE_FEED_SECONDS` > 0) the source feed; the lifespan loads the champions,
    starts the registry poll, the feed, the audit shipper and the workers, and stops them all
    on shutdown.

    Args:
        settings: the configuration; None means `get_settings()`.

    Returns:
        The FastAPI application with the scoring and case routes.
    """
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        holder: ModelHolder = app.state.holder
        # Started here, not in create_app: uvicorn's logging set-up closes every logging
        # handler that exists before it runs, the shipper included.
        app.state.audit = audit.from_settings(settings)
        app.state.monitor.start()
        app.state.cases.start()
        await asyncio.to_thread(holder.refresh)
        tasks = []
        if settings.model_poll_seconds > 0:
            tasks.append(asyncio.create_task(poll_forever(holder, settings.model_poll_seconds)))
        if app.state.feed is not None:
            tasks.append(
                asyncio.create_task(
                    feed_forever(holder, app.state.feed, settings, settings.source_feed_seconds)
                )
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            app.state.audit.close()
            await asyncio.to_thread(app.state.monitor.stop)
            app.state.cases.stop()

    app = FastAPI(
        title="Lakehouse fraud scoring API",
        version="1.0.0",
        description="Real-time fraud scores for card transactions (seed-compatible /predict).",
        lifespan=lifespan,
        # No OpenTelemetry here (metrics are Prometheus'): without this FastAPI looks up the
        # global OTel providers on every request, ~13 us of a sub-millisecond /predict.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    # Added first, so they sit inside the metrics and the load shedding `instrument_app` adds.
    app.add_middleware(LeanPredict)
    app.add_middleware(LeanBatch)
    body_limit = json_body_limit(settings, f"a /predict/batch holds at most {MAX_BATCH} rows")
    http_metrics = instrument_app(app, "api_ml", settings.max_concurrent_requests, body_limit)
    app.state.settings = settings
    app.state.scoring_metrics = ScoringMetrics(http_metrics.registry)
    app.state.holder = ModelHolder(settings, app.state.scoring_metrics)
    app.state.monitor = Monitor(settings, http_metrics.registry, lambda: app.state.holder.snapshot)
    app.state.audit = audit.NullAudit()
    app.state.cases = CaseDesk(settings)
    # batches and labels newer than the lake reach the online store between pipeline runs
    app.state.feed = make_feed(settings) if settings.source_feed_seconds > 0 else None
    if app.state.feed is not None:
        http_metrics.registry.register(FeedCollector(app.state.feed))
        feed = app.state.feed
        app.state.monitor.freshness.fed_newest = lambda: feed.progress.newest_ts_s
    http_metrics.registry.register(CaseQueueCollector(app.state.cases, settings))
    app.include_router(router)
    app.include_router(case_router)
    return app
