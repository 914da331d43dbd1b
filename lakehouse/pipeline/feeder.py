"""Bronze transforms: the source files and rows, one-to-one, with card data protected.

Pure Arrow functions, no I/O: the bronze stage fetches bytes from sources_api
(`reference_feed`) or rows from the source DB (`source_extract`), passes them through these
functions, and writes the result to the bronze Delta tables. Bronze keeps the source's names
and raw strings (dollar amounts, `MM/YYYY` dates) so silver can always be rebuilt from it;
only ids are cast to integers, the JSON files become rows, and the card number never gets this far:
`cvv` is dropped and `card_number` becomes a keyed hash plus its last four digits.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from lakehouse import formats
from lakehouse.pipeline.fraud_labels import bronze_fraud_labels

# Columns of `transaction_data` / transactions_data.csv and their bronze types.
TRANSACTION_TYPES: dict[str, pa.DataType] = {
    "id": pa.int64(),
    "date": pa.string(),
    "client_id": pa.int64(),
    "card_id": pa.int64(),
    "amount": pa.string(),
    "use_chip": pa.string(),
    "merchant_id": pa.int64(),
    "merchant_city": pa.string(),
    "merchant_state": pa.string(),
    "zip": pa.string(),
    "mcc": pa.int32(),
    "errors": pa.string(),
}
BRONZE_TRANSACTIONS_SCHEMA = pa.schema(
    [*TRANSACTION_TYPES.items(), ("situation_date", pa.date32())]
)
CARD_SECRET_COLUMNS = ("card_number", "cvv")


def read_reference_csv(data: bytes) -> pa.Table:
    """Parse a CSV file with every column as a string; empty cells become null.

    Strings everywhere because bronze keeps the source as received: letting the reader
    infer types would turn `58523.0` zips into floats and `$24295` into errors.

    Args:
        data: the file's bytes (a UTF-8 BOM is accepted).

    Returns:
        The rows, every column a string.
    """
    first_line = data.split(b"\n", 1)[0].decode("utf-8-sig").strip("\r")
    header = next(csv.reader([first_line]))
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(encoding="utf8"),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            null_values=[""],
            strings_can_be_null=True,
        ),
    )


def _cast_columns(table: pa.Table, types: dict[str, pa.DataType]) -> pa.Table:
    """Cast the named columns (strings such as '825' or '825.0' become integers)."""
    columns = []
    for name in table.column_names:
        column = table.column(name)
        target = types.get(name)
        if target is not None and column.type != target:
            if pa.types.is_integer(target) and pa.types.is_string(column.type):
                # Some exports write ids as '825.0'; going through float64 accepts both.
                column = pc.cast(pc.cast(column, pa.float64()), target)
            else:
                column = pc.cast(column, target)
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def card_number_hash(card_number: str, key: str) -> str:
    """Hex HMAC-SHA256 of a card number: joinable, not reversible without the key.

    Args:
        card_number: the full number.
        key: the HMAC key, `Settings.effective_card_hash_key`.

    Returns:
        64 hex characters.
    """
    return hmac.new(key.encode(), card_number.encode(), hashlib.sha256).hexdigest()


def bronze_cards(raw: pa.Table, key: str) -> pa.Table:
    """cards_data.csv → bronze_cards: drop `cvv`, hash `card_number`, keep its last 4.

    Args:
        raw: the file as read by `read_reference_csv` (all strings).
        key: the HMAC key, `Settings.effective_card_hash_key`.

    Returns:
        The file's columns minus `cvv` and `card_number`, `id`/`client_id` as BIGINT, plus
        `card_number_hash` and `card_last4`.
    """
    numbers = raw.column("card_number").to_pylist() if "card_number" in raw.column_names else []
    hashes = [None if n is None else card_number_hash(n.strip(), key) for n in numbers]
    last4 = [None if n is None else n.strip()[-4:] for n in numbers]
    kept = raw.drop_columns([c for c in CARD_SECRET_COLUMNS if c in raw.column_names])
    kept = _cast_columns(kept, {"id": pa.int64(), "client_id": pa.int64()})
    return kept.append_column("card_number_hash", pa.array(hashes, pa.string())).append_column(
        "card_last4", pa.array(last4, pa.string())
    )


def bronze_users(raw: pa.Table) -> pa.Table:
    """users_data.csv → bronze_users: the file as it is, `id` as BIGINT.

    Args:
        raw: the file as read by `read_reference_csv`.

    Returns:
        The bronze table.
    """
    return _cast_columns(raw, {"id": pa.int64()})


def bronze_mcc_codes(raw_json: bytes) -> pa.Table:
    """mcc_codes.json (`{"5812": "Eating Places", ...}`) → rows (mcc_code, mcc_description).

    Args:
        raw_json: the file's bytes.

    Returns:
        One row per code.
    """
    codes = json.loads(raw_json)
    return pa.table(
        {
            "mcc_code": pa.array([int(code) for code in codes], pa.int32()),
            "mcc_description": pa.array([str(v) for v in codes.values()], pa.string()),
        }
    )


def bronze_transactions(raw: pa.Table, situation_date: date | str | None = None) -> pa.Table:
    """Source rows (`transaction_data` or transactions_data.csv) → bronze_transactions.

    Args:
        raw: rows with the `transaction_data` columns; text or typed, extra columns such as
            `loaded_at` are dropped.
        situation_date: the batch's business date; when None the rows must carry their own
            `situation_date` column (as extracted from the source DB).

    Returns:
        Columns and types of `BRONZE_TRANSACTIONS_SCHEMA`, in that order.
    """
    if situation_date is not None:
        stamp = situation_date
        if isinstance(stamp, str):
            stamp = date.fromisoformat(stamp)
        column = pa.array([stamp] * raw.num_rows, pa.date32())
    elif "situation_date" in raw.column_names:
        column = raw.column("situation_date")
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            # SQLite hands dates back as 'YYYY-MM-DD' text.
            column = pc.utf8_slice_codeunits(column, 0, 10)
        column = pc.cast(column, pa.date32())
    else:
        raise ValueError("bronze_transactions needs a situation_date: none given, none in the rows")
    missing = [name for name in TRANSACTION_TYPES if name not in raw.column_names]
    if missing:
        raise ValueError(f"transaction rows lack columns {missing}")
    typed = _cast_columns(raw.select(list(TRANSACTION_TYPES)), TRANSACTION_TYPES)
    return typed.append_column("situation_date", column).cast(BRONZE_TRANSACTIONS_SCHEMA)


# ----------------------------------------------------------------------------------------
# Reaching the source system: transaction batches from its DB (reference files over HTTP:
# `lakehouse.pipeline.sources_http`).
# ----------------------------------------------------------------------------------------

REFERENCE_FILES: dict[str, str] = {
    "bronze_cards": formats.CARDS_FILE,
    "bronze_users": formats.USERS_FILE,
    "bronze_mcc_codes": formats.MCC_FILE,
    "bronze_fraud_labels": formats.LABELS_FILE,
}


def reference_table(
    table_name: str, data: bytes, card_hash_key: str, analyst_labels: Sequence[dict] = ()
) -> pa.Table:
    """The bronze table for one reference file's bytes (labels: plus the analysts').

    Args:
        table_name: a bronze reference table of the catalog.
        data: the file's bytes.
        card_hash_key: the HMAC key for card numbers.
        analyst_labels: the analysts' labels (only for `bronze_fraud_labels`).

    Returns:
        The bronze table.

    Raises:
        KeyError: not a reference table.
    """
    if table_name == "bronze_cards":
        return bronze_cards(read_reference_csv(data), card_hash_key)
    if table_name == "bronze_users":
        return bronze_users(read_reference_csv(data))
    if table_name == "bronze_mcc_codes":
        return bronze_mcc_codes(data)
    if table_name == "bronze_fraud_labels":
        return bronze_fraud_labels(data, analyst_labels)
    raise KeyError(f"{table_name} is not a reference table")


def bronze_from_raw_dir(raw_dir: Path, card_hash_key: str) -> dict[str, pa.Table]:
    """The five bronze tables straight from a raw folder, without sources_api or a source DB.

    The same bronze functions as the feeder; each transaction row's own day is its
    `situation_date` (one batch per day). Tests, benchmarks and engine comparisons use it.

    Args:
        raw_dir: a folder holding the five source files.
        card_hash_key: the HMAC key for card numbers.

    Returns:
        `{bronze table name: table}`.
    """
    raw = read_reference_csv((raw_dir / formats.TRANSACTIONS_FILE).read_bytes())
    day = pc.utf8_slice_codeunits(raw.column("date"), 0, 10)
    bronze = {"bronze_transactions": bronze_transactions(raw.append_column("situation_date", day))}
    for table_name, file_name in REFERENCE_FILES.items():
        bronze[table_name] = reference_table(table_name, (raw_dir / file_name).read_bytes(),
                                             card_hash_key)
    return bronze


def content_fingerprint(data: bytes, card_hash_key: str) -> str:
    """SHA-256 of the file plus a digest of the HMAC key (a new key must rewrite cards).

    Args:
        data: the file's bytes.
        card_hash_key: the HMAC key for card numbers.

    Returns:
        The hex digest recorded in the bronze commit.
    """
    digest = hashlib.sha256(data)
    digest.update(hashlib.sha256(card_hash_key.encode()).digest())
    return digest.hexdigest()
