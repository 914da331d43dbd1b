"""Bronze reference tables from sources_api's files, fetched only when they changed.

Each reference file (cards, users, MCC codes, fraud labels) becomes one bronze table,
rewritten whole when its content changes. Two guards keep a run with nothing new cheap:

- the fetch is conditional: beside each table the feeder keeps the validators (ETag,
  Last-Modified) sources_api gave for the copy bronze holds, in `<table>.source.json` in the
  lake, and sends them back; an unchanged file is a bodiless 304 and is neither downloaded
  nor parsed;
- a file downloaded anyway (new validators, or none kept) whose content fingerprint equals
  the one recorded in the table's last commit writes no new version.

The validators are trusted only while they describe what bronze holds: the document also
records the table's content fingerprint and the other inputs of the table (the analysts'
labels, the card hash key); when either differs, the file is fetched unconditionally.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import httpx
import pyarrow as pa

from lakehouse import catalog, storage
from lakehouse.client_keys import client_headers
from lakehouse.config import Settings
from lakehouse.pipeline import feeder, source_extract
from lakehouse.pipeline.sources_http import Validators, fetch_reference_file
from lakehouse.sources.schema import source_engine

logger = logging.getLogger("lakehouse.pipeline.reference_feed")

# Suffix of the document beside a reference table (`<lake>/bronze/cards.source.json`).
SOURCE_STATE_SUFFIX = ".source.json"


@dataclass(frozen=True)
class Written:
    """A reference table the feeder rewrote."""

    table: str
    version: int
    rows: int


def source_state_uri(table_name: str, settings: Settings) -> str:
    """Where the validators of a bronze reference table's file are kept.

    Args:
        table_name: a bronze reference table.
        settings: where the lake is.

    Returns:
        `<table location>.source.json`, beside the table's folder (outside it, so no Delta
        maintenance ever sees it).
    """
    return catalog.location(table_name, settings) + SOURCE_STATE_SUFFIX


def feed_reference_files(settings: Settings) -> list[Written]:
    """Bring every bronze reference table up to date with sources_api's files.

    Args:
        settings: where the lake, sources_api and the source DB are.

    Returns:
        The tables rewritten (none when no file changed).

    Raises:
        SourceUnavailableError: sources_api unreachable after the retries.
    """
    written = []
    with httpx.Client() as client:  # one client: its CA certificates are loaded once
        for table_name, file_name in feeder.REFERENCE_FILES.items():
            done = _feed_one(table_name, file_name, settings, client)
            if done is not None:
                written.append(done)
    return written


def _feed_one(table_name: str, file_name: str, settings: Settings,
              client: httpx.Client) -> Written | None:
    key = settings.effective_card_hash_key
    uri = catalog.location(table_name, settings)
    # Labels also come from the analysts' reviews: a new one is a change of the table too.
    analyst = _analyst_labels(settings) if table_name == "bronze_fraud_labels" else []
    reviewed = json.dumps(analyst, default=str, sort_keys=True).encode() if analyst else b""
    inputs = feeder.content_fingerprint(reviewed, key)
    held = storage.last_metadata(uri, settings).get("content_sha256")
    state_uri = source_state_uri(table_name, settings)
    state = storage.read_json(state_uri, settings)
    current = held is not None and state.get("content_sha256") == held \
        and state.get("inputs_sha256") == inputs
    known = Validators(state.get("etag", ""), state.get("last_modified", "")) if current else None
    fetched = fetch_reference_file(settings.sources_api_url, file_name, settings, known=known,
                                   client=client, headers=client_headers(settings, "read"))
    if fetched.data is None:
        logger.debug("reference file unchanged (304)", extra={"table": table_name})
        return None
    fingerprint = feeder.content_fingerprint(fetched.data + reviewed, key)
    done = None
    if fingerprint != held:
        table = feeder.reference_table(table_name, fetched.data, key, analyst)
        done = Written(table_name, _write(uri, table, fingerprint, file_name, settings),
                       table.num_rows)
        logger.info("bronze table written", extra={"table": table_name, "rows": table.num_rows})
    # Only after the commit: validators never describe content bronze does not hold.
    fresh = {"etag": fetched.validators.etag, "last_modified": fetched.validators.last_modified,
             "content_sha256": fingerprint, "inputs_sha256": inputs}
    if fresh != state:
        storage.write_json(state_uri, fresh, settings)
    return done


def _write(uri: str, table: pa.Table, fingerprint: str, file_name: str,
           settings: Settings) -> int:
    return storage.write(uri, table, metadata={"content_sha256": fingerprint,
                                               "source": file_name}, settings=settings)


def _analyst_labels(settings: Settings) -> list[dict]:
    """The analysts' labels, read from the source DB like the transaction batches."""
    engine = source_engine(settings.source_db_url or "")
    try:
        return source_extract.analyst_labels(engine)
    finally:
        engine.dispose()
