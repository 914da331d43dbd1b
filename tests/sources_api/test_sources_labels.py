"""`/labels` on sources_api over real HTTP: analysts' labels, idempotent, with their known-at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lakehouse.config import get_settings
from sources_api.api import create_app

KNOWN_AT = "2026-03-01T10:00:00+00:00"


@pytest.fixture
def url(isolated_settings: Path, live_server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with live_server(create_app()) as base_url:
        yield base_url


def _label(transaction_id: int, is_fraud: bool, known_at: str = KNOWN_AT) -> dict:
    return {
        "transaction_id": transaction_id,
        "is_fraud": is_fraud,
        "reviewer": "alice",
        "label_known_at": known_at,
    }


def test_labels_are_recorded_once_and_keep_when_they_became_known(url: str) -> None:
    first = httpx.post(f"{url}/labels", json=[_label(1, True), _label(2, False)])
    assert first.status_code == 201, first.text
    assert first.json() == {"received": 2, "inserted": 2, "updated": 0, "unchanged": 0}
    again = httpx.post(f"{url}/labels", json=[_label(1, True, "2026-04-01T00:00:00Z")])
    assert again.json() == {"received": 1, "inserted": 0, "updated": 0, "unchanged": 1}
    overturned = httpx.post(
        f"{url}/labels", json=[_label(2, True, "2026-03-02T09:00:00+00:00")]
    ).json()
    assert overturned["updated"] == 1
    labels = {r["transaction_id"]: r for r in httpx.get(f"{url}/labels").json()["data"]}
    assert labels[1]["label_known_at"].startswith("2026-03-01T10:00:00")  # the first one
    assert labels[2]["is_fraud"] is True
    assert labels[2]["label_known_at"].startswith("2026-03-02T09:00:00")
    assert labels[1]["source"] == "analyst_review"


def test_bad_labels_are_refused_and_writes_need_the_key(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = httpx.post(f"{url}/labels", json=[{"transaction_id": -1, "is_fraud": True}])
    assert refused.status_code == 422
    assert httpx.post(f"{url}/labels", json=[{"transaction_id": 1}]).status_code == 422
    monkeypatch.setenv("LAKEHOUSE_API_KEY", "a-test-key")
    get_settings.cache_clear()
    assert httpx.post(f"{url}/labels", json=[_label(3, True)]).status_code == 401
    keyed = httpx.post(f"{url}/labels", json=[_label(3, True)], headers={"X-API-Key": "a-test-key"})
    assert keyed.status_code == 201


@pytest.mark.parametrize("known_at", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"])
def test_a_known_at_beyond_the_calendar_in_utc_is_a_422(url: str, known_at: str) -> None:
    """Its UTC instant is not a date-time Python can hold: the pipeline would fail on it later."""
    refused = httpx.post(f"{url}/labels", json=[_label(4, True), _label(5, True, known_at)])
    assert refused.status_code == 422, refused.text
    assert "years 1 to 9999" in refused.text and "label_known_at" in refused.text
    assert known_at not in refused.text  # the value is not echoed
    assert httpx.get(f"{url}/labels").json()["count"] == 0  # nothing of the batch recorded
    edge = httpx.post(f"{url}/labels", json=[_label(4, True, "9999-12-31T23:59:59+00:00")])
    assert edge.status_code == 201, edge.text


@pytest.mark.postgres
def test_a_nul_byte_in_a_reviewer_is_a_422_on_postgresql(  # type: ignore[no-untyped-def]
    pg_url: str, monkeypatch: pytest.MonkeyPatch, isolated_settings: Path, live_server
) -> None:
    # Found by schemathesis: PostgreSQL text refuses NUL, which answered 500 before.
    monkeypatch.setenv("LAKEHOUSE_SOURCE_DB_URL", pg_url)
    get_settings.cache_clear()
    with live_server(create_app()) as url:
        for reviewer in ("al\x00ice", "bob\nsmith", "\x1b[31m"):
            bad = httpx.post(f"{url}/labels", json=[{**_label(7, True), "reviewer": reviewer}])
            assert bad.status_code == 422, bad.text
            assert "reviewer" in bad.text
        assert httpx.post(f"{url}/labels", json=[_label(7, True)]).status_code == 201
