"""Dependencies of the datamarts API, one `Annotated` alias each.

Routes declare what they need (`SettingsDep`, `EngineDep`) and never build an engine
themselves: the settings come from the cached `get_settings()` (tests override it through
`app.dependency_overrides`), and the engine is the pooled, process-wide one for
`Settings.analytics_db_url`. `ReadAccess` is the API-key check of the data routes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.engine import Engine

from api.database import engine_for
from lakehouse.api_keys import api_key_dependency
from lakehouse.config import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_engine(settings: SettingsDep) -> Engine:
    """The pooled engine of the analytics DB named by the settings.

    Args:
        settings: the request's settings (overridden by `create_app`'s).

    Returns:
        The process-wide engine for `settings.analytics_db_url`.
    """
    assert settings.analytics_db_url is not None  # derived by Settings when unset
    return engine_for(settings.analytics_db_url)


EngineDep = Annotated[Engine, Depends(get_engine)]

# The datamarts are client and card data: with keys configured, reading them needs
# LAKEHOUSE_READ_API_KEY or LAKEHOUSE_API_KEY (the platform's one check, lakehouse.api_keys).
ReadAccess = api_key_dependency(get_settings, "read")
