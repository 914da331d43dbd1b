"""sources_api over real HTTP (uvicorn on loopback) with a real SQLite source DB."""

from __future__ import annotations

import csv
import http.client
import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from sources_samples import HEADER, transaction_lines, write_csv, write_raw_dir

from lakehouse.config import Settings, get_settings
from sources_api.api import create_app

REFERENCE = {
    "cards_data.csv": b"id,client_id,card_brand\n4524,825,Visa\n",
    "users_data.csv": b"id,current_age\n825,53\n",
    "mcc_codes.json": b'{"5812": "Eating Places and Restaurants"}',
    "train_fraud_labels.json": b'{"target": {"10649266": "No"}}',
}


@pytest.fixture
def raw_dir(isolated_settings: Path) -> Path:
    raw = write_raw_dir(isolated_settings, REFERENCE)
    (isolated_settings / "secret.txt").write_text("outside the raw folder")
    (raw / "transactions_data.csv").write_text(HEADER + "\n")
    return raw


@pytest.fixture
def url(raw_dir: Path, live_server) -> Iterator[str]:
    with live_server(create_app()) as base_url:
        yield base_url


def _stats(url: str) -> dict:
    response = httpx.get(f"{url}/transactions/stats")
    assert response.status_code == 200
    return response.json()


def _json_rows(first_id: int, count: int, first_day: date) -> list[dict]:
    keys = HEADER.split(",")
    rows = []
    for line in transaction_lines(first_id, count, first_day):
        values = line.split(",", 11)
        row = dict(zip(keys, values, strict=True))
        row["errors"] = row["errors"].strip('"') or None
        rows.append(row)
    return rows


def test_files_are_listed_and_served_byte_for_byte(url: str) -> None:
    listing = httpx.get(f"{url}/files").json()
    assert listing["count"] == 4
    assert {f["name"]: f["size_bytes"] for f in listing["data"]} == {
        name: len(content) for name, content in REFERENCE.items()}
    for name, content in REFERENCE.items():
        response = httpx.get(f"{url}/files/{name}")
        assert response.status_code == 200
        assert response.content == content


@pytest.mark.parametrize("path", [
    "/files/unknown.csv",
    "/files/transactions_data.csv",
    "/files/secret.txt",
    "/files/..%2Fsecret.txt",
    "/files/%2e%2e%2fsecret.txt",
    "/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/files/%2Fetc%2Fpasswd",
    "/files/../secret.txt",
    "/files/../../etc/passwd",
    "/files/..",
    "/files/cards_data.csv%00.txt",
])
def test_unknown_names_and_traversal_get_404(url: str, path: str) -> None:
    # http.client sends the path exactly as written (no client-side normalisation).
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 404, body
    assert b"outside the raw folder" not in body and b"root:" not in body


def test_symlink_leading_outside_is_not_served(raw_dir: Path, url: str) -> None:
    (raw_dir / "users_data.csv").unlink()
    (raw_dir / "users_data.csv").symlink_to(raw_dir.parent / "secret.txt")
    assert httpx.get(f"{url}/files/users_data.csv").status_code == 404
    assert "users_data.csv" not in {f["name"] for f in httpx.get(f"{url}/files").json()["data"]}


def test_json_batch_is_loaded_then_skipped_on_resend(url: str) -> None:
    rows = _json_rows(1, 6, date(2010, 1, 1))
    first = httpx.post(f"{url}/transactions", json=rows)
    assert first.status_code == 201, first.text
    assert first.json() == {"situation_date": "2010-01-02", "received": 6, "inserted": 6,
                            "skipped": 0}
    again = httpx.post(f"{url}/transactions", json=rows)
    assert again.json()["inserted"] == 0 and again.json()["skipped"] == 6
    assert _stats(url)["rows"] == 6


def test_csv_upload_with_situation_date(url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "b.csv", transaction_lines(1, 9, date(2010, 1, 1)))
    with path.open("rb") as handle:
        response = httpx.post(f"{url}/transactions/csv", params={"situation_date": "2010-02-01"},
                              files={"file": ("b.csv", handle, "text/csv")})
    assert response.status_code == 201, response.text
    assert response.json()["situation_date"] == "2010-02-01"
    earlier = write_csv(tmp_path / "c.csv", transaction_lines(100, 3, date(2010, 1, 1)))
    with earlier.open("rb") as handle:
        conflict = httpx.post(f"{url}/transactions/csv", params={"situation_date": "2010-01-31"},
                              files={"file": ("c.csv", handle, "text/csv")})
    assert conflict.status_code == 409
    assert "only move forward" in conflict.json()["error"]
    assert _stats(url) == {"rows": 9, "min_situation_date": "2010-02-01",
                           "max_situation_date": "2010-02-01",
                           "batches": [{"situation_date": "2010-02-01", "rows": 9}]}


