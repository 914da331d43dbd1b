"""Card data protection: after a whole pipeline run on generated data, no bronze, silver or
gold table, no published table and no log line holds a full card number or a CVV from the
raw cards file."""

from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa
from runtime_helpers import load_parts

from lakehouse import catalog, storage
from lakehouse.config import get_settings
from lakehouse.observability.logs import configure_logging
from lakehouse.orchestrator import run_pipeline

DIGIT_RUNS = re.compile(r"\d{12,19}")


def _raw_cards(raw_dir: Path) -> tuple[set[str], dict[int, str]]:
    with open(raw_dir / "cards_data.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {r["card_number"] for r in rows}, {int(r["id"]): r["cvv"] for r in rows}


def _leaks_in_values(values: list[object], numbers: set[str]) -> list[object]:
    leaks = []
    for value in values:
        if value is None:
            continue
        if any(run in numbers for run in DIGIT_RUNS.findall(str(value))):
            leaks.append(value)
    return leaks


def _cvv_columns(table: pa.Table, key: str, cvvs: dict[int, str]) -> list[str]:
    """Columns whose value equals the card's CVV on most rows (a copied CVV column)."""
    ids = table.column(key).to_pylist()
    suspicious = []
    for name in table.column_names:
        values = [None if v is None else str(v) for v in table.column(name).to_pylist()]
        same = sum(1 for i, v in zip(ids, values, strict=True) if v == cvvs.get(i))
        if same > 0.2 * max(len(ids), 1):
            suspicious.append(name)
    return suspicious


@pytest.fixture
def pipeline_logs(small_raw_dir: Path, isolated_settings: Path, live_server,  # type: ignore[no-untyped-def]
                  monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> str:
    """Run the whole pipeline on the generated files; return every log line it wrote."""
    from sources_api.api import create_app

    monkeypatch.setenv("LAKEHOUSE_RAW_DIR", str(small_raw_dir))
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    with caplog.at_level(logging.DEBUG), live_server(create_app()) as url:
        monkeypatch.setenv("LAKEHOUSE_SOURCES_API_URL", url)
        get_settings.cache_clear()
        load_parts(get_settings(), small_raw_dir, 2, [0, 1])
        for result in run_pipeline(get_settings(), skip=("train",)):
            assert result.status in ("success", "skipped"), (result.stage, result.message)
    configure_logging("INFO")
    return stream.getvalue() + "\n".join(r.getMessage() for r in caplog.records)


def test_no_card_number_or_cvv_anywhere(pipeline_logs: str, small_raw_dir: Path) -> None:
    numbers, cvvs = _raw_cards(small_raw_dir)
    settings = get_settings()
    assert len(numbers) > 50 and pipeline_logs.count("\n") > 10

    for name in catalog.CATALOG:
        table = storage.read_table(catalog.location(name, settings), settings)
        assert not {"cvv", "card_number"} & set(table.column_names), name
        for column in table.column_names:
            values = pc.unique(table.column(column)).to_pylist()
            assert not _leaks_in_values(values, numbers), f"card number in {name}.{column}"
    for name, key in (("bronze_cards", "id"), ("silver_cards", "card_id")):
        table = storage.read_table(catalog.location(name, settings), settings)
        assert _cvv_columns(table, key, cvvs) == [], f"CVV copied into {name}"

    engine = sa.create_engine(settings.analytics_db_url.get_secret_value())
    with engine.connect() as connection:
        for table_name in sa.inspect(engine).get_table_names():
            rows = connection.execute(sa.text(f'SELECT * FROM "{table_name}"')).all()
            flat = [value for row in rows for value in row]
            assert not _leaks_in_values(flat, numbers), f"card number published in {table_name}"
    engine.dispose()

    assert not _leaks_in_values(pipeline_logs.split(), numbers), "card number in the logs"
    assert '"cvv"' not in pipeline_logs.lower()
