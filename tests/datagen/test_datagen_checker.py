"""The format checker accepts DATA.md's samples and generated files, and names each problem in
a broken copy precisely (file, row, column, reason)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lakehouse import formats
from lakehouse.datagen import checker

SAMPLE_TRANSACTIONS = """\
id,date,client_id,card_id,amount,use_chip,merchant_id,merchant_city,merchant_state,zip,mcc,errors
7475327,2010-01-01 00:01:00,1556,2972,$-77.00,Swipe Transaction,59935,Beulah,ND,58523.0,5499,
7475329,2010-01-01 00:02:00,1129,102,$80.00,Swipe Transaction,27092,Vista,CA,92084.0,4829,
7475401,2010-01-01 01:13:00,1319,3006,$12.33,Online Transaction,39021,ONLINE,,,5815,
7475478,2010-01-01 02:40:00,566,3640,$94.50,Chip Transaction,61195,Rome,Italy,,5411,\
"Bad PIN,Insufficient Balance"
"""
CARD_HEADER = ",".join(formats.CARD_COLUMNS)
USER_HEADER = ",".join(formats.USER_COLUMNS)


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    """DATA.md's sample rows as a raw folder (reference rows for each id they use)."""
    raw = tmp_path / "sample"
    raw.mkdir()
    (raw / formats.TRANSACTIONS_FILE).write_text(SAMPLE_TRANSACTIONS)
    card_rows = [f"{card},{client},Visa,Debit,4344676511950444,12/2022,623,YES,2,$24295,09/2002,"
                 "2008,No" for card, client in ((4524, 825), (2972, 1556), (102, 1129),
                                                (3006, 1319), (3640, 566))]
    (raw / formats.CARDS_FILE).write_text("\n".join([CARD_HEADER, *card_rows]) + "\n")
    user_rows = [f"{client},53,66,1966,11,Female,462 Rose Lane,34.15,-117.76,$29278,$59696,"
                 "$127613,787,5" for client in (825, 1556, 1129, 1319, 566)]
    (raw / formats.USERS_FILE).write_text("\n".join([USER_HEADER, *user_rows]) + "\n")
    (raw / formats.MCC_FILE).write_text(json.dumps({
        "5812": "Eating Places and Restaurants", "5541": "Service Stations",
        "5499": "Miscellaneous Food Stores", "4829": "Money Transfer",
        "5815": "Digital Goods Media", "5411": "Grocery Stores, Supermarkets"}))
    (raw / formats.LABELS_FILE).write_text('{"target": {"7475327": "No", "7475401": "Yes"}}')
    return raw


