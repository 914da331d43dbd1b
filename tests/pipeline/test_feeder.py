"""The feeder (bronze): pure transforms, extraction from a real source DB, and exactly-once
feeding from a real sources_api over loopback HTTP."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest
from runtime_helpers import load_parts, write_tiny_raw

from lakehouse import catalog, storage
from lakehouse.config import Settings, get_settings
from lakehouse.pipeline import feeder, fraud_labels, source_extract
from lakehouse.pipeline.runner import run_bronze
from lakehouse.pipeline.sources_http import SourceUnavailableError, fetch_reference_file
from lakehouse.sources.loader import load_batch
from lakehouse.sources.schema import source_engine

CARDS_CSV = (
    b"id,client_id,card_brand,card_type,card_number,expires,cvv,has_chip,num_cards_issued,"
    b"credit_limit,acct_open_date,year_pin_last_changed,card_on_dark_web\n"
    b"4524,825,Visa,Debit,4344676511950444,12/2022,623,YES,2,$24295,09/2002,2008,No\n"
)
TX_CSV = (
    b"id,date,client_id,card_id,amount,use_chip,merchant_id,merchant_city,merchant_state,zip,"
    b"mcc,errors\n"
    b"7475327,2010-01-01 00:01:00,1556,2972,$-77.00,Swipe Transaction,59935,Beulah,ND,58523.0,"
    b"5499,\n"
    b'7475478,2010-01-01 02:40:00,566,3640,$94.50,Chip Transaction,61195,Rome,Italy,,5411,'
    b'"Bad PIN,Insufficient Balance"\n'
)


def test_read_reference_csv_keeps_strings_and_nulls_empty_cells() -> None:
    table = feeder.read_reference_csv(TX_CSV)
    assert all(pa.types.is_string(f.type) for f in table.schema)
    row = table.to_pylist()[1]
    assert row["zip"] is None and row["errors"] == "Bad PIN,Insufficient Balance"
    assert table.column("zip").to_pylist()[0] == "58523.0"  # never inferred as a float


def test_bronze_cards_drops_cvv_and_hashes_the_card_number() -> None:
    table = feeder.bronze_cards(feeder.read_reference_csv(CARDS_CSV), "k3y")
    assert "cvv" not in table.column_names and "card_number" not in table.column_names
    row = table.to_pylist()[0]
    expected = hmac.new(b"k3y", b"4344676511950444", hashlib.sha256).hexdigest()
    assert row["card_number_hash"] == expected and row["card_last4"] == "0444"
    assert row["id"] == 4524 and table.schema.field("id").type == pa.int64()
    assert row["credit_limit"] == "$24295"  # bronze keeps the raw dollar string
    other_key = feeder.bronze_cards(feeder.read_reference_csv(CARDS_CSV), "other")
    assert other_key.column("card_number_hash")[0] != table.column("card_number_hash")[0]


def test_bronze_json_files_become_rows() -> None:
    mcc = feeder.bronze_mcc_codes(b'{"5812": "Eating Places", "5411": "Grocery"}')
    assert mcc.to_pylist() == [{"mcc_code": 5812, "mcc_description": "Eating Places"},
                               {"mcc_code": 5411, "mcc_description": "Grocery"}]
    labels = feeder.bronze_fraud_labels(b'{"target": {"10649266": "No", "23410063": "Yes"}}')
    assert labels.schema.field("transaction_id").type == pa.int64()
    assert labels.to_pylist()[1] == {"transaction_id": 23410063, "target": "Yes",
                                     "label_source": "reference_file", "label_known_at": None}


def test_an_analysts_label_replaces_the_reference_files_and_says_when_it_was_known() -> None:
    reviewed = [{"transaction_id": 10649266, "is_fraud": True,
                 "label_known_at": datetime.fromisoformat("2026-03-01T12:30:00+01:00")}]
    labels = feeder.bronze_fraud_labels(b'{"target": {"10649266": "No", "23410063": "Yes"}}',
                                        reviewed)
    assert labels.to_pylist()[0] == {
        "transaction_id": 10649266, "target": "Yes", "label_source": "analyst_review",
        "label_known_at": datetime(2026, 3, 1, 11, 30)}  # UTC


def test_bronze_transactions_from_csv_text_and_from_db_rows() -> None:
    from_csv = feeder.bronze_transactions(feeder.read_reference_csv(TX_CSV), "2010-01-02")
    assert from_csv.schema == feeder.BRONZE_TRANSACTIONS_SCHEMA
    assert from_csv.column("amount").to_pylist() == ["$-77.00", "$94.50"]
    db_rows = feeder.read_reference_csv(TX_CSV).append_column(
        "situation_date", pa.array(["2010-01-02", "2010-01-02"])).append_column(
        "loaded_at", pa.array(["x", "y"]))
    from_db = feeder.bronze_transactions(db_rows)
    assert from_db.equals(from_csv)
    with pytest.raises(ValueError, match="situation_date"):
        feeder.bronze_transactions(feeder.read_reference_csv(TX_CSV))


def test_extract_batches_streams_the_requested_dates(isolated_settings: Path) -> None:
    raw = write_tiny_raw(isolated_settings / "raw", days=6, per_day=50)
    settings = get_settings()
    results = load_parts(settings, raw, 3, [0, 1, 2])
    engine = source_engine(settings.source_db_url or "")
    counts = source_extract.source_batch_counts(engine, None)
    assert sorted(counts) == sorted(str(r.situation_date) for r in results)
    second = str(results[1].situation_date)
    batches = list(source_extract.extract_batches(engine, [second], chunk_rows=30))
    assert len(batches) > 1  # streamed in chunks, not one block
    table = pa.Table.from_batches(batches)
    assert table.num_rows == counts[second] == 100
    assert table.schema == feeder.BRONZE_TRANSACTIONS_SCHEMA
    assert source_extract.source_batch_counts(engine, results[2].situation_date) == {
        str(results[2].situation_date): 100}
    engine.dispose()


def _versions(settings) -> dict[str, int | None]:  # type: ignore[no-untyped-def]
    return {n: storage.version(catalog.location(n, settings), settings)
            for n in catalog.BRONZE_TABLES}


def test_feeding_is_exactly_once(isolated_settings: Path, live_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sources_api.api import create_app

    raw = write_tiny_raw(isolated_settings / "raw", days=9, per_day=40)
    with live_server(create_app()) as url:
        monkeypatch.setenv("LAKEHOUSE_SOURCES_API_URL", url)
        get_settings.cache_clear()
        settings = get_settings()
        load_parts(settings, raw, 3, [0])
        first = run_bronze(settings)
        assert first.status == "success" and set(first.tables) == set(catalog.BRONZE_TABLES)
        bronze_uri = catalog.location("bronze_transactions", settings)
        assert storage.read_table(bronze_uri, settings).num_rows == 120

        before = _versions(settings)
        again = run_bronze(settings)
        assert again.status == "up_to_date" and again.rows_out == 0
        assert _versions(settings) == before  # nothing moved: no data moved

        load_parts(settings, raw, 3, [1])
        third = run_bronze(settings)
        assert set(third.tables) == {"bronze_transactions"} and third.rows_out == 120
        table = storage.read_table(bronze_uri, settings)
        assert table.num_rows == 240
        assert len(set(table.column("id").to_pylist())) == 240


def test_a_grown_batch_of_the_latest_date_is_replaced_not_appended(
        isolated_settings: Path, live_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from runtime_helpers import transaction_frame

    from sources_api.api import create_app

    raw = write_tiny_raw(isolated_settings / "raw", days=4, per_day=30)
    with live_server(create_app()) as url:
        monkeypatch.setenv("LAKEHOUSE_SOURCES_API_URL", url)
        get_settings.cache_clear()
        settings = get_settings()
        frame = transaction_frame(raw)
        engine = source_engine(settings.source_db_url or "")
        day = load_batch(engine, frame.iloc[:60]).situation_date
        run_bronze(settings)
        load_batch(engine, frame.iloc[60:90], situation_date=day)  # same date, more rows
        engine.dispose()
        result = run_bronze(settings)
        assert result.rows_out == 90
        table = storage.read_table(catalog.location("bronze_transactions", settings), settings)
        assert table.num_rows == 90 and len(set(table.column("id").to_pylist())) == 90


def test_unreachable_sources_api_is_a_clear_transient_error() -> None:
    from testkit import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SourceUnavailableError, match="lakehouse serve sources-api"):
        fetch_reference_file(
            url, "cards_data.csv", Settings(retry_attempts=1), sleep=lambda _: None
        )


def test_an_empty_source_db_says_what_to_do(isolated_settings: Path) -> None:
    engine = source_engine(get_settings().source_db_url or "")
    with pytest.raises(RuntimeError, match="lakehouse sources load"):
        source_extract.source_batch_counts(engine, None)
    engine.dispose()


def test_the_feeder_reads_protected_files_with_the_read_key(
        isolated_settings: Path, live_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """With keys set, card and client files need a key: the feeder sends the read key."""
    from sources_api.api import create_app

    raw = write_tiny_raw(isolated_settings / "raw", days=2, per_day=10)
    monkeypatch.setenv("LAKEHOUSE_API_KEY", "feeder-test-write-key")
    monkeypatch.setenv("LAKEHOUSE_READ_API_KEY", "feeder-test-read-key")
    get_settings.cache_clear()
    with live_server(create_app()) as url:
        monkeypatch.setenv("LAKEHOUSE_SOURCES_API_URL", url)
        get_settings.cache_clear()
        settings = get_settings()
        load_parts(settings, raw, 1, [0])
        result = run_bronze(settings)
        assert result.status == "success" and set(result.tables) == set(catalog.BRONZE_TABLES)
        cards = storage.read_table(catalog.location("bronze_cards", settings), settings)
        assert cards.num_rows > 0 and "cvv" not in cards.column_names


@pytest.mark.parametrize("raw", [
    b'{"target": {"7": "No", "8": "Yes", "9": "No"}}',  # plain shape: the chunked scanner
    b'\n{ "target" : {\n "7" : "No" ,\n "8":"Yes" }\n}\n',
    b'{"target": {"7": "No", "07": "Yes"}}',  # duplicate id: the JSON parser, last one wins
    b'{"target": {"7": "N\\u006f"}}',  # escapes: the JSON parser
    b'{"target": {}}',
])
def test_reference_labels_read_in_chunks_match_the_json_parser(
    raw: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    monkeypatch.setattr(fraud_labels, "_SCAN_CHUNK", 5)  # many chunks even on a short file
    parsed = {int(k): v for k, v in json.loads(raw)["target"].items()}
    expected = [{"transaction_id": k, "target": v, "label_source": "reference_file",
                 "label_known_at": None} for k, v in parsed.items()]
    labels = feeder.bronze_fraud_labels(raw)
    assert labels.to_pylist() == expected
    assert labels.schema.field("transaction_id").type == pa.int64()


@pytest.mark.parametrize("raw", [b'{"target": {"7": "No",}}', b'{"target": {"x": "No"}}',
                                 b'{"target": {"7": "No"'])
def test_malformed_reference_labels_still_raise(raw: bytes) -> None:
    with pytest.raises(ValueError):
        feeder.bronze_fraud_labels(raw)
