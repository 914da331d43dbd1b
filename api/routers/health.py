"""`GET /health`: is the analytics DB reachable, and have the datamarts been published?

Load balancers, `lakehouse demo` and the tests poll this route. It answers 200 only when the
database answers, every datamart table of the registry exists and `publish_log` records a
publish of each; otherwise 503 with the reason and what to do next.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError

from api import schemas
from api.database import (
    NOT_PUBLISHED_HINT,
    DatamartsNotPublished,
    translate_error,
)
from api.datamarts import DATAMARTS, latest_publications, reading
from api.deps import EngineDep
from lakehouse.database import publish_log

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=schemas.HealthPublic,
    responses=schemas.error_responses(503),
)
def health(engine: EngineDep) -> dict:
    """200 when the datamarts are published and readable, else 503 with the reason."""
    tables = [datamart.table for datamart in DATAMARTS.values()]
    with reading(engine) as connection:
        connection.execute(sa.text("SELECT 1"))
        try:
            present = set(sa.inspect(connection).get_table_names())
        except SQLAlchemyError as exc:
            raise translate_error(exc) from exc
        missing = [t for t in [*tables, publish_log.name] if t not in present]
        if missing:
            raise DatamartsNotPublished(f"{NOT_PUBLISHED_HINT} (missing: {', '.join(missing)})")
        published = latest_publications(connection)
    unlogged = [table for table in tables if table not in published]
    if unlogged:
        raise DatamartsNotPublished(
            f"{NOT_PUBLISHED_HINT} (no publish_log entry for: {', '.join(unlogged)})"
        )
    return {
        "status": "ok",
        "database": engine.dialect.name,
        "datamarts": [
            {
                "table": table,
                "row_count": published[table]["row_count"],
                "published_at": published[table]["published_at"],
                "lake_version": published[table]["lake_version"],
            }
            for table in tables
        ],
    }
