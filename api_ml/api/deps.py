"""Dependencies of the scoring API's routes, one `Annotated` alias each.

Routes never build settings or load models themselves: they declare `SettingsDep`,
`HolderDep` or `SnapshotDep` and FastAPI hands them the objects `create_app` stored on the
application. Tests override `get_settings` (or build the app with their own settings).
`require_api_key` protects the administrative `POST /model/reload` when
`LAKEHOUSE_API_KEY` is set.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from api_ml.api.state import ModelHolder, Snapshot
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


def require_api_key(
    settings: SettingsDep,
    x_api_key: Annotated[
        str | None, Header(description="Needed when LAKEHOUSE_API_KEY is set.")
    ] = None,
) -> None:
    if settings.api_key is None:
        return
    if x_api_key is None or not hmac.compare_digest(x_api_key, settings.api_key):
        raise HTTPException(401, "missing or wrong X-API-Key header")


__all__ = ["HolderDep", "SettingsDep", "SnapshotDep", "get_settings", "require_api_key"]
