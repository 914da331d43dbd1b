"""The shared file-format rules (`lakehouse.formats`): DATA.md's samples pass, each kind of
malformed transaction row is reported with its row number and column."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from lakehouse import formats

HEADER = "id,date,client_id,card_id,amount,use_chip,merchant_id,merchant_city,merchant_state,zip,"
SAMPLE = HEADER + """mcc,errors
7475327,2010-01-01 00:01:00,1556,2972,$-77.00,Swipe Transaction,59935,Beulah,ND,58523.0,5499,
7475329,2010-01-01 00:02:00,1129,102,$80.00,Swipe Transaction,27092,Vista,CA,92084.0,4829,
7475401,2010-01-01 01:13:00,1319,3006,$12.33,Online Transaction,39021,ONLINE,,,5815,
7475478,2010-01-01 02:40:00,566,3640,$94.50,Chip Transaction,61195,Rome,Italy,,5411,\
"Bad PIN,Insufficient Balance"
"""


def sample_frame() -> pd.DataFrame:
    return formats.read_transactions_csv(io.StringIO(SAMPLE))


def test_constants_match_data_md() -> None:
    assert ",".join(formats.TRANSACTION_COLUMNS) == SAMPLE.splitlines()[0]
    assert len(formats.US_STATES) == 51 and "DC" in formats.US_STATES
    assert formats.REFERENCE_FILES == (
        "cards_data.csv", "users_data.csv", "mcc_codes.json", "train_fraud_labels.json"
    )
    assert formats.TRANSACTIONS_FILE == "transactions_data.csv"
    assert len(formats.ERROR_VALUES) == 7


def test_data_md_samples_are_valid() -> None:
    assert formats.validate_transactions(sample_frame()) == []


def test_header_problems_are_precise() -> None:
    cols = list(formats.TRANSACTION_COLUMNS)
    assert formats.validate_transaction_header(cols) == []
    missing = formats.validate_transaction_header([c for c in cols if c != "mcc"])
    assert [(e.row, e.column) for e in missing] == [(0, "mcc")]
    assert "missing column 'mcc'" in str(missing[0])
    unknown = formats.validate_transaction_header([*cols, "extra"])
    assert "unknown column 'extra'" in str(unknown[0])
    swapped = cols.copy()
    swapped[1], swapped[2] = swapped[2], swapped[1]
    order = formats.validate_transaction_header(swapped)
    assert len(order) == 1 and "position 2" in order[0].reason
    assert str(order[0]).startswith("header, column client_id:")


@pytest.mark.parametrize(
    ("column", "value", "fragment"),
    [
        ("id", "12a", "not a positive integer id"),
        ("date", "2010-01-01T00:01:00", "not a date like"),
        ("date", "2010-02-30 10:00:00", "not a real date"),
        ("date", "2010-01-01 24:00:00", "not a real date"),
        ("client_id", "", "not a positive integer id"),
        ("card_id", "-3", "not a positive integer id"),
        ("merchant_id", "1.5", "not a positive integer id"),
        ("amount", "$12,00", "not a dollar amount like $-77.00"),
        ("amount", "12.00", "not a dollar amount"),
        ("amount", "$12.0", "not a dollar amount"),
        ("use_chip", "Swipe", "not one of"),
        ("merchant_city", "", "merchant_city is empty"),
        ("zip", "58523", "not a zip like 58523.0"),
        ("zip", "123456.0", "not a zip"),
        ("mcc", "54111", "4-digit"),
        ("errors", "Bad PIN,", "comma-joined list"),
        ("errors", "Stolen", "comma-joined list"),
    ],
)
def test_each_malformation_is_reported_at_its_row_and_column(
    column: str, value: str, fragment: str
) -> None:
    frame = sample_frame()
    frame.loc[1, column] = value
    errors = formats.validate_transactions(frame, first_row=101)
    assert len(errors) == 1, errors
    assert (errors[0].row, errors[0].column) == (102, column)
    assert fragment in errors[0].reason
    assert str(errors[0]).startswith(f"row 102, column {column}: ")


def test_sample_message_reads_as_documented() -> None:
    frame = sample_frame()
    frame.loc[0, "amount"] = "$12,00"
    (error,) = formats.validate_transactions(frame, first_row=12)
    assert str(error) == "row 12, column amount: '$12,00' is not a dollar amount like $-77.00"


def test_online_rows_must_have_no_state_or_zip() -> None:
    frame = sample_frame()
    frame.loc[2, "merchant_state"] = "CA"
    frame.loc[2, "zip"] = "92084.0"
    errors = formats.validate_transactions(frame)
    assert [(e.row, e.column) for e in errors] == [(3, "merchant_state"), (3, "zip")]
    assert all("ONLINE" in e.reason for e in errors)


def test_duplicate_ids_name_the_first_row() -> None:
    frame = sample_frame()
    frame.loc[3, "id"] = frame.loc[0, "id"]
    (error,) = formats.validate_transactions(frame)
    assert (error.row, error.column) == (4, "id")
    assert "first at row 1" in error.reason


def test_missing_values_as_nan_are_treated_as_empty() -> None:
    frame = pd.read_csv(io.StringIO(SAMPLE), dtype=str)  # NaN for empty fields
    assert formats.validate_transactions(frame) == []


def test_errors_are_capped_and_sorted_by_row() -> None:
    frame = pd.concat([sample_frame()] * 50, ignore_index=True)
    frame["id"] = [str(i) for i in range(len(frame))]
    frame["amount"] = "bad"
    frame.loc[7, "mcc"] = "1"
    errors = formats.validate_transactions(frame, max_errors=10)
    assert len(errors) == 10
    rows = [e.row for e in errors]
    assert rows == sorted(rows)
    assert (8, "mcc") in {(e.row, e.column) for e in errors}


def test_a_header_error_stops_row_checks() -> None:
    frame = sample_frame().drop(columns=["zip"])
    errors = formats.validate_transactions(frame)
    assert [(e.row, e.column) for e in errors] == [(0, "zip")]


def test_large_frame_is_checked_without_warnings(recwarn: pytest.WarningsRecorder) -> None:
    base = sample_frame()
    frame = base.iloc[np.arange(200_000) % 4].reset_index(drop=True)
    frame["id"] = np.arange(len(frame)).astype(str)
    frame.loc[199_999, "use_chip"] = "Tap"
    errors = formats.validate_transactions(frame)
    assert [(e.row, e.column) for e in errors] == [(200_000, "use_chip")]
    assert not [w for w in recwarn if not issubclass(w.category, DeprecationWarning)]
