"""sources_api's database and settings dependencies, one `Annotated` alias each.

Routes never read the environment or build engines: they declare `SettingsDep` (the process
settings, overridable in tests through `app.dependency_overrides[get_settings]`), `EngineDep`
(the source DB engine for those settings — `lakehouse.sources.schema.source_engine` — created
once per app and URL, schema ensured) and `WriteAccess` (the shared API-key check of
`lakehouse.api_keys`, for write endpoints).
The source DB itself (table, loader) lives in the core, `lakehouse.sources`.
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from lakehouse.api_keys import api_key_dependency
from lakehouse.config import Settings, get_settings
from lakehouse.sources.schema import ensure_schema, source_engine

SettingsDep = Annotated[Settings, Depends(get_settings)]

_engine_lock = threading.Lock()


def engine_for(app: FastAPI, settings: Settings) -> Engine:
    """The app's engine for `settings.source_db_url`, created (and schema ensured) once.

    Args:
        app: the application whose `state.engines` caches the engines.
        settings: the settings naming the source DB.

    Returns:
        The engine for that URL, shared by every request of the app.
    """
    url = settings.source_db_url
    assert url is not None  # filled in by Settings
    engines: dict[SecretStr, Engine] = app.state.engines
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
    """The route's source DB engine (see `engine_for`).

    Args:
        request: the current request, for its application.
        settings: the request's settings.

    Returns:
        The app's engine for the configured source DB.
    """
    return engine_for(request.app, settings)


EngineDep = Annotated[Engine, Depends(get_engine)]

# The one API-key check of the platform (lakehouse.api_keys), with this app's settings.
WriteAccess = api_key_dependency(get_settings, "write")
