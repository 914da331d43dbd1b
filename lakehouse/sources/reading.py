"""Read a transactions CSV batch as a stream of text frames, strictly and fast.

The loader (`lakehouse.sources.loader`) takes its CSV batches from here: a file path, an uploaded
file or any binary file object goes in; frames of at most about `chunk_rows` rows come out,
every column as text with "" for an empty field — exactly the shape `lakehouse.formats`
validates. Judging the values is not this module's job; refusing what is not a CSV of the
right shape is:

- the header is checked on its own first (missing, unknown or reordered columns);
- a row with more or fewer fields than the header, or an unterminated quote, stops the read
  with its row number (Arrow's CSV reader measures every row, nothing is shifted or padded);
- text that is not UTF-8 is refused.

Arrow's streaming CSV reader parses blocks of bytes in C++, several times faster than pandas'
chunked reader with text columns, and memory stays bounded by the block size.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from lakehouse.formats import TRANSACTION_COLUMNS, RowError, show, validate_transaction_header

# Arrow reads by bytes, the loader thinks in rows: a transactions row is ~90-110 bytes.
BYTES_PER_ROW = 128
MIN_BLOCK_BYTES = 4096


class CsvUnreadable(Exception):
    """The input is not a transactions CSV of the right shape; `errors` says where and why."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors[:3]))


@contextmanager
def _binary(source: Path | str | IO[bytes]) -> Iterator[IO[bytes]]:
    if isinstance(source, str | Path):
        with Path(source).open("rb") as handle:
            yield handle
    else:
        yield source  # the caller's file object: the caller closes it


def _check_header(handle: IO[bytes]) -> None:
    """Refuse a file whose first line is not the transactions header, then rewind it."""
    first = handle.readline()
    if not first:
        raise CsvUnreadable(
            [
                RowError(
                    0,
                    "",
                    "the file is empty: expected the header "
                    + ",".join(TRANSACTION_COLUMNS)
                    + " and rows",
                )
            ]
        )
    try:
        # utf-8-sig: a spreadsheet's byte-order mark must not turn "id" into "\ufeffid".
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvUnreadable(
            [
                RowError(
                    0, "", "the header is not UTF-8 text; expected " + ",".join(TRANSACTION_COLUMNS)
                )
            ]
        ) from None
    try:
        columns = next(csv.reader([text.rstrip("\r\n")]), [])
    except csv.Error as exc:  # e.g. a lone carriage return inside the header line
        raise CsvUnreadable([RowError(0, "", f"the header is not a CSV line ({exc})")]) from None
    errors = validate_transaction_header(columns)
    if errors:
        raise CsvUnreadable(errors)
    handle.seek(0)


def _open_reader(handle: IO[bytes], chunk_rows: int, malformed: list[RowError]) -> Any:
    def on_invalid_row(row: Any) -> str:
        # Arrow numbers physical lines from 1 with the header as line 1.
        data_row = row.number - 1 if row.number else 0
        malformed.append(
            RowError(
                data_row,
                "",
                f"malformed CSV: {row.actual_columns} fields where the header has "
                f"{row.expected_columns} ({show(row.text)})",
            )
        )
        return "error"

    columns = list(TRANSACTION_COLUMNS)
    return pacsv.open_csv(
        handle,
        read_options=pacsv.ReadOptions(
            column_names=columns,
            skip_rows=1,
            use_threads=False,
            block_size=max(chunk_rows * BYTES_PER_ROW, MIN_BLOCK_BYTES),
        ),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid_row),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(columns, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def read_csv_chunks(source: Path | str | IO[bytes], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Frames of the CSV's rows, all text.

    Args:
        source: a path or a binary file.
        chunk_rows: rows per frame.

    Returns:
        An iterator of frames.

    Raises:
        CsvUnreadable: a malformed input (every bad row listed).
    """
    malformed: list[RowError] = []
    try:
        with _binary(source) as handle:
            _check_header(handle)
            reader = _open_reader(handle, chunk_rows, malformed)
            for batch in reader:
                yield batch.to_pandas()
    except pa.ArrowInvalid as exc:
        if malformed:
            raise CsvUnreadable(malformed[:1]) from None
        message = str(exc).split("\n")[0]
        if "UTF8" in message.upper():
            message = "the file is not UTF-8 text (" + message + ")"
        raise CsvUnreadable([RowError(0, "", f"malformed CSV: {message}")]) from None
