"""The generated files have DATA.md's exact format, sizes and structure, and are deterministic."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from lakehouse import formats
from lakehouse.datagen import GeneratorParams, checker, generate
from lakehouse.datagen.mcc import CODES

SMALL = {"clients": 20, "transactions": 6_000, "start": "2018-01-01", "end": "2018-06-30",
         "chunk_rows": 1_000}


def digest(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
            for name in formats.ALL_FILES}


def test_headers_are_exact(small_raw_dir: Path) -> None:
    def first_line(name: str) -> str:
        with open(small_raw_dir / name, encoding="utf-8") as handle:
            return handle.readline().rstrip("\n")

    assert first_line(formats.TRANSACTIONS_FILE) == (
        "id,date,client_id,card_id,amount,use_chip,merchant_id,merchant_city,merchant_state,"
        "zip,mcc,errors")
    assert first_line(formats.CARDS_FILE) == ",".join(formats.CARD_COLUMNS)
    assert first_line(formats.USERS_FILE) == ",".join(formats.USER_COLUMNS)


def test_row_counts_and_population(small_raw_dir: Path) -> None:
    tx = formats.read_transactions_csv(small_raw_dir / formats.TRANSACTIONS_FILE)
    users = pd.read_csv(small_raw_dir / formats.USERS_FILE, dtype=str)
    cards = pd.read_csv(small_raw_dir / formats.CARDS_FILE, dtype=str)
    assert len(tx) == 40_000 and len(users) == 60
    per_client = cards.groupby("client_id").size()
    assert per_client.between(1, 9).all() and len(per_client) == 60
    assert tx["date"].min() >= "2018-01-01" and tx["date"].max() <= "2018-12-31 23:59:00"
    assert tx["date"].is_monotonic_increasing
    assert set(tx["card_id"]) <= set(cards["id"]) and set(tx["client_id"]) <= set(users["id"])
    owner = dict(zip(cards["id"], cards["client_id"], strict=True))
    assert (tx["card_id"].map(owner) == tx["client_id"]).all()


def test_text_forms_match_data_md(small_raw_dir: Path) -> None:
    tx = formats.read_transactions_csv(small_raw_dir / formats.TRANSACTIONS_FILE)
    assert tx["amount"].str.fullmatch(r"\$-?\d+\.\d{2}").all()
    assert (tx["amount"].str.startswith("$-")).mean() == pytest.approx(0.05, abs=0.01)
    online = tx[tx["merchant_city"] == "ONLINE"]
    assert len(online) and (online["merchant_state"] == "").all() and (online["zip"] == "").all()
    assert (online["use_chip"] == "Online Transaction").all()
    abroad = tx[(tx["merchant_state"] != "") & ~tx["merchant_state"].isin(formats.US_STATES)]
    assert len(abroad) and (abroad["zip"] == "").all()
    assert abroad["merchant_state"].str.fullmatch(r"[A-Z][a-z]+( [A-Z][a-z]+)*").all()
    us_zip = tx.loc[tx["merchant_state"].isin(formats.US_STATES), "zip"]
    assert us_zip[us_zip != ""].str.fullmatch(r"\d{1,5}\.0").all()
    # Multi-error rows are CSV-quoted in the raw text.
    raw = (small_raw_dir / formats.TRANSACTIONS_FILE).read_text()
    assert re.search(r',"[A-Za-z ]+,[A-Za-z ,]+"\n', raw)
    cards = (small_raw_dir / formats.CARDS_FILE).read_text().splitlines()[1]
    assert re.fullmatch(r"\d+,\d+,(Visa|Mastercard|Amex|Discover),(Debit|Credit|Debit \(Prepaid\)),"
                        r"\d{15,16},\d\d/\d{4},\d+,(YES|NO),\d,\$\d+,\d\d/\d{4},\d{4},No", cards)
    users = (small_raw_dir / formats.USERS_FILE).read_text().splitlines()[1]
    assert re.fullmatch(r"\d+,\d+,\d+,\d{4},\d+,(Female|Male),[^,]+,-?\d+\.\d\d,-?\d+\.\d\d,"
                        r"\$\d+,\$\d+,\$\d+,\d{3},\d", users)


def test_json_files(small_raw_dir: Path) -> None:
    codes = json.loads((small_raw_dir / formats.MCC_FILE).read_text())
    assert 100 <= len(codes) <= 130
    assert codes["5812"] == "Eating Places and Restaurants"
    assert codes["5411"] == "Grocery Stores, Supermarkets"
    assert len(CODES) == len(codes)
    raw_labels = (small_raw_dir / formats.LABELS_FILE).read_text()
    assert raw_labels.startswith('{"target": {"') and raw_labels.endswith('"}}')
    labels = json.loads(raw_labels)["target"]
    assert set(labels.values()) == {"Yes", "No"}
    with open(small_raw_dir / formats.TRANSACTIONS_FILE, newline="") as handle:
        ids = {row["id"] for row in csv.DictReader(handle)}
    assert set(labels) <= ids
    assert len(labels) / len(ids) == pytest.approx(0.67, abs=0.02)


def test_checker_accepts_generated_folder(small_raw_dir: Path) -> None:
    assert checker.check_raw_dir(small_raw_dir) == []


def test_same_seed_same_bytes_different_seed_different(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", seed=5, **SMALL)
    generate(tmp_path / "b", seed=5, **SMALL)
    generate(tmp_path / "c", seed=6, **SMALL)
    assert first.rows == 6_000
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    other = digest(tmp_path / "c")
    assert all(other[name] != digest(tmp_path / "a")[name] for name in formats.ALL_FILES
               if name != formats.MCC_FILE)


def test_rerun_replaces_files_and_summary_matches(tmp_path: Path) -> None:
    summary = generate(tmp_path, seed=1, **SMALL)
    again = generate(tmp_path, seed=1, **SMALL)
    assert summary.files == again.files
    assert summary.files[formats.TRANSACTIONS_FILE] == (tmp_path / formats.TRANSACTIONS_FILE
                                                         ).stat().st_size
    assert not list(tmp_path.glob("*.partial"))
    labels = json.loads((tmp_path / formats.LABELS_FILE).read_text())["target"]
    assert summary.labeled == len(labels)
    assert summary.labeled_frauds == sum(v == "Yes" for v in labels.values())


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown generator parameter"):
        generate(tmp_path, clients=5, transactions=100, seed=1, fraud_multiplyer=2)
    with pytest.raises(ValueError, match="before start"):
        generate(tmp_path, clients=5, transactions=100, seed=1, start="2019-01-01",
                 end="2018-01-01")
    with pytest.raises(ValueError, match="clients"):
        generate(tmp_path, clients=0, transactions=100, seed=1)
    assert GeneratorParams().with_overrides(fraud_multiplier=3).fraud_multiplier == 3


def test_tiny_runs_still_write_valid_files(tmp_path: Path) -> None:
    summary = generate(tmp_path, clients=1, transactions=3, seed=2, start="2019-10-31",
                       end="2019-10-31")
    assert summary.rows == 3
    assert checker.check_raw_dir(tmp_path) == []
