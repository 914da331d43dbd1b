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
  read with a key (`PROTECTED_FILES`, checked by the service);
- every answer carries validators (`file_validators`: an ETag from the file's content and
  its Last-Modified), so a client that already holds the file asks with If-None-Match /
  If-Modified-Since and gets a bodiless 304 (`not_modified`) instead of the bytes again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

from lakehouse.formats import CARDS_FILE, REFERENCE_FILES, USERS_FILE

MEDIA_TYPES = {".csv": "text/csv", ".json": "application/json"}
PROTECTED_FILES: tuple[str, ...] = (CARDS_FILE, USERS_FILE)
WITHHELD_COLUMNS: dict[str, tuple[str, ...]] = {CARDS_FILE: ("cvv",)}
_ROWS_PER_CHUNK = 2048
_BYTES_PER_CHUNK = 1 << 16
_HASH_CHUNK = 1 << 22

# Path -> ((inode, size, mtime), content digest): a file is hashed once per change, not per GET.
_digests: dict[str, tuple[tuple[int, int, int], str]] = {}
_digests_lock = threading.Lock()


@dataclass(frozen=True)
class FileValidators:
    """The HTTP validators of one reference file (RFC 9110 section 8.8)."""

    etag: str  # strong, quoted: '"<sha256 of the file, 32 hex digits>"'
    last_modified: str  # IMF-fixdate of the file's modification time
    modified_at: int  # the same, as whole POSIX seconds (If-Modified-Since compares these)


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


def file_validators(path: Path) -> FileValidators:
    """The ETag and Last-Modified of the file at `path`.

    The ETag is a digest of the file's content, so a file rewritten with the same bytes keeps
    it (a client is not sent 160 MB of labels again because the file was copied over). The
    served form is a function of the content (`served_content`), so the digest of the stored
    file identifies it. Digests are cached by inode, size and modification time.

    Args:
        path: the resolved file (`reference_file`).

    Returns:
        Its validators.
    """
    stat = path.stat()
    state = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    with _digests_lock:
        known, digest = _digests.get(str(path), (None, ""))
    if known != state:
        sha = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                sha.update(chunk)
        digest = sha.hexdigest()[:32]
        with _digests_lock:
            _digests[str(path)] = (state, digest)
    return FileValidators(f'"{digest}"', formatdate(stat.st_mtime, usegmt=True),
                          int(stat.st_mtime))


def not_modified(validators: FileValidators, if_none_match: str | None,
                 if_modified_since: str | None) -> bool:
    """Whether a GET with these conditional headers is answered 304 Not Modified.

    If-None-Match wins when present (RFC 9110 section 13.2.2): 304 when one of its tags (weak
    comparison, or `*`) is the file's ETag. Otherwise If-Modified-Since: 304 when the file
    was not modified after that date; an unparsable date is ignored.

    Args:
        validators: the file's validators.
        if_none_match: the request's If-None-Match header, or None.
        if_modified_since: the request's If-Modified-Since header, or None.

    Returns:
        True when the client's copy is current.
    """
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or validators.etag in tags
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        return False
    return validators.modified_at <= int(since.timestamp())
