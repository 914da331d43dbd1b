"""Cut a transactions CSV by time into batch files that replay history one batch at a time.

`lakehouse sources split FILE --by month|day|parts N --out DIR` reads a transactions_data.csv
(13 M rows at full scale) and writes `transactions_2010-01.csv`, ... (`--by month`),
`transactions_2010-01-01.csv`, ... (`--by day`) or `part_001.csv`, ... (`--parts N`, equal row
counts in file order), each with the header. Feeding those files to `lakehouse sources load` in
name order reproduces the history batch by batch, which is how the pipeline's incremental
extraction is exercised.

It streams: records are copied byte for byte (no parsing or re-quoting), one at a time, so
memory stays flat whatever the file size. The source file is sorted by date, so month and day
files are written one after the other; an unsorted file still splits correctly (a file is
reopened for appending when its period comes back), which the summary reports.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from lakehouse.formats import validate_transaction_header

SplitBy = Literal["month", "day", "parts"]
_DATE_PREFIX = re.compile(rb"\d{4}-\d{2}-\d{2}")
_PROGRESS_EVERY = 65_536


class SplitError(ValueError):
    """The input cannot be split; the message says why and what to do."""


@dataclass
class SplitReport:
    """The files written (in replay order), their data-row counts, and out-of-order rows seen."""

    rows: dict[Path, int] = field(default_factory=dict)
    out_of_order: int = 0

    @property
    def paths(self) -> list[Path]:
        """The files written, sorted by name (by period)."""
        return sorted(self.rows)

    @property
    def total_rows(self) -> int:
        """Rows written over all files."""
        return sum(self.rows.values())


def _records(handle: IO[bytes]) -> Iterator[bytes]:
    """The file's CSV records; a quoted field holding a newline stays in one record."""
    pending = b""
    for line in handle:
        if pending:
            line, pending = pending + line, b""
        # An odd number of quotes means a quoted field continues on the next line.
        if b'"' in line and line.count(b'"') % 2:
            pending = line
            continue
        yield line if line.endswith(b"\n") else line + b"\n"
    if pending:
        yield pending if pending.endswith(b"\n") else pending + b"\n"


def _check_header(header: bytes, path: Path) -> None:
    try:
        columns = next(csv.reader([header.decode("utf-8-sig").rstrip("\r\n")]))
    except (UnicodeDecodeError, StopIteration, csv.Error) as exc:
        raise SplitError(f"{path}: the first line is not a CSV header ({exc})") from None
    errors = validate_transaction_header(columns)
    if errors:
        raise SplitError(f"{path} is not a transactions_data.csv: {errors[0].reason}")


class _Writer:
    """Writes records to the current output file, opening the next one when the name changes."""

    def __init__(self, out_dir: Path, header: bytes, source: Path) -> None:
        self.out_dir, self.header, self.source = out_dir, header, source
        self.report = SplitReport()
        self.current: Path | None = None
        self.handle: IO[bytes] | None = None

    def write(self, name: str, record: bytes) -> None:
        path = self.out_dir / name
        if path != self.current:
            self.close()
            if path.resolve() == self.source.resolve():
                raise SplitError(f"refusing to overwrite the input file {self.source}")
            seen = path in self.report.rows
            self.report.out_of_order += seen
            self.handle = path.open("ab" if seen else "wb")
            if not seen:
                self.handle.write(self.header)
                self.report.rows[path] = 0
            self.current = path
        assert self.handle is not None
        self.handle.write(record)
        self.report.rows[path] += 1

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _period_name(record: bytes, row: int, width: int) -> str:
    # The id never contains a comma or a quote, so the date is the text after the first comma.
    fields = record.split(b",", 2)
    value = fields[1] if len(fields) > 1 else b""
    if not _DATE_PREFIX.match(value):
        raise SplitError(
            f"data row {row}: date {value[:30].decode(errors='replace')!r} does not start with "
            "YYYY-MM-DD; check the file with `lakehouse generate`'s format rules"
        )
    return f"transactions_{value[:width].decode()}.csv"


def _count_records(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in _records(handle)) - 1


def split_transactions(
    path: Path,
    by: SplitBy,
    parts: int | None,
    out_dir: Path,
    on_progress: Callable[[int], object] | None = None,
) -> SplitReport:
    """Split `path` into `out_dir` by period or into equal parts. See `split_csv`.

    Args:
        path: transactions_data.csv.
        by: "month", "day" or "parts".
        parts: how many files, with `by="parts"`.
        out_dir: where the files go.
        on_progress: receives the bytes read so far.

    Returns:
        Rows per file written, and how many rows were out of date order.

    Raises:
        SplitError: `parts` missing or below 1 with `by="parts"`.
    """
    if by == "parts" and (parts is None or parts < 1):
        raise SplitError("--by parts needs --parts N with N >= 1")
    if not path.is_file():
        raise SplitError(f"{path} does not exist or is not a file")
    per_part = 0
    if by == "parts":
        total = _count_records(path)
        if total <= 0:
            raise SplitError(f"{path} has no data rows to split")
        per_part = math.ceil(total / parts)  # type: ignore[operator]
    out_dir.mkdir(parents=True, exist_ok=True)
    with path.open("rb") as handle:
        records = _records(handle)
        header = next(records, b"")
        _check_header(header, path)
        writer = _Writer(out_dir, header, path)
        width = max(3, len(str(parts or 0)))
        done = len(header)
        try:
            for row, record in enumerate(records, start=1):
                if by == "parts":
                    name = f"part_{(row - 1) // per_part + 1:0{width}d}.csv"
                else:
                    name = _period_name(record, row, 7 if by == "month" else 10)
                writer.write(name, record)
                done += len(record)
                if on_progress and row % _PROGRESS_EVERY == 0:
                    on_progress(done)
        finally:
            writer.close()
    if on_progress:
        on_progress(done)
    if not writer.report.rows:
        raise SplitError(f"{path} has no data rows to split")
    return writer.report


def split_csv(path: Path, by: SplitBy, parts: int | None, out_dir: Path) -> list[Path]:
    """Cut a transactions CSV into period (`month`, `day`) or equal-size (`parts`) files.

    Args:
        path: a file in the transactions_data.csv format, sorted by date.
        by: `month` → `transactions_YYYY-MM.csv`, `day` → `transactions_YYYY-MM-DD.csv`,
            `parts` → `part_001.csv` ... with `parts` files of equal row counts.
        parts: number of files for `by="parts"` (fewer when the file has fewer rows).
        out_dir: where the files go (created; files of the same names are replaced).

    Returns:
        The files written, in replay order. Every data row lands in exactly one of them, each
        file starts with the header. Raises `SplitError` on a bad input.
    """
    return split_transactions(path, by, parts, out_dir).paths
