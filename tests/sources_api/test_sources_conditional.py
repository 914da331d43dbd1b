"""Conditional GET of the reference files (issue 16): ETag / Last-Modified, 304 Not Modified.

Over real HTTP against a real raw folder: every answer carries an ETag from the file's
content and its Last-Modified; If-None-Match naming it (or If-Modified-Since not older than
the file, without If-None-Match) is a bodiless 304; a file rewritten with the same bytes
keeps its ETag, a changed file gets a new one and its new bytes; the API key is still
checked before any 304.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest
from sources_samples import write_raw_dir

from lakehouse.config import get_settings
from sources_api.api import create_app

FILES = {
    "cards_data.csv": b"id,client_id,card_number,cvv\n4524,825,4344676511950444,623\n",
    "users_data.csv": b"id,current_age\n825,53\n",
    "mcc_codes.json": b'{"5812": "Eating Places and Restaurants"}',
    "train_fraud_labels.json": b'{"target": {"10649266": "No"}}',
}
LABELS = "train_fraud_labels.json"


@pytest.fixture
def raw_dir(isolated_settings: Path) -> Path:
    return write_raw_dir(isolated_settings, FILES)


@pytest.fixture
def url(raw_dir: Path, live_server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with live_server(create_app()) as base:
        yield base


def test_every_file_has_validators_and_a_matching_etag_is_a_bodiless_304(url: str) -> None:
    for name in FILES:
        first = httpx.get(f"{url}/files/{name}")
        assert first.status_code == 200
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert etag.startswith('"') and etag.endswith('"') and len(etag) == 34
        again = httpx.get(f"{url}/files/{name}", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag and again.headers["last-modified"] == modified
        for listed in (f'"other", {etag}', f"W/{etag}", "*"):
            assert httpx.get(f"{url}/files/{name}",
                             headers={"If-None-Match": listed}).status_code == 304
        other = httpx.get(f"{url}/files/{name}", headers={"If-None-Match": '"other"'})
        assert other.status_code == 200 and other.headers["etag"] == etag


def test_if_modified_since_applies_only_without_if_none_match(url: str, raw_dir: Path) -> None:
    os.utime(raw_dir / LABELS, (1_700_000_000, 1_700_000_000))
    modified = httpx.get(f"{url}/files/{LABELS}").headers["last-modified"]
    assert modified == formatdate(1_700_000_000, usegmt=True)
    later, earlier = formatdate(1_700_000_100, usegmt=True), formatdate(1_699_999_000, usegmt=True)
    for since, status in ((modified, 304), (later, 304), (earlier, 200), ("not a date", 200)):
        answer = httpx.get(f"{url}/files/{LABELS}", headers={"If-Modified-Since": since})
        assert answer.status_code == status, since
    # If-None-Match wins: a stale ETag is a 200 even with a current date.
    stale = httpx.get(f"{url}/files/{LABELS}",
                      headers={"If-None-Match": '"stale"', "If-Modified-Since": later})
    assert stale.status_code == 200 and stale.content == FILES[LABELS]


def test_same_bytes_keep_the_etag_and_new_bytes_are_served_with_a_new_one(
    url: str, raw_dir: Path
) -> None:
    etag = httpx.get(f"{url}/files/{LABELS}").headers["etag"]
    (raw_dir / LABELS).write_bytes(FILES[LABELS])  # copied over: new mtime, same content
    os.utime(raw_dir / LABELS, (1_800_000_000, 1_800_000_000))
    assert httpx.get(f"{url}/files/{LABELS}",
                     headers={"If-None-Match": etag}).status_code == 304
    changed = b'{"target": {"10649266": "Yes"}}'
    (raw_dir / LABELS).write_bytes(changed)
    answer = httpx.get(f"{url}/files/{LABELS}", headers={"If-None-Match": etag})
    assert answer.status_code == 200 and answer.content == changed
    assert answer.headers["etag"] != etag
    assert httpx.get(f"{url}/files/{LABELS}",
                     headers={"If-None-Match": answer.headers["etag"]}).status_code == 304


def test_the_cards_file_is_validated_without_its_cvv_and_keys_come_first(
    raw_dir: Path, live_server, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("LAKEHOUSE_READ_API_KEY", "read-key-for-tests")
    monkeypatch.setenv("LAKEHOUSE_API_KEY", "write-key-for-tests")
    get_settings.cache_clear()
    with live_server(create_app()) as base:
        keyed = {"X-API-Key": "read-key-for-tests"}
        served = httpx.get(f"{base}/files/cards_data.csv", headers=keyed)
        assert served.status_code == 200 and b"623" not in served.content
        etag = served.headers["etag"]
        unkeyed = httpx.get(f"{base}/files/cards_data.csv", headers={"If-None-Match": etag})
        assert unkeyed.status_code == 401 and "etag" not in unkeyed.headers
        again = httpx.get(f"{base}/files/cards_data.csv",
                          headers={**keyed, "If-None-Match": etag})
        assert again.status_code == 304
