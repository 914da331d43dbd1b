"""What leaves the source system through `GET /files/{name}` (issue 14, card data at the source).

Over real HTTP against a real raw folder: CVVs never leave, card and client files need a key
once keys are configured (the read-only key is enough to read, not to write), a symlink to a
file with another extension is served under its allowed name's media type (it was a 500), a
symlink out of the raw folder is a 404, and an undecodable key header is a 403, not a 500.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from sources_samples import transaction_lines, write_raw_dir

from lakehouse.config import get_settings
from sources_api.api import create_app

CARDS = (
    "id,client_id,card_brand,card_type,card_number,expires,cvv,has_chip,num_cards_issued,"
    "credit_limit,acct_open_date,year_pin_last_changed,card_on_dark_web\n"
    "4524,825,Visa,Debit,4344676511950444,12/2022,623,YES,2,$24295,09/2002,2008,No\n"
    '2731,825,Visa,Debit,4956965974959986,12/2020,393,YES,2,"$21,968",04/2014,2014,No\n'
)
FILES = {
    "cards_data.csv": CARDS.encode(),
    "users_data.csv": b"id,current_age\n825,53\n",
    "mcc_codes.json": b'{"5812": "Eating Places and Restaurants"}',
    "train_fraud_labels.json": b'{"target": {"10649266": "No"}}',
}
WRITE_KEY, READ_KEY = "write-key-for-tests", "read-key-for-tests"


@pytest.fixture
def raw_dir(isolated_settings: Path) -> Path:
    return write_raw_dir(isolated_settings, FILES)


@pytest.fixture
def keyed(raw_dir: Path, live_server, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LAKEHOUSE_API_KEY", WRITE_KEY)
    monkeypatch.setenv("LAKEHOUSE_READ_API_KEY", READ_KEY)
    get_settings.cache_clear()
    with live_server(create_app()) as base:
        yield base


def test_cards_are_served_without_cvv(raw_dir: Path, live_server) -> None:  # type: ignore[no-untyped-def]
    with live_server(create_app()) as base:
        served = httpx.get(f"{base}/files/cards_data.csv")
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(served.text)))
    expected = list(csv.DictReader(io.StringIO(CARDS)))
    assert "cvv" not in rows[0]
    assert rows == [{k: v for k, v in row.items() if k != "cvv"} for row in expected]
    assert "623" not in served.text and "393" not in served.text


def test_card_and_client_files_need_a_key_when_keys_are_set(keyed: str) -> None:
    for name in ("cards_data.csv", "users_data.csv"):
        assert httpx.get(f"{keyed}/files/{name}").status_code == 401
        assert httpx.get(f"{keyed}/files/{name}", headers={"X-API-Key": "nope"}).status_code == 403
        for key in (READ_KEY, WRITE_KEY):
            assert httpx.get(f"{keyed}/files/{name}", headers={"X-API-Key": key}).status_code == 200
    for name in ("mcc_codes.json", "train_fraud_labels.json"):
        assert httpx.get(f"{keyed}/files/{name}").status_code == 200


def test_the_read_key_cannot_write(keyed: str) -> None:
    line = transaction_lines(1, 1, date(2010, 1, 1))[0].split(",", 11)
    row = dict(
        zip(
            [
                "id",
                "date",
                "client_id",
                "card_id",
                "amount",
                "use_chip",
                "merchant_id",
                "merchant_city",
                "merchant_state",
                "zip",
                "mcc",
                "errors",
            ],
            line,
            strict=True,
        )
    )
    row["errors"] = None
    refused = httpx.post(f"{keyed}/transactions", json=[row], headers={"X-API-Key": READ_KEY})
    assert refused.status_code == 403, refused.text
    accepted = httpx.post(f"{keyed}/transactions", json=[row], headers={"X-API-Key": WRITE_KEY})
    assert accepted.status_code == 201, accepted.text


@pytest.mark.parametrize("header", ["clé-ünïcode".encode(), b"\xff\xfebad", "✓".encode()])
def test_a_key_header_that_is_not_ascii_is_403_not_500(keyed: str, header: bytes) -> None:
    response = httpx.get(f"{keyed}/files/cards_data.csv", headers={"X-API-Key": header})
    assert response.status_code == 403
    assert (
        httpx.get(f"{keyed}/files/users_data.csv", headers={"X-API-Key": READ_KEY}).status_code
        == 200
    )


def test_symlink_to_another_extension_is_served_by_its_allowed_name(
    raw_dir: Path,
    live_server,  # type: ignore[no-untyped-def]
) -> None:
    """Issue 14, defect 2: the media type was looked up by the resolved path's suffix (500)."""
    (raw_dir / "labels.txt").write_bytes(FILES["train_fraud_labels.json"])
    (raw_dir / "train_fraud_labels.json").unlink()
    (raw_dir / "train_fraud_labels.json").symlink_to(raw_dir / "labels.txt")
    (raw_dir / "users.data").write_bytes(FILES["users_data.csv"])
    (raw_dir / "users_data.csv").unlink()
    (raw_dir / "users_data.csv").symlink_to("users.data")
    (raw_dir / "mcc_codes.json").unlink()
    (raw_dir / "mcc_codes.json").symlink_to(raw_dir.parent / "outside.json")
    (raw_dir.parent / "outside.json").write_text("{}")
    with live_server(create_app()) as base:
        labels = httpx.get(f"{base}/files/train_fraud_labels.json")
        users = httpx.get(f"{base}/files/users_data.csv")
        outside = httpx.get(f"{base}/files/mcc_codes.json")
    assert labels.status_code == 200 and labels.headers["content-type"] == "application/json"
    assert labels.content == FILES["train_fraud_labels.json"]
    assert users.status_code == 200 and users.headers["content-type"].startswith("text/csv")
    assert outside.status_code == 404