def test_wrong_values_get_row_level_errors_and_nothing_is_written(url: str) -> None:
    rows = _json_rows(1, 4, date(2010, 1, 1))
    rows[2]["amount"] = "12.00"
    rows[3]["id"] = "abc"
    response = httpx.post(f"{url}/transactions", json=rows)
    assert response.status_code == 422
    body = response.json()
    assert "nothing written" in body["error"]
    assert {(d["row"], d["column"]) for d in body["detail"]} == {(3, "amount"), (4, "id")}
    assert all(d["message"] and d["location"].startswith("row ") for d in body["detail"])
    assert _stats(url)["rows"] == 0


def test_a_date_at_the_end_of_time_is_refused_and_later_batches_still_load(url: str) -> None:
    """Issue 14: one row dated 9999-12-31 was accepted, then every default batch got a 500."""
    far = _json_rows(1, 2, date(2010, 1, 1))
    far[1]["date"] = "9999-12-31 23:59:00"
    refused = httpx.post(f"{url}/transactions", json=far)
    assert refused.status_code == 422, refused.text
    assert [(d["row"], d["column"]) for d in refused.json()["detail"]] == [(2, "date")]
    beyond = httpx.post(f"{url}/transactions", json=_json_rows(10, 3, date(2010, 1, 1)),
                        params={"situation_date": "9999-12-31"})
    assert beyond.status_code == 422
    assert beyond.json()["detail"][0]["column"] == "situation_date"
    normal = httpx.post(f"{url}/transactions", json=_json_rows(20, 3, date(2010, 1, 1)))
    assert normal.status_code == 201, normal.text
    assert normal.json()["situation_date"] == "2010-01-01"


@pytest.mark.parametrize(("content", "expected"), [
    (b"[{not json", "invalid request"),
    (b'{"id": 1}', "valid list"),
    (b'[{"id": 1, "date": "2010-01-01 00:00:00"}]', "Field required"),
    (b'[{"id": [1], "date": 5}]', "invalid request"),
])
def test_bad_json_gets_422_with_a_message(url: str, content: bytes, expected: str) -> None:
    response = httpx.post(f"{url}/transactions", content=content,
                          headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert expected in response.text
    assert _stats(url)["rows"] == 0


@pytest.mark.parametrize(("content", "expected"), [
    (b"id,date,amount\n1,2010-01-01 00:00:00,$1.00\n", "missing column"),
    (HEADER.encode() + b"\n1,2010-01-01 00:01:00,1,1,$1.00,Swipe Transaction,1,X,CA,,5411,,x\n",
     "13 fields"),
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "header"),
])
def test_bad_csv_gets_422_with_a_message(url: str, content: bytes, expected: str) -> None:
    response = httpx.post(f"{url}/transactions/csv", files={"file": ("t.csv", content)})
    assert response.status_code == 422, response.text
    assert expected in response.text
    assert _stats(url)["rows"] == 0


def test_missing_upload_field_gets_422(url: str) -> None:
    response = httpx.post(f"{url}/transactions/csv", files={"other": ("t.csv", b"x")})
    assert response.status_code == 422
    assert "file" in response.json()["error"]