def broken_copy(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "broken"
    shutil.copytree(source, target)
    return target


def replace_line(path: Path, line: int, old: str, new: str) -> None:
    lines = path.read_text().split("\n")
    assert old in lines[line]
    lines[line] = lines[line].replace(old, new, 1)
    path.write_text("\n".join(lines))


def messages(raw: Path) -> list[str]:
    return [str(p) for p in checker.check_raw_dir(raw)]


def test_data_md_samples_pass(sample_dir: Path) -> None:
    assert messages(sample_dir) == []


def test_malformed_amount_is_located(sample_dir: Path) -> None:
    replace_line(sample_dir / formats.TRANSACTIONS_FILE, 2, "$80.00", "$80.0")
    found = checker.check_raw_dir(sample_dir)
    assert [(p.file, p.row, p.column) for p in found] == [("transactions_data.csv", 2, "amount")]
    assert str(found[0]).startswith("transactions_data.csv: row 2, column amount: '$80")


def test_unquoted_multi_error_is_a_field_count_problem(sample_dir: Path) -> None:
    replace_line(sample_dir / formats.TRANSACTIONS_FILE, 4, '"Bad PIN,Insufficient Balance"',
                 "Bad PIN,Insufficient Balance")
    (problem,) = messages(sample_dir)
    assert problem == ("transactions_data.csv: row 4: has 13 fields, expected 12 "
                       "(unquoted comma?)")


def test_unsorted_dates_and_unknown_errors(sample_dir: Path) -> None:
    path = sample_dir / formats.TRANSACTIONS_FILE
    replace_line(path, 3, "2010-01-01 01:13:00", "2009-12-31 01:13:00")
    assert messages(sample_dir) == [
        "transactions_data.csv: row 3, column date: file is not sorted by date"]
    replace_line(path, 3, "2009-12-31 01:13:00", "2010-01-01 01:13:00")
    replace_line(path, 4, "Bad PIN", "Bad Luck")
    (problem,) = messages(sample_dir)
    assert "row 4, column errors: 'Bad Luck,Insufficient Balance'" in problem


def test_missing_file_and_bad_header(sample_dir: Path) -> None:
    (sample_dir / formats.MCC_FILE).unlink()
    assert messages(sample_dir) == [f"mcc_codes.json: file is missing from {sample_dir}"]
    (sample_dir / formats.MCC_FILE).write_text('{"5812": "Eating Places and Restaurants"}')
    replace_line(sample_dir / formats.CARDS_FILE, 0, "card_brand", "brand")
    problems = messages(sample_dir)
    assert "cards_data.csv: header, column card_brand: missing column 'card_brand'" in problems[0]


def test_cards_and_users_values(sample_dir: Path) -> None:
    replace_line(sample_dir / formats.CARDS_FILE, 2, "$24295", "24295")
    replace_line(sample_dir / formats.USERS_FILE, 3, ",787,", ",999,")
    problems = messages(sample_dir)
    assert problems == [
        "cards_data.csv: row 2, column credit_limit: '24295' is not a whole-dollar amount "
        "like $24295",
        "users_data.csv: row 3, column credit_score: '999' is not a credit score 300-850",
    ]


def test_labels_must_name_transactions_and_say_yes_or_no(sample_dir: Path) -> None:
    (sample_dir / formats.LABELS_FILE).write_text(
        '{"target": {"7475327": "No", "999": "Yes", "7475401": "maybe"}}')
    assert messages(sample_dir) == [
        "train_fraud_labels.json: row 2, column id: label for id '999', which is not in the "
        "transactions",
        "train_fraud_labels.json: row 3, column target: label 'maybe' is not Yes or No",
    ]
    (sample_dir / formats.LABELS_FILE).write_text('{"labels": {}}')
    assert "must be a JSON object" in messages(sample_dir)[0]
    (sample_dir / formats.LABELS_FILE).write_text('{"target": {')
    assert "is not valid JSON" in messages(sample_dir)[0]


def test_unknown_references_are_reported(sample_dir: Path) -> None:
    replace_line(sample_dir / formats.TRANSACTIONS_FILE, 1, ",2972,", ",77777,")
    (problem,) = messages(sample_dir)
    assert problem == ("transactions_data.csv, column card_id: 1 value(s) not in the "
                       "reference file, e.g. 77777")


def test_corrupted_generated_copy_is_located(small_raw_dir: Path, tmp_path: Path) -> None:
    raw = broken_copy(small_raw_dir, tmp_path)
    path = raw / formats.TRANSACTIONS_FILE
    lines = path.read_text().split("\n")
    fields = lines[12_345].split(",")
    fields[10] = "12345"
    lines[12_345] = ",".join(fields)
    fields = lines[20_000].split(",")
    fields[0] = lines[19_999].split(",")[0]
    lines[20_000] = ",".join(fields)
    path.write_text("\n".join(lines))
    problems = checker.check_raw_dir(raw)
    assert [(p.row, p.column) for p in problems] == [(12_345, "mcc"), (20_000, "id")]
    assert "first at row 19999" in problems[1].reason


def test_per_file_checks_are_usable_alone(small_raw_dir: Path) -> None:
    assert checker.check_transactions_csv(small_raw_dir / formats.TRANSACTIONS_FILE) == []
    assert checker.check_cards_csv(small_raw_dir / formats.CARDS_FILE) == []
    assert checker.check_users_csv(small_raw_dir / formats.USERS_FILE) == []
    assert checker.check_mcc_json(small_raw_dir / formats.MCC_FILE) == []
    assert checker.check_labels_json(small_raw_dir / formats.LABELS_FILE) == []


def test_labels_pretty_printed_or_duplicated(sample_dir: Path) -> None:
    path = sample_dir / formats.LABELS_FILE
    path.write_text(json.dumps({"target": {"7475327": "No", "7475401": "Yes"}}, indent=2))
    assert messages(sample_dir) == []
    path.write_text('{"target": {"7475327": "No", "7475327": "Yes"}}')
    assert messages(sample_dir) == [
        "train_fraud_labels.json: row 2, column id: label id '7475327' appears twice"]
