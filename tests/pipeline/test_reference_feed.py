"""The feeder fetches reference files conditionally (issue 16): over real HTTP on loopback.

A rerun with nothing new gets a bodiless 304 for every file and writes nothing; a changed
file is downloaded and ingested; a file copied over with the same bytes is a 304; a new
analyst label re-reads the labels file; lost validators cost one download, not a new
version; validators that no longer describe bronze are not trusted.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from runtime_helpers import load_parts, write_tiny_raw

from lakehouse import catalog, formats, storage
from lakehouse.config import Settings, get_settings
from lakehouse.pipeline.reference_feed import source_state_uri
from lakehouse.pipeline.runner import run_bronze
from lakehouse.sources.labels import record_labels
from lakehouse.sources.schema import source_engine
from sources_api.api import create_app

REFERENCE_TABLES = ("bronze_cards", "bronze_users", "bronze_mcc_codes", "bronze_fraud_labels")


class Fed:
    """A live sources_api whose answers to `/files/...` are recorded (file name, status)."""

    def __init__(self, settings: Settings, raw: Path, answers: list[tuple[str, int]]) -> None:
        self.settings, self.raw, self.answers = settings, raw, answers

    def run(self) -> tuple[dict[str, int], dict[str, int]]:
        """One bronze run: (status per file, new versions per reference table)."""
        self.answers.clear()
        result = run_bronze(self.settings)
        return dict(self.answers), {t: v for t, v in result.tables.items()
                                    if t in REFERENCE_TABLES}


@pytest.fixture
def fed(isolated_settings: Path, live_server, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fed]:  # type: ignore[no-untyped-def]
    raw = write_tiny_raw(isolated_settings / "raw", days=3, per_day=20)
    app = create_app()
    answers: list[tuple[str, int]] = []

    @app.middleware("http")
    async def record(request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        if request.url.path.startswith("/files/"):
            answers.append((request.url.path.removeprefix("/files/"), response.status_code))
        return response

    with live_server(app) as url:
        monkeypatch.setenv("LAKEHOUSE_SOURCES_API_URL", url)
        get_settings.cache_clear()
        settings = get_settings()
        load_parts(settings, raw, 1, [0])
        yield Fed(settings, raw, answers)


def test_a_rerun_gets_304s_and_a_changed_file_is_ingested(fed: Fed) -> None:
    statuses, written = fed.run()
    assert set(statuses.values()) == {200} and set(written) == set(REFERENCE_TABLES)
    versions = {t: storage.version(catalog.location(t, fed.settings), fed.settings)
                for t in REFERENCE_TABLES}

    statuses, written = fed.run()
    assert statuses == dict.fromkeys(formats.REFERENCE_FILES, 304) and written == {}

    users = fed.raw / formats.USERS_FILE
    users.write_bytes(users.read_bytes() + b"99,40,66,1984,5,Male,9 Oak St,34.15,-117.76,"
                      b"$20099,$50099,$10099,700,2\n")
    labels = fed.raw / formats.LABELS_FILE
    labels.write_bytes(labels.read_bytes())  # copied over with the same bytes
    statuses, written = fed.run()
    assert statuses[formats.USERS_FILE] == 200 and statuses[formats.LABELS_FILE] == 304
    assert set(written) == {"bronze_users"} and written["bronze_users"] > versions["bronze_users"]
    table = storage.read_table(catalog.location("bronze_users", fed.settings), fed.settings)
    assert 99 in table.column("id").to_pylist()

    statuses, written = fed.run()
    assert set(statuses.values()) == {304} and written == {}


def test_a_new_analyst_label_fetches_the_labels_file_again(fed: Fed) -> None:
    fed.run()
    engine = source_engine(fed.settings.source_db_url or "")
    try:
        record_labels(engine, [{"transaction_id": 1, "is_fraud": True, "source": "analyst_review",
                                "reviewer": "test", "label_known_at": datetime.now(UTC)}])
    finally:
        engine.dispose()
    statuses, written = fed.run()
    assert statuses[formats.LABELS_FILE] == 200 and set(written) == {"bronze_fraud_labels"}
    assert fed.run()[0][formats.LABELS_FILE] == 304


def test_lost_or_stale_validators_cost_a_download_not_a_version(fed: Fed) -> None:
    fed.run()
    state_uri = source_state_uri("bronze_mcc_codes", fed.settings)
    Path(state_uri).unlink()  # lost (or a lake from before conditional fetches)
    statuses, written = fed.run()
    assert statuses[formats.MCC_FILE] == 200 and written == {}
    assert Path(state_uri).is_file() and fed.run()[0][formats.MCC_FILE] == 304

    # Validators whose fingerprint is not bronze's (bronze rewritten by other means).
    state = storage.read_json(state_uri, fed.settings)
    storage.write_json(state_uri, {**state, "content_sha256": "0" * 64}, fed.settings)
    statuses, written = fed.run()
    assert statuses[formats.MCC_FILE] == 200 and written == {}
    assert storage.read_json(state_uri, fed.settings) == state
