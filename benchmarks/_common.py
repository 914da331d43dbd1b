"""Helpers shared by the benchmarks."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.pipeline import feeder


def bronze_from_raw(raw_dir: Path, card_hash_key: str = "bench-key") -> dict[str, pa.Table]:
    """The five bronze tables from generated raw files, as the feeder builds them.

    Each transaction row's own day is its `situation_date` (one batch per day). The tests keep
    the same helper in tests/testkit.py (benchmarks and tests do not import each other).
    """
    raw = feeder.read_reference_csv((raw_dir / "transactions_data.csv").read_bytes())
    day = pc.utf8_slice_codeunits(raw.column("date"), 0, 10)
    transactions = feeder.bronze_transactions(raw.append_column("situation_date", day))
    bronze = {"bronze_transactions": transactions}
    for table_name, file_name in feeder.REFERENCE_FILES.items():
        data = (raw_dir / file_name).read_bytes()
        bronze[table_name] = feeder.reference_table(table_name, data, card_hash_key)
    return bronze
