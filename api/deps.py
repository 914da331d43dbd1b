"""Dependencies of the datamarts API, one `Annotated` alias each.

Routes declare what they need (`SettingsDep`, `EngineDep`) and never build an engine
themselves: the settings come from the cached `get_settings()` (tests override it through
`app.dependency_overrides`), and the engine is the pooled, process-wide one for
`Settings.analytics_db_url`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.engine import Engine

from api.database import engine_for
from lakehouse.config import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_engine(settings: SettingsDep) -> Engine:
    """The pooled engine of the analytics DB named by the settings."""
    assert settings.analytics_db_url is not None  # derived by Settings when unset
    return engine_for(settings.analytics_db_url)


EngineDep = Annotated[Engine, Depends(get_engine)]
