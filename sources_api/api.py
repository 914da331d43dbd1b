"""sources_api: the source system of the platform, over HTTP (port 9998).

Two jobs. It serves the reference files of the raw folder (`Settings.raw_path`: cards, users,
MCC codes, fraud labels) for the pipeline's feeder to fetch into bronze — as they are, except
that CVVs never leave (`lakehouse.sources.files`), and card and client files need an API key
when the service runs with keys (`lakehouse.api_keys`). And it
receives transaction batches — a JSON list or a transactions_data.csv upload — and appends
them to table `transaction_data` of the source DB through the one loader
(`lakehouse.sources.loader.load_batch`: validated, atomic, idempotent, stamped with a
`situation_date`), from which the feeder extracts them incrementally. It also keeps the
labels analysts give in the case queue, with when each became known (`/labels`).

`lakehouse serve sources-api` runs `create_app()`; `/docs` is the OpenAPI page, `/metrics`
the Prometheus endpoint, `/health` checks the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated

from fastapi import (
    APIRouter,
    FastAPI,
    File,
    Header,
    HTTPException,
    Query,
    Request,
    UploadFile,
    status,
)
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.exc import DBAPIError, OperationalError

from lakehouse.api_keys import GivenKey, check_api_key
from lakehouse.config import get_settings
from lakehouse.database import SOURCE_DB_SETTING, database_url
from lakehouse.formats import REFERENCE_FILES
from lakehouse.observability.body_limit import Limit
from lakehouse.observability.errors import ErrorItem, error_response
from lakehouse.observability.http import instrument_app
from lakehouse.sources.files import (
    PROTECTED_FILES,
    file_validators,
    media_type,
    not_modified,
    reference_file,
    served_content,
)
from lakehouse.sources.loader import (
    BatchRejected,
    DateWindow,
    LoadResult,
    SituationDateConflict,
    load_batch,
)
from lakehouse.sources.schema import latest_situation_date, table_stats
from sources_api.db import EngineDep, SettingsDep, WriteAccess, engine_for
from sources_api.labels import labels_router
from sources_api.schemas import (
    BatchLoadedPublic,
    ErrorPublic,
    HealthPublic,
    ReferenceFilePublic,
    ReferenceFilesPublic,
    TransactionIn,
    TransactionStatsPublic,
    row_error_item,
    transactions_frame,
)

SERVICE = "sources_api"
IfNoneMatch = Annotated[str | None, Header(
    description="ETags of the copy the client holds: 304 without a body when one matches")]
IfModifiedSince = Annotated[str | None, Header(
    description="Date of the client's copy (used only without If-None-Match): 304 when the "
    "file was not modified since")]
SituationDateQuery = Annotated[
    date | None,
    Query(
        description="Business date of the batch (YYYY-MM-DD). Default: max(latest present "
        "+ 1 day, latest transaction date in the batch). Never earlier than the "
        "latest present."
    ),
]
WRITE_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorPublic, "description": "X-API-Key missing (key configured)"},
    403: {"model": ErrorPublic, "description": "X-API-Key wrong"},
    409: {"model": ErrorPublic, "description": "situation_date earlier than the latest present"},
    413: {"model": ErrorPublic, "description": "body over LAKEHOUSE_MAX_UPLOAD_MB"},
    422: {
        "model": ErrorPublic,
        "description": "invalid rows, each with its row and column (or a date outside the "
        "accepted range); nothing written",
    },
}


def _loaded(result: LoadResult) -> BatchLoadedPublic:
    return BatchLoadedPublic(
        situation_date=result.situation_date,
        received=result.received,
        inserted=result.inserted,
        skipped=result.skipped,
    )


def _install_load_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BatchRejected)
    async def _rejected(_: Request, exc: BatchRejected) -> JSONResponse:
        return error_response(
            422, str(exc), [row_error_item(e) for e in exc.errors], truncated=exc.truncated
        )

    @app.exception_handler(SituationDateConflict)
    async def _conflict(_: Request, exc: SituationDateConflict) -> JSONResponse:
        return error_response(409, str(exc))

    @app.exception_handler(OperationalError)
    async def _database_down(_: Request, exc: OperationalError) -> JSONResponse:
        message = f"source database unavailable: {str(exc.orig).strip().splitlines()[0]}"
        return error_response(503, message)


files_router = APIRouter(tags=["files"])
transactions_router = APIRouter(tags=["transactions"])
health_router = APIRouter(tags=["health"])


@files_router.get("/files", response_model=ReferenceFilesPublic)
def list_files(settings: SettingsDep) -> ReferenceFilesPublic:
    """The reference files present in the raw folder, with their sizes."""
    found = [
        (name, path)
        for name in REFERENCE_FILES
        if (path := reference_file(settings.raw_path, name)) is not None
    ]
    data = [
        ReferenceFilePublic(name=name, size_bytes=path.stat().st_size, url=f"/files/{name}")
        for name, path in found
    ]
    return ReferenceFilesPublic(data=data, count=len(data))


@files_router.get(
    "/files/{name}",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}, "application/json": {}},
              "description": "the file, with its ETag and Last-Modified"},
        304: {"description": "the client's copy is current (If-None-Match / If-Modified-Since)"},
        401: {"model": ErrorPublic, "description": "card or client file, X-API-Key missing"},
        403: {"model": ErrorPublic, "description": "card or client file, X-API-Key wrong"},
        404: {"model": ErrorPublic},
    },
)
def get_file(
    name: str,
    settings: SettingsDep,
    given_key: GivenKey = None,
    if_none_match: IfNoneMatch = None,
    if_modified_since: IfModifiedSince = None,
) -> Response:
    """One reference file; cards_data.csv without its cvv column (CVVs never leave).

    Card and client files need the X-API-Key (LAKEHOUSE_API_KEY or LAKEHOUSE_READ_API_KEY)
    when the service runs with keys. Every answer carries an ETag (a digest of the content)
    and Last-Modified; a GET with If-None-Match or If-Modified-Since naming the current file
    is answered 304 without a body, so the feeder does not download an unchanged file again.
    """
    if name in PROTECTED_FILES:
        check_api_key(settings, given_key, "read")
    path = reference_file(settings.raw_path, name)
    if path is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no reference file {name!r}; available names: {', '.join(REFERENCE_FILES)}",
        )
    validators = file_validators(path)
    headers = {"etag": validators.etag, "last-modified": validators.last_modified}
    if not_modified(validators, if_none_match, if_modified_since):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return StreamingResponse(
        served_content(path, name),
        media_type=media_type(name),
        headers={**headers, "content-disposition": f'attachment; filename="{name}"'},
    )


@transactions_router.post(
    "/transactions",
    status_code=201,
    response_model=BatchLoadedPublic,
    dependencies=[WriteAccess],
    responses=WRITE_RESPONSES,
)
def post_transactions(
    batch: list[TransactionIn],
    engine: EngineDep,
    settings: SettingsDep,
    situation_date: SituationDateQuery = None,
) -> BatchLoadedPublic:
    """Append a JSON list of transactions as one batch (all or nothing)."""
    window = DateWindow.from_settings(settings)
    return _loaded(load_batch(engine, transactions_frame(batch), situation_date, window=window))


@transactions_router.post(
    "/transactions/csv",
    status_code=201,
    response_model=BatchLoadedPublic,
    dependencies=[WriteAccess],
    responses=WRITE_RESPONSES,
)
def post_transactions_csv(
    file: Annotated[UploadFile, File(description="A transactions_data.csv file.")],
    engine: EngineDep,
    settings: SettingsDep,
    situation_date: SituationDateQuery = None,
) -> BatchLoadedPublic:
    """Append an uploaded transactions CSV as one batch (all or nothing)."""
    window = DateWindow.from_settings(settings)
    return _loaded(load_batch(engine, file.file, situation_date, window=window))


@transactions_router.get("/transactions/stats", response_model=TransactionStatsPublic)
def transaction_stats(engine: EngineDep) -> TransactionStatsPublic:
    """Rows in `transaction_data`, first/last situation date, rows per situation date."""
    return TransactionStatsPublic.model_validate(table_stats(engine))


@health_router.get(
    "/health", response_model=HealthPublic, responses={503: {"description": "database down"}}
)
def health(request: Request, settings: SettingsDep) -> JSONResponse:
    """Whether the source DB answers; also reports missing reference files."""
    missing = [n for n in REFERENCE_FILES if reference_file(settings.raw_path, n) is None]
    body = HealthPublic(
        status="ok",
        service=SERVICE,
        database="ok",
        reference_files="ok" if not missing else "missing: " + ", ".join(missing),
    )
    try:
        engine = engine_for(request.app, settings)
        body.dialect = engine.dialect.name
        body.latest_situation_date = latest_situation_date(engine)
    except (DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        item = ErrorItem(location="database", message=reason, type="unavailable")
        return error_response(503, f"source database unavailable: {reason}", [item])
    return JSONResponse(body.model_dump(mode="json"))


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    for engine in app.state.engines.values():
        engine.dispose()


def create_app() -> FastAPI:
    """The sources_api application (settings are read now, so bad configuration fails here).

    Returns:
        The app with its reference-file, transaction-batch, label and health routes.

    Raises:
        DatabaseUrlError: `LAKEHOUSE_SOURCE_DB_URL` is not a usable database URL.
    """
    database_url(get_settings().source_db_url or "", SOURCE_DB_SETTING)
    app = FastAPI(
        title="Lakehouse sources_api",
        description="The source system: reference files, and transaction batches loaded into "
        "the source DB with an immutable situation_date.",
        version="1.0.0",
        lifespan=_lifespan,
    )
    app.state.engines = {}

    def upload_limit_bytes() -> int:
        # Honour test overrides of the settings dependency, like the routes do.
        settings = app.dependency_overrides.get(get_settings, get_settings)()
        return settings.max_upload_mb * 1024 * 1024

    uploads = Limit(
        upload_limit_bytes,
        "LAKEHOUSE_MAX_UPLOAD_MB",
        "split the file with `lakehouse sources split` and send the parts",
    )
    instrument_app(app, SERVICE, get_settings().max_concurrent_requests, uploads)
    _install_load_error_handlers(app)
    for router in (files_router, transactions_router, labels_router, health_router):
        app.include_router(router)
    return app
