"""Helpers for the pipeline-runtime tests: tiny raw data, batch loading, snapshots.

`write_tiny_raw` writes the five files of DATA.md in their exact formats, small (a few
thousand rows) and deterministic, so tests that run the whole pipeline several times —
crash safety, incremental — stay fast; tests about realism use the session's generated
`small_raw_dir` instead.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lakehouse import catalog, storage
from lakehouse.config import Settings, get_settings

MCC = {"5812": "Eating Places and Restaurants", "5411": "Grocery Stores, Supermarkets",
       "5311": "Department Stores", "4829": "Money Transfer", "5541": "Service Stations"}
CARDS_HEADER = ("id,client_id,card_brand,card_type,card_number,expires,cvv,has_chip,"
                "num_cards_issued,credit_limit,acct_open_date,year_pin_last_changed,"
                "card_on_dark_web")
USERS_HEADER = ("id,current_age,retirement_age,birth_year,birth_month,gender,address,latitude,"
                "longitude,per_capita_income,yearly_income,total_debt,credit_score,"
                "num_credit_cards")
TX_HEADER = ("id,date,client_id,card_id,amount,use_chip,merchant_id,merchant_city,"
             "merchant_state,zip,mcc,errors")


def _transaction(rnd: random.Random, tx_id: int, day: int, minute: int,
                 cards: list[tuple[int, int]]) -> str:
    card_id, client_id = rnd.choice(cards)
    amount = f"${rnd.randint(1, 300)}.{rnd.randint(0, 99):02d}"
    if rnd.random() < 0.05:
        amount = f"$-{rnd.randint(1, 80)}.00"
    place = rnd.random()
    if place < 0.15:
        city, state, zip_code, chip = "ONLINE", "", "", "Online Transaction"
    elif place < 0.2:
        city, state, zip_code, chip = "Rome", "Italy", "", "Chip Transaction"
    else:
        city, state, zip_code, chip = "Beulah", "ND", "58523.0", "Swipe Transaction"
    errors = rnd.choice(["", "", "", "", "", "Bad PIN", '"Bad CVV,Insufficient Balance"'])
    stamp = f"2018-01-{day:02d} {minute // 60:02d}:{minute % 60:02d}:00"
    return (f"{tx_id},{stamp},{client_id},{card_id},{amount},{chip},{rnd.randint(1, 40)},"
            f"{city},{state},{zip_code},{rnd.choice(list(MCC))},{errors}")


def write_tiny_raw(out: Path, *, clients: int = 12, days: int = 30, per_day: int = 80,
                   seed: int = 3) -> Path:
    """The five source files, tiny: `clients` clients, 2 cards each, `days` × `per_day` rows."""
    rnd = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    users, cards_lines, cards = [USERS_HEADER], [CARDS_HEADER], []
    for client in range(1, clients + 1):
        users.append(f"{client},{25 + client},66,{1993 - client},{client % 12 + 1},"
                     f"{'Female' if client % 2 else 'Male'},{client} Oak St,34.15,-117.76,"
                     f"$2{client:04d},$5{client:04d},$1{client:04d},{600 + client},2")
        for k in range(2):
            card_id = client * 10 + k
            cards.append((card_id, client))
            cards_lines.append(
                f"{card_id},{client},Visa,{'Debit' if k else 'Credit'},"
                f"4{card_id:015d},12/2022,{100 + card_id},YES,1,$1{card_id:04d},09/2002,2010,No")
    tx, labels, tx_id = [TX_HEADER], {}, 5000
    for day in range(1, days + 1):
        for minute in sorted(rnd.sample(range(1440), per_day)):
            tx.append(_transaction(rnd, tx_id, day, minute, cards))
            if rnd.random() < 0.67:
                labels[str(tx_id)] = "Yes" if rnd.random() < 0.08 else "No"
            tx_id += 1
    (out / "cards_data.csv").write_text("\n".join(cards_lines) + "\n")
    (out / "users_data.csv").write_text("\n".join(users) + "\n")
    (out / "transactions_data.csv").write_text("\n".join(tx) + "\n")
    (out / "mcc_codes.json").write_text(json.dumps(MCC))
    (out / "train_fraud_labels.json").write_text(json.dumps({"target": labels}))
    return out


def transaction_frame(raw_dir: Path) -> pd.DataFrame:
    return pd.read_csv(raw_dir / "transactions_data.csv", dtype=str, keep_default_na=False)


def use_data_dir(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Point the settings at a fresh data folder (its own lake and source DB)."""
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(folder))
    get_settings.cache_clear()


@contextlib.contextmanager
def serving_raw(raw_dir: Path, live_server, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """sources_api serving `raw_dir` on loopback, with the settings pointing at it."""
    from sources_api.api import create_app

    monkeypatch.setenv("LAKEHOUSE_RAW_DIR", str(raw_dir))
    with live_server(create_app()) as url:
        monkeypatch.setenv("LAKEHOUSE_SOURCES_API_URL", url)
        yield


def load_parts(settings: Settings, raw_dir: Path, parts: int, which: list[int]) -> list:
    """Load the chosen parts (split by row order, i.e. by date) into the source DB."""
    from lakehouse.sources.loader import load_batch
    from lakehouse.sources.schema import source_engine

    frame = transaction_frame(raw_dir)
    engine = source_engine(settings.source_db_url or "")
    try:
        n = len(frame)
        return [load_batch(engine, frame.iloc[k * n // parts:(k + 1) * n // parts])
                for k in which]
    finally:
        engine.dispose()


def sorted_table(name: str, settings: Settings) -> pa.Table:
    """A table's snapshot sorted on every column, for order-insensitive comparison."""
    table = storage.read_table(catalog.location(name, settings), settings)
    table = table.select(sorted(table.column_names))
    # Exact columns first: float sums may differ in the last bit with the summation order.
    exact = [c for c in table.column_names if not pa.types.is_floating(table.schema.field(c).type)]
    floats = [c for c in table.column_names if c not in exact]
    return table.sort_by([(c, "ascending") for c in exact + floats])


def assert_tables_match(left: pa.Table, right: pa.Table, what: str) -> None:
    """Equal schemas and values; floats equal to 1e-9 relative (summation order varies)."""
    assert left.schema == right.schema, f"{what}: schemas differ"
    assert left.num_rows == right.num_rows, f"{what}: {left.num_rows} vs {right.num_rows} rows"
    for name in left.column_names:
        a, b = left.column(name), right.column(name)
        if pa.types.is_floating(a.type):
            x, y = a.to_numpy(zero_copy_only=False), b.to_numpy(zero_copy_only=False)
            assert np.allclose(x, y, rtol=1e-9, atol=1e-12, equal_nan=True), f"{what}.{name}"
        else:
            assert a.equals(b), f"{what}.{name} differs"


def gold_snapshot(settings: Settings) -> dict[str, pa.Table]:
    return {name: sorted_table(name, settings) for name in catalog.GOLD_TABLES
            if storage.exists(catalog.location(name, settings), settings)}
