"""sources_api's database and settings dependencies, one `Annotated` alias each.

Routes never read the environment or build engines: they declare `SettingsDep` (the process
settings, overridable in tests through `app.dependency_overrides[get_settings]`), `EngineDep`
(the source DB engine for those settings — `lakehouse.sources.schema.source_engine` — created
once per app and URL, schema ensured) and `WriteAccess` (the API-key check of write endpoints).
The source DB itself (table, loader) lives in the core, `lakehouse.sources`.
"""

from __future__ import annotations

import secrets
import threading
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.security import APIKeyHeader
from sqlalchemy.engine import Engine

from lakehouse.config import Settings, get_settings
from lakehouse.sources.schema import ensure_schema, source_engine

SettingsDep = Annotated[Settings, Depends(get_settings)]

_engine_lock = threading.Lock()


def engine_for(app: FastAPI, settings: Settings) -> Engine:
    """The app's engine for `settings.source_db_url`, created (and schema ensured) once."""
    url = settings.source_db_url
    assert url is not None  # filled in by Settings
    engines: dict[str, Engine] = app.state.engines
    with _engine_lock:
        if url not in engines:
            engine = source_engine(url)
            try:
                ensure_schema(engine)
            except Exception:
                engine.dispose()
                raise
            engines[url] = engine
        return engines[url]


def get_engine(request: Request, settings: SettingsDep) -> Engine:
    """The route's source DB engine (see `engine_for`)."""
    return engine_for(request.app, settings)


EngineDep = Annotated[Engine, Depends(get_engine)]

# Declared as a security scheme so /docs offers an "Authorize" button for the key.
_api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Required on write endpoints when the service runs with LAKEHOUSE_API_KEY set.",
)


def require_api_key(
    settings: SettingsDep, given: Annotated[str | None, Depends(_api_key_header)]
) -> None:
    """Let the request through when no key is configured or the right key is sent."""
    expected = settings.api_key
    if not expected:
        return
    if not given:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this endpoint writes data and needs the X-API-Key header "
            "(the service runs with LAKEHOUSE_API_KEY set)",
        )
    # Constant-time comparison: response timing must not reveal how much of the key matched.
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "the X-API-Key header does not match LAKEHOUSE_API_KEY"
        )


WriteAccess = Depends(require_api_key)
