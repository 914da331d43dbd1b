"""The reference files as the source system serves them: allow-listed, confined, CVV-free.

sources_api's `GET /files/{name}` hands the pipeline's feeder the four reference files of
the raw folder (`Settings.raw_path`). This module decides what may leave and how:

- only the names of DATA.md, and only when the path (symlinks followed) stays inside the raw
  folder — a symlink leading anywhere else is "no such file";
- the media type comes from the allow-listed name, never from the resolved path, so a
  symlink to a file with another extension cannot break the answer;
- CVVs never leave the source system: `cards_data.csv` is served without its `cvv` column
  (the feeder drops it anyway; the lake never holds it);
- card and client files are personal data: when the service runs with API keys they are
  read with a key (`PROTECTED_FILES`, checked by the service).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from lakehouse.formats import CARDS_FILE, REFERENCE_FILES, USERS_FILE

MEDIA_TYPES = {".csv": "text/csv", ".json": "application/json"}
PROTECTED_FILES: tuple[str, ...] = (CARDS_FILE, USERS_FILE)
WITHHELD_COLUMNS: dict[str, tuple[str, ...]] = {CARDS_FILE: ("cvv",)}
_ROWS_PER_CHUNK = 2048
_BYTES_PER_CHUNK = 1 << 16


def reference_file(raw_dir: Path, name: str) -> Path | None:
    """The allow-listed reference file `name` inside `raw_dir`, or None.

    Args:
        raw_dir: the raw folder.
        name: the requested name.

    Returns:
        The resolved path, or None when the name is not allowed, the file is missing, or its
        resolved path (symlinks followed) leaves the raw folder.
    """
    if name not in REFERENCE_FILES:
        return None
    root = raw_dir.resolve()
    candidate = (root / name).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def media_type(name: str) -> str:
    """The media type of an allow-listed name (by the name's extension).

    Args:
        name: one of the reference files.

    Returns:
        `text/csv` or `application/json`.
    """
    return MEDIA_TYPES[Path(name).suffix]


def served_content(path: Path, name: str) -> Iterator[bytes]:
    """The bytes served for reference file `name` stored at `path`, in chunks.

    The file as it is, except that the columns of `WITHHELD_COLUMNS[name]` are cut out of a
    CSV (re-written with the same values, one record per line).

    Args:
        path: the resolved file (`reference_file`).
        name: its allow-listed name.

    Returns:
        An iterator of byte chunks.
    """
    withheld = WITHHELD_COLUMNS.get(name, ())
    with path.open("r", encoding="utf-8", errors="surrogateescape", newline="") as handle:
        header = next(csv.reader([handle.readline()]), [])
    keep = [i for i, column in enumerate(header) if column.strip() not in withheld]
    if len(keep) == len(header):
        return _raw_chunks(path)
    return _csv_without(path, keep)


def _raw_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_BYTES_PER_CHUNK):
            yield chunk


def _csv_without(path: Path, keep: list[int]) -> Iterator[bytes]:
    # surrogateescape: bytes that are not UTF-8 go out exactly as they came in.
    with path.open("r", encoding="utf-8", errors="surrogateescape", newline="") as handle:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for count, record in enumerate(csv.reader(handle), start=1):
            writer.writerow([record[i] if i < len(record) else "" for i in keep])
            if count % _ROWS_PER_CHUNK == 0:
                yield buffer.getvalue().encode("utf-8", "surrogateescape")
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode("utf-8", "surrogateescape")
