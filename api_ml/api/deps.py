"""Dependencies of the scoring API's routes, one `Annotated` alias each.

Routes never build settings or load models themselves: they declare `SettingsDep`,
`HolderDep` or `SnapshotDep` and FastAPI hands them the objects `create_app` stored on the
application. Tests override `get_settings` (or build the app with their own settings).
`WriteAccess` (the shared check of `lakehouse.api_keys`) protects the administrative
`POST /model/reload` when `LAKEHOUSE_API_KEY` is set: 401 without the key, 403 with a wrong one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api_ml.api.state import ModelHolder, Snapshot
from lakehouse.api_keys import api_key_dependency
from lakehouse.config import Settings, get_settings


def get_holder(request: Request) -> ModelHolder:
    return request.app.state.holder


def get_snapshot(holder: Annotated[ModelHolder, Depends(get_holder)]) -> Snapshot:
    """The models as they are now; a request keeps this one snapshot to the end."""
    return holder.snapshot


def app_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(app_settings)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
SnapshotDep = Annotated[Snapshot, Depends(get_snapshot)]


# The one API-key check of the platform (lakehouse.api_keys) with this app's settings.
WriteAccess = api_key_dependency(app_settings, "write")


__all__ = ["HolderDep", "SettingsDep", "SnapshotDep", "WriteAccess", "get_settings"]
