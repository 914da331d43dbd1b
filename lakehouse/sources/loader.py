"""Load one batch of transactions into the source DB — the single path every write takes.

`POST /transactions` (JSON), `POST /transactions/csv` (upload) and `lakehouse sources load`
all call `load_batch`. A batch arrives as a CSV path or file object (read in chunks, so a
13 M-row file never sits in memory whole) or as a frame of text columns; each chunk is checked
with the shared format rules of `lakehouse.formats` and staged (`lakehouse.sources.staging`). The
batch leaves as rows of `transaction_data` stamped with one `situation_date`, all in one
transaction, or not at all.

Rules, in the words of the contract:
- Atomic: any invalid row rejects the whole batch (`BatchRejected`, with row-level errors) and
  the table is unchanged.
- Idempotent: rows whose `id` is already present are skipped, not duplicated, and keep their
  original `situation_date`; the result counts inserted and skipped rows.
- Dates are sane: every transaction date, and a given situation date, lies in the
  `DateWindow` — from `LAKEHOUSE_TRANSACTION_DATE_MIN` (1990-01-01) to today (UTC) plus
  `LAKEHOUSE_TRANSACTION_DATE_FUTURE_DAYS` (1) — or the batch is rejected with the row and
  column. So no stray date (9999-12-31, or years ahead) can be stored, and none can push the
  situation date of the batches after it.
- `situation_date` is immutable and only moves forward: a given date earlier than the latest
  present is refused (`SituationDateConflict`), the latest itself is allowed. Without a given
  date the batch gets max(latest present + 1 day, latest transaction date in the batch); on an
  empty table, the latest transaction date in the batch. The "+ 1 day" never goes past the
  window's last day (nor overflows): once there, later batches share the latest date, which
  the feeder re-extracts whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pandas as pd
from sqlalchemy.engine import Engine

from lakehouse.config import Settings, get_settings
from lakehouse.formats import RowError, validate_transactions
from lakehouse.sources.reading import CsvUnreadable, read_csv_chunks
from lakehouse.sources.schema import ensure_schema, latest_situation_date
from lakehouse.sources.staging import open_stager

DEFAULT_CHUNK_ROWS = 200_000
DEFAULT_MAX_ERRORS = 1000

BatchSource = pd.DataFrame | Path | str | IO[bytes]


@dataclass(frozen=True)
class LoadResult:
    """What a load did: the batch's date and how many rows were received, new, already there."""

    situation_date: date
    received: int
    inserted: int
    skipped: int


class LoadError(Exception):
    """Base of the loader's refusals; the message says what to do."""


class BatchRejected(LoadError):
    """The batch has invalid rows (or is not a readable CSV); nothing was written."""

    def __init__(self, errors: list[RowError], truncated: bool = False) -> None:
        self.errors = errors
        self.truncated = truncated
        count = f"{len(errors)}{'+' if truncated else ''}"
        first = "; ".join(str(e) for e in errors[:3])
        super().__init__(f"batch rejected, nothing written: {count} problem(s) — {first}")


class SituationDateConflict(LoadError):
    """A situation date earlier than the latest present: batches only move forward."""

    def __init__(self, given: date, latest: date) -> None:
        self.given = given
        self.latest = latest
        super().__init__(
            f"situation_date {given} is earlier than the latest one present ({latest}); "
            f"situation dates are immutable and only move forward — use {latest} or later, "
            "or leave it out to get the next one"
        )


@dataclass(frozen=True)
class DateWindow:
    """The days a transaction date or a given situation date may fall on, both inclusive."""

    earliest: date
    latest: date

    @classmethod
    def from_settings(cls, settings: Settings, today: date | None = None) -> DateWindow:
        """The window of `settings` as of `today` (default: today in UTC).

        Args:
            settings: `LAKEHOUSE_TRANSACTION_DATE_MIN` and the future margin in days.
            today: the day the window is computed for.

        Returns:
            The accepted dates.
        """
        today = today or datetime.now(UTC).date()
        margin = timedelta(days=settings.transaction_date_future_days)
        return cls(settings.transaction_date_min, today + margin)

    def bounds_text(self) -> tuple[str, str]:
        """The window as the inclusive text bounds of a 'YYYY-MM-DD HH:MM:SS' date.

        Returns:
            `(earliest, latest)`, both inclusive.
        """
        return f"{self.earliest.isoformat()} 00:00:00", f"{self.latest.isoformat()} 23:59:59"

    def check(self, given: date) -> None:
        """Reject (`BatchRejected`, column situation_date) a given date outside the window.

        Args:
            given: the batch's situation_date.

        Raises:
            BatchRejected: the date is outside the window.
        """
        if not self.earliest <= given <= self.latest:
            raise BatchRejected(
                [
                    RowError(
                        0,
                        "situation_date",
                        f"{given} is outside the accepted range {self.earliest} .. {self.latest} "
                        "(LAKEHOUSE_TRANSACTION_DATE_MIN, LAKEHOUSE_TRANSACTION_DATE_FUTURE_DAYS)",
                    )
                ]
            )


