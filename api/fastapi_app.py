"""The datamarts API (port 9999): the published gold datamarts over HTTP.

The pipeline publishes five datamarts into the analytics DB (`Settings.analytics_db_url`);
this app serves them read-only as JSON — a page and a by-key route per datamart, generated
from the one registry `api.datamarts.DATAMARTS`, plus `/summary` for the UI and Grafana,
`/health` (database reachable and datamarts published) and `/metrics` (Prometheus).
Start it with `lakehouse serve api [--host H] [--port P]`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api import schemas
from api.database import ServiceUnavailable, engine_for
from api.datamarts import DATAMARTS
from api.deps import ReadAccess
from api.routers import datamart, health, summary
from lakehouse.config import Settings, get_settings
from lakehouse.observability.body_limit import json_body_limit
from lakehouse.observability.errors import error_response
from lakehouse.observability.http import instrument_app

DESCRIPTION = (
    "Fraud datamarts published by the Lakehouse pipeline: per client, card, client velocity, "
    "merchant category (MCC) and hour of day. Rates are over labeled purchases only."
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The datamarts API; `settings` overrides `get_settings()` (the tests use this).

    Args:
        settings: the configuration to serve with (default: the process's settings).

    Returns:
        The app: health and metrics open, the summary and every datamart behind the read key.
    """
    settings = settings or get_settings()
    assert settings.analytics_db_url is not None  # derived by Settings when unset
    # Built now so a malformed URL stops the service at start-up with SQLAlchemy's message.
    engine = engine_for(settings.analytics_db_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="Lakehouse datamarts API", version="1.0.0", description=DESCRIPTION, lifespan=lifespan
    )
    app.dependency_overrides[get_settings] = lambda: settings
    instrument_app(app, "api", settings.max_concurrent_requests, json_body_limit(settings))

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(_: Request, exc: ServiceUnavailable) -> JSONResponse:
        return error_response(503, str(exc))

    app.include_router(health.router)
    # Health and metrics stay open (probes, Prometheus); the data needs the read key if set.
    guarded = {"dependencies": [ReadAccess], "responses": schemas.error_responses(401, 403)}
    app.include_router(summary.router, **guarded)
    for name, entry in DATAMARTS.items():
        app.include_router(datamart.datamart_router(name, entry), **guarded)
    return app
