"""Request and response bodies of sources_api, as they appear in its OpenAPI page (`/docs`).

Incoming JSON transactions (`TransactionIn`) carry the fields of transactions_data.csv; numbers
are accepted where the file has digits, and everything is turned back into the file's text
form so the one set of format rules (`lakehouse.formats`) judges JSON and CSV batches alike.
Responses follow the `XPublic` / `XsPublic{data, count}` naming of the FastAPI template.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from lakehouse.formats import TRANSACTION_COLUMNS, RowError
from lakehouse.observability.errors import ErrorItem, ErrorPublic
from lakehouse.text_fields import JsonBody

__all__ = ["ErrorPublic"]  # the one error model, re-exported for the routes' declarations

IdValue = int | str


class TransactionIn(JsonBody):
    """One transaction, with the columns of transactions_data.csv."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": 7475327,
                    "date": "2010-01-01 00:01:00",
                    "client_id": 1556,
                    "card_id": 2972,
                    "amount": "$-77.00",
                    "use_chip": "Swipe Transaction",
                    "merchant_id": 59935,
                    "merchant_city": "Beulah",
                    "merchant_state": "ND",
                    "zip": "58523.0",
                    "mcc": 5499,
                    "errors": None,
                }
            ]
        },
    )

    id: IdValue = Field(description="Transaction id, unique.")
    date: str = Field(description="'YYYY-MM-DD HH:MM:SS'.")
    client_id: IdValue
    card_id: IdValue
    amount: str = Field(description="Dollar string with two decimals, e.g. '$-77.00'.")
    use_chip: str = Field(description="Swipe Transaction, Chip Transaction or Online Transaction.")
    merchant_id: IdValue
    merchant_city: str = Field(description="City, or ONLINE.")
    merchant_state: str | None = Field(None, description="US state, country, or empty online.")
    zip: str | float | None = Field(None, description="Float text like '58523.0', or empty.")
    mcc: IdValue = Field(description="4-digit merchant category code.")
    errors: str | None = Field(None, description="Comma-joined error names, or empty.")


def transactions_frame(batch: list[TransactionIn]) -> pd.DataFrame:
    """The JSON batch as the text frame a transactions CSV would give ("" for missing).

    Args:
        batch: the validated transactions of a `POST /transactions` body.

    Returns:
        One text column per `TRANSACTION_COLUMNS`, one row per transaction.
    """
    records = [
        {name: "" if value is None else str(value) for name, value in item.model_dump().items()}
        for item in batch
    ]
    return pd.DataFrame(records, columns=list(TRANSACTION_COLUMNS), dtype=str)


class BatchLoadedPublic(BaseModel):
    """The outcome of an accepted batch."""

    situation_date: date
    received: int = Field(description="Rows in the batch.")
    inserted: int = Field(description="Rows new to the source DB.")
    skipped: int = Field(description="Rows whose id was already present (left untouched).")


def row_error_item(error: RowError) -> ErrorItem:
    """A refused row's problem in the services' one error model, with its row and column.

    Args:
        error: the loader's problem with one row (row 0: the header or the whole file).

    Returns:
        An `invalid_row` item whose location reads "file", "header" or "row N", plus the column.
    """
    where = "header" if error.row == 0 else f"row {error.row}"
    if error.row == 0 and not error.column:
        where = "file"
    if error.column:
        where += f", column {error.column}"
    return ErrorItem(
        location=where, message=error.reason, type="invalid_row", row=error.row, column=error.column
    )


class ReferenceFilePublic(BaseModel):
    name: str
    size_bytes: int
    url: str = Field(description="Path to fetch it from this service.")


class ReferenceFilesPublic(BaseModel):
    data: list[ReferenceFilePublic]
    count: int


class BatchStatsPublic(BaseModel):
    situation_date: date
    rows: int


class TransactionStatsPublic(BaseModel):
    """Size of `transaction_data` and its batches, one entry per situation date."""

    rows: int
    min_situation_date: date | None
    max_situation_date: date | None
    batches: list[BatchStatsPublic]


class HealthPublic(BaseModel):
    status: str
    service: str
    database: str
    dialect: str | None = None
    latest_situation_date: date | None = None
    reference_files: str = Field(description="'ok' or the names of missing reference files.")