def test_oversized_upload_gets_413(isolated_settings, raw_dir, live_server, monkeypatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_MAX_UPLOAD_MB", "1")
    get_settings.cache_clear()
    big = (HEADER + "\n" + "\n".join(transaction_lines(1, 15_000, date(2010, 1, 1)))).encode()
    assert len(big) > 1024 * 1024
    with live_server(create_app()) as base:
        announced = httpx.post(f"{base}/transactions/csv", files={"file": ("t.csv", big)})
        assert announced.status_code == 413
        assert "LAKEHOUSE_MAX_UPLOAD_MB" in announced.json()["error"]

        def chunked() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            for start in range(0, len(big), 64 * 1024):
                yield big[start:start + 64 * 1024]

        streamed = httpx.post(f"{base}/transactions", content=chunked(),
                              headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert _stats(base)["rows"] == 0


def test_api_key_guards_writes_only(isolated_settings, raw_dir, live_server, monkeypatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_API_KEY", "s3cret-test-key")
    get_settings.cache_clear()
    rows = _json_rows(1, 3, date(2010, 1, 1))
    with live_server(create_app()) as base:
        missing = httpx.post(f"{base}/transactions", json=rows)
        assert missing.status_code == 401 and "X-API-Key" in missing.json()["error"]
        wrong = httpx.post(f"{base}/transactions", json=rows, headers={"X-API-Key": "nope"})
        assert wrong.status_code == 403
        upload = httpx.post(f"{base}/transactions/csv", files={"file": ("t.csv", b"x")})
        assert upload.status_code == 401
        assert _stats(base)["rows"] == 0
        assert httpx.get(f"{base}/files").status_code == 200
        right = httpx.post(f"{base}/transactions", json=rows,
                           headers={"X-API-Key": "s3cret-test-key"})
        assert right.status_code == 201


def test_settings_dependency_override(tmp_path: Path, isolated_settings, live_server) -> None:
    other = tmp_path / "elsewhere"
    (other / "raw").mkdir(parents=True)
    (other / "raw" / "mcc_codes.json").write_text("{}")
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: Settings(data_dir=other)
    with live_server(app) as base:
        assert [f["name"] for f in httpx.get(f"{base}/files").json()["data"]] == ["mcc_codes.json"]
        assert httpx.post(f"{base}/transactions", json=_json_rows(1, 3, date(2010, 1, 1))
                          ).status_code == 201
    assert (other / "sources.db").is_file()


def test_health_metrics_and_docs(url: str) -> None:
    health = httpx.get(f"{url}/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["database"] == "ok"
    assert health.json()["reference_files"] == "ok"
    httpx.post(f"{url}/transactions", json=_json_rows(1, 3, date(2010, 1, 1)))
    metrics = httpx.get(f"{url}/metrics").text
    assert 'route="/transactions"' in metrics and 'status="201"' in metrics
    assert "http_request_duration_seconds_bucket" in metrics
    assert httpx.get(f"{url}/docs").status_code == 200
    paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    expected = {"/files", "/files/{name}", "/transactions", "/transactions/csv", "/health"}
    assert expected <= set(paths)


def test_unreachable_database_gives_503_not_500(raw_dir, live_server, monkeypatch) -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    monkeypatch.setenv("LAKEHOUSE_SOURCE_DB_URL", "postgresql+psycopg://postgres@127.0.0.1:1/x")
    get_settings.cache_clear()
    with live_server(create_app()) as base:
        health = httpx.get(f"{base}/health")
        assert health.status_code == 503
        assert health.json()["error"].startswith("source database unavailable")
        write = httpx.post(f"{base}/transactions", json=_json_rows(1, 3, date(2010, 1, 1)))
        assert write.status_code == 503
        assert "source database unavailable" in write.json()["error"]


def test_generated_reference_files_are_served_as_they_are(
    small_raw_dir: Path, isolated_settings, live_server, monkeypatch
) -> None:
    monkeypatch.setenv("LAKEHOUSE_RAW_DIR", str(small_raw_dir))
    get_settings.cache_clear()
    with live_server(create_app()) as base:
        names = [f["name"] for f in httpx.get(f"{base}/files").json()["data"]]
        assert names == ["cards_data.csv", "users_data.csv", "mcc_codes.json",
                         "train_fraud_labels.json"]
        for name in names:
            with httpx.stream("GET", f"{base}/files/{name}") as response:
                assert response.status_code == 200
                served = response.read()
            stored = (small_raw_dir / name).read_bytes()
            if name == "cards_data.csv":  # the same rows, without the cvv column
                rows = list(csv.DictReader(io.StringIO(stored.decode())))
                assert list(csv.DictReader(io.StringIO(served.decode()))) == [
                    {k: v for k, v in row.items() if k != "cvv"} for row in rows]
            else:
                assert served == stored
        assert httpx.get(f"{base}/files/transactions_data.csv").status_code == 404


@pytest.mark.parametrize("url", ["not a url", "mysql://root@127.0.0.1/x"])
def test_bad_database_url_fails_at_start_up(isolated_settings, monkeypatch, url: str) -> None:
    monkeypatch.setenv("LAKEHOUSE_SOURCE_DB_URL", url)
    get_settings.cache_clear()
    with pytest.raises(ValueError, match=r"LAKEHOUSE_SOURCE_DB_URL|SQLite or PostgreSQL"):
        create_app()