def resolve_situation_date(
    given: date | None,
    latest_present: date | None,
    latest_in_batch: date,
    window: DateWindow | None = None,
) -> date:
    """The batch's situation date under the module's rules.

    Args:
        given: the date the caller asked for, or None for the default rule.
        latest_present: the latest situation date in the table (None: empty table).
        latest_in_batch: the latest transaction day of the batch.
        window: the accepted dates; None accepts any date (the arithmetic still cannot
            overflow).

    Returns:
        The situation date. Raises `SituationDateConflict` or `BatchRejected`.
    """
    if given is not None:
        if window is not None:
            window.check(given)
        if latest_present is not None and given < latest_present:
            raise SituationDateConflict(given, latest_present)
        return given
    if latest_present is None:
        return latest_in_batch
    ceiling = window.latest if window is not None else date.max
    following = latest_present + timedelta(days=1) if latest_present < ceiling else latest_present
    return max(following, latest_in_batch)


def _as_text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    # Callers may pass numbers (ids, a float zip); the format rules and the staging speak text.
    return frame.fillna("").astype(str)


def read_chunks(source: BatchSource, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The batch as text frames of about `chunk_rows` rows; unreadable input → BatchRejected.

    Args:
        source: a CSV (path or file) or a DataFrame.
        chunk_rows: rows per frame.

    Returns:
        An iterator of frames, every column as text.
    """
    if isinstance(source, pd.DataFrame):
        yield _as_text_frame(source)
        return
    try:
        yield from read_csv_chunks(source, chunk_rows)
    except CsvUnreadable as exc:
        raise BatchRejected(exc.errors) from None


def _latest_day(chunk: pd.DataFrame) -> date:
    # ISO text sorts like time, so the max string is the latest transaction.
    return date.fromisoformat(str(chunk["date"].max())[:10])


def load_batch(
    engine: Engine,
    source: BatchSource,
    situation_date: date | None = None,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    max_errors: int = DEFAULT_MAX_ERRORS,
    on_progress: Callable[[int], Any] | None = None,
    window: DateWindow | None = None,
) -> LoadResult:
    """Validate and append one batch to `transaction_data`, atomically and idempotently.

    Args:
        engine: the source DB (`lakehouse.sources.schema.source_engine`).
        source: a CSV path or file object in the transactions_data.csv format, or a frame.
        situation_date: the batch's business date; None applies the default rule.
        chunk_rows: rows read, validated and staged at a time (bounds memory).
        max_errors: stop collecting row errors after this many.
        on_progress: called with the number of rows read so far after each chunk.
        window: the accepted dates (default: from the process settings, as of today).

    Returns:
        A `LoadResult`. Raises `BatchRejected` or `SituationDateConflict`; nothing is
        written in either case.
    """
    window = window or DateWindow.from_settings(get_settings())
    ensure_schema(engine)
    if situation_date is not None:
        # Fail before reading a large file when the answer is already known.
        resolve_situation_date(
            situation_date, latest_situation_date(engine), situation_date, window
        )
    with open_stager(engine) as stager:
        received, latest_in_batch, errors = 0, None, []
        try:
            for chunk in read_chunks(source, chunk_rows):
                found = validate_transactions(
                    chunk, received + 1, max_errors - len(errors), window.bounds_text()
                )
                errors.extend(found)
                if (found and found[0].row == 0) or len(errors) >= max_errors:
                    break  # a bad header makes every row bad; past the cap we stop counting
                if not errors:
                    stager.stage(chunk)
                    day = _latest_day(chunk) if len(chunk) else None
                    if day and (latest_in_batch is None or day > latest_in_batch):
                        latest_in_batch = day
                received += len(chunk)
                if on_progress:
                    on_progress(received)
        except BatchRejected as unreadable:
            raise BatchRejected(errors + unreadable.errors) from None
        if errors:
            raise BatchRejected(errors, truncated=len(errors) >= max_errors)
        if latest_in_batch is None:
            raise BatchRejected([RowError(0, "", "the batch has no rows")])
        day = resolve_situation_date(
            situation_date, stager.latest_situation_date(), latest_in_batch, window
        )
        # Naive UTC: the column is a plain TIMESTAMP on both databases.
        loaded_at = datetime.now(UTC).replace(tzinfo=None)
        inserted = stager.commit(day, loaded_at)
    return LoadResult(day, received, inserted, received - inserted)
