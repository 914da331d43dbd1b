"""Dependencies of the scoring API's routes, one `Annotated` alias each.

Routes never build settings or load models themselves: they declare `SettingsDep`,
`HolderDep` or `SnapshotDep` and FastAPI hands them the objects `create_app` stored on the
application. Tests override `get_settings` (or build the app with their own settings).
`ActorDep` is the analyst behind a case-API bearer token (401 without one).
`WriteAccess` (the shared check of `lakehouse.api_keys`) protects the administrative
`POST /model/reload` when `LAKEHOUSE_API_KEY` is set: 401 without the key, 403 with a wrong one.
"""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import OperationalError

from api_ml.api.casework import CaseDesk
from api_ml.api.feed import feed_summary
from api_ml.api.state import ModelHolder, Snapshot
from lakehouse.api_keys import api_key_dependency
from lakehouse.cases.auth import InvalidCredentials, actor_for_token
from lakehouse.cases.workflow import Actor
from lakehouse.config import Settings, get_settings


# The dependencies are `async def` although they never wait: FastAPI runs a plain `def`
# dependency in its thread pool, a thread hop per request for an attribute read.
async def get_holder(request: Request) -> ModelHolder:
    """The model holder `create_app` stored on the application.

    Args:
        request: the current request (its app carries the holder).

    Returns:
        The application's `ModelHolder`.
    """
    return request.app.state.holder


async def get_snapshot(request: Request) -> Snapshot:
    """The models as they are now; a request keeps this one snapshot to the end.

    Read from the request directly, not through `get_holder`: each level of dependencies
    costs FastAPI a resolution pass, a measurable share of a `/predict` request's CPU.

    Args:
        request: the current request (its app carries the holder).

    Returns:
        The holder's current `Snapshot`.
    """
    return request.app.state.holder.snapshot


async def app_settings(request: Request) -> Settings:
    """The settings `create_app` was given (or `get_settings()`), kept on the application.

    Args:
        request: the current request (its app carries the settings).

    Returns:
        The application's `Settings`.
    """
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(app_settings)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
SnapshotDep = Annotated[Snapshot, Depends(get_snapshot)]


async def source_feed_summary(request: Request) -> dict[str, object]:
    """The source feed's progress and lag (`api_ml/api/feed.py`), for `/model/info`.

    Args:
        request: the current request (its app carries the feed and settings).

    Returns:
        `feed_summary`'s block: `{"enabled": False, ...}` when the feed is off.
    """
    return feed_summary(request.app.state.feed, request.app.state.settings.source_feed_seconds)


FeedSummaryDep = Annotated[dict[str, object], Depends(source_feed_summary)]


# The one API-key check of the platform (lakehouse.api_keys) with this app's settings.
WriteAccess = api_key_dependency(app_settings, "write")


async def get_case_desk(request: Request) -> CaseDesk:
    """The case desk `create_app` stored on the application.

    Args:
        request: the current request (its app carries the desk).

    Returns:
        The application's `CaseDesk`.
    """
    return request.app.state.cases


def case_store(desk: Annotated[CaseDesk, Depends(get_case_desk)]) -> sa.Engine:
    """The analytics DB engine with the case tables created; 503 while it is unreachable.

    Args:
        desk: the application's case desk.

    Returns:
        The engine of the case store.

    Raises:
        HTTPException: 503 when the analytics DB cannot be reached.
    """
    try:
        return desk.ready_engine()
    except OperationalError:
        raise HTTPException(503, "the case store (analytics DB) is unreachable; retry") from None


CaseDeskDep = Annotated[CaseDesk, Depends(get_case_desk)]
CaseStoreDep = Annotated[sa.Engine, Depends(case_store)]
_bearer = HTTPBearer(auto_error=False, description="A token from POST /auth/token.")


def current_actor(
    engine: CaseStoreDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The analyst behind the bearer token; 401 without one or with a bad one.

    Args:
        engine: the case store, where tokens are checked.
        credentials: the `Authorization: Bearer` header, None when absent.

    Returns:
        The analyst the token belongs to.

    Raises:
        HTTPException: 401 (with a `WWW-Authenticate: Bearer` challenge) when the token is
            missing, unknown or expired.
    """
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(
            401,
            "log in first: POST /auth/token, then send 'Authorization: Bearer <token>'",
            headers=challenge,
        )
    try:
        return actor_for_token(engine, credentials.credentials)
    except InvalidCredentials as exc:
        raise HTTPException(401, str(exc), headers=challenge) from None


ActorDep = Annotated[Actor, Depends(current_actor)]

__all__ = [
    "ActorDep",
    "CaseDeskDep",
    "CaseStoreDep",
    "FeedSummaryDep",
    "HolderDep",
    "SettingsDep",
    "SnapshotDep",
    "WriteAccess",
    "get_settings",
]
