"""A small lake for the scoring API's tests: silver tables written by hand, gold by the pipeline.

`write_small_lake(settings)` writes `silver_transactions`, `silver_cards` and `silver_users`
(the CONTRACTS.md schemas) as real Delta tables, with compromised-card fraud bursts the
behavioural features can see, then builds `gold/ml_features` with the pipeline's own stage
runner and the DuckDB engine — the training table the serving features are compared with.
Deterministic for a seed; a few thousand rows so the whole session stays quick.
`promote_copy` makes a new champion version for the reload tests; `on_redis` gives services
online states of their own in the machine's Redis.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import redis
from testkit import REDIS_URL

from api_ml.api.schemas import SEED_EXAMPLE, SEED_FIELDS
from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.features.online.redis_store import drop_prefix
from lakehouse.ml.training_data import TrainConfig

# Small data, small model: a session trains both flavours in a few seconds.
SMALL_TRAINING = TrainConfig(
    min_frauds_per_window=3,
    num_boost_round=60,
    early_stopping_rounds=20,
    num_leaves=8,
    min_child_samples=5,
)
START = datetime(2018, 1, 1)
LABEL_DELAY_DAYS = 2  # the settings of tests/api_ml/conftest.py
DAYS = 75
CLIENTS = 30
CARDS_PER_CLIENT = 2
STATES = ["CA", "NY", "TX", "FL", "WA", "IL"]
MCCS = {
    5411: "Grocery Stores",
    5812: "Eating Places",
    5541: "Service Stations",
    5732: "Electronics Stores",
    5311: "Department Stores",
    4829: "Money Transfer",
}
RISKY_MCCS = [5732, 5311, 4829]
BRANDS = ["Visa", "Mastercard", "Amex", "Discover"]
TYPES = ["Debit", "Credit", "Debit (Prepaid)"]


def _people(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    clients = np.arange(1, CLIENTS + 1)
    users = pd.DataFrame(
        {
            "client_id": clients.astype("int64"),
            "current_age": rng.integers(20, 80, CLIENTS).astype("int64"),
            "gender": rng.choice(["Female", "Male"], CLIENTS),
            "latitude": rng.uniform(30, 45, CLIENTS),
            "longitude": rng.uniform(-120, -75, CLIENTS),
            "per_capita_income": rng.integers(15_000, 40_000, CLIENTS).astype(float),
            "yearly_income": rng.integers(30_000, 90_000, CLIENTS).astype(float),
            "total_debt": rng.integers(0, 150_000, CLIENTS).astype(float),
            "credit_score": rng.integers(600, 820, CLIENTS).astype("int64"),
            "num_credit_cards": rng.integers(1, 6, CLIENTS).astype("int64"),
            "home_state": rng.choice(STATES, CLIENTS),
        }
    )
    n_cards = CLIENTS * CARDS_PER_CLIENT
    cards = pd.DataFrame(
        {
            "card_id": np.arange(100, 100 + n_cards).astype("int64"),
            "client_id": np.repeat(clients, CARDS_PER_CLIENT).astype("int64"),
            "card_brand": rng.choice(BRANDS, n_cards, p=[0.4, 0.45, 0.1, 0.05]),
            "card_type": rng.choice(TYPES, n_cards, p=[0.55, 0.35, 0.1]),
            "has_chip": rng.random(n_cards) < 0.9,
            "num_cards_issued": rng.integers(1, 3, n_cards).astype("int64"),
            "credit_limit": rng.integers(500, 30_000, n_cards).astype(float),
            "card_on_dark_web": np.zeros(n_cards, dtype=bool),
            "acct_open_date": [date(2010, 1, 1)] * n_cards,
        }
    )
    return users, cards


def _normal(
    rng: np.random.Generator, cards: pd.DataFrame, users: pd.DataFrame, n: int
) -> pd.DataFrame:
    picks = cards.sample(n, replace=True, random_state=int(rng.integers(1 << 30)))
    minutes = np.sort(rng.integers(0, DAYS * 24 * 60, n))
    home = users.set_index("client_id").loc[picks.client_id, "home_state"].to_numpy()
    online = rng.random(n) < 0.1
    return pd.DataFrame(
        {
            "ts": [START + timedelta(minutes=int(m)) for m in minutes],
            "card_id": picks.card_id.to_numpy(),
            "client_id": picks.client_id.to_numpy(),
            "amount": np.round(
                rng.lognormal(3.3, 0.8, n) * np.where(rng.random(n) < 0.05, -1, 1), 2
            ),
            "use_chip": np.where(
                online,
                "Online Transaction",
                rng.choice(["Swipe Transaction", "Chip Transaction"], n),
            ),
            "merchant_id": rng.integers(1000, 1150, n),
            "merchant_state": np.where(online, "ONLINE", home),
            "mcc_code": rng.choice([5411, 5812, 5541, 5411, 5812, 5732], n),
            "errors": np.where(rng.random(n) < 0.02, "Insufficient Balance", None),
            "label": 0,
        }
    )


def _fraud(rng: np.random.Generator, cards: pd.DataFrame) -> pd.DataFrame:
    bursts = []
    for card in cards.sample(24, random_state=int(rng.integers(1 << 30))).itertuples():
        start = START + timedelta(
            days=int(rng.integers(10, DAYS - 2)), hours=int(rng.integers(0, 20))
        )
        k = int(rng.integers(4, 9))
        abroad = rng.random(k) < 0.5
        bursts.append(
            pd.DataFrame(
                {
                    "ts": [
                        start + timedelta(minutes=int(m)) for m in np.sort(rng.integers(0, 240, k))
                    ],
                    "card_id": card.card_id,
                    "client_id": card.client_id,
                    "amount": np.round(rng.uniform(150, 900, k), 2),
                    "use_chip": np.where(abroad, "Chip Transaction", "Online Transaction"),
                    "merchant_id": rng.integers(2000, 2010, k),
                    "merchant_state": np.where(
                        abroad, rng.choice(["Italy", "Mexico"], k), "ONLINE"
                    ),
                    "mcc_code": rng.choice(RISKY_MCCS, k),
                    "errors": np.where(rng.random(k) < 0.3, "Bad CVV", None),
                    "label": 1,
                }
            )
        )
    return pd.concat(bursts, ignore_index=True)


def silver_transactions(
    seed: int = 11, n: int = 5000
) -> tuple[pa.Table, pd.DataFrame, pd.DataFrame]:
    """(silver_transactions, cards, users) as the pipeline's silver stage writes them."""
    rng = np.random.default_rng(seed)
    users, cards = _people(rng)
    tx = pd.concat([_normal(rng, cards, users, n), _fraud(rng, cards)], ignore_index=True)
    tx = tx.sort_values("ts", kind="stable").reset_index(drop=True)
    tx.insert(0, "transaction_id", np.arange(10_000, 10_000 + len(tx), dtype="int64"))
    tx["label"] = tx["label"].where(rng.random(len(tx)) < 0.67).astype("Int32")
    known = tx.ts + pd.Timedelta(days=LABEL_DELAY_DAYS)
    tx["label_known_at"] = known.where(tx["label"].notna()).astype("datetime64[us]")
    tx["tx_date"] = tx.ts.dt.date
    tx["hour"] = tx.ts.dt.hour.astype("int32")
    tx["situation_date"] = tx["tx_date"]
    tx["is_refund"] = tx.amount < 0
    tx["merchant_city"] = np.where(tx.merchant_state == "ONLINE", "ONLINE", "Springfield")
    tx["zip"] = np.where(tx.merchant_state.isin(STATES), "90210", None)
    tx["mcc_description"] = tx.mcc_code.map(MCCS)
    tx["has_error"] = tx.errors.notna()
    tx["errors"] = tx.errors.fillna("no error")
    tx["is_online"] = (tx.use_chip == "Online Transaction") | (tx.merchant_city == "ONLINE")
    tx["is_abroad"] = ~tx.merchant_state.isin([*STATES, "ONLINE"])
    tx["is_night"] = (tx.ts.dt.hour >= 22) | (tx.ts.dt.hour < 6)
    tx["is_weekend"] = tx.ts.dt.dayofweek >= 5
    tx = tx.merge(cards, on=["card_id", "client_id"]).merge(
        users.drop(columns="home_state"), on="client_id"
    )
    tx = tx.sort_values("ts", kind="stable").reset_index(drop=True)
    tx["mcc_code"] = tx.mcc_code.astype("int32")
    tx["merchant_id"] = tx.merchant_id.astype("int64")
    return pa.Table.from_pandas(tx, preserve_index=False), cards, users.drop(columns="home_state")


def write_small_lake(settings: Settings, seed: int = 11) -> pa.Table:
    """Write silver tables and build `gold/ml_features` with the pipeline; returns silver."""
    from lakehouse.engines import get_engine
    from lakehouse.pipeline.runner import build_model

    silver, cards, users = silver_transactions(seed)
    storage.write(catalog.location("silver_transactions", settings), silver, settings=settings)
    storage.write(
        catalog.location("silver_cards", settings),
        pa.Table.from_pandas(cards, preserve_index=False),
        settings=settings,
    )
    storage.write(
        catalog.location("silver_users", settings),
        pa.Table.from_pandas(users, preserve_index=False),
        settings=settings,
    )
    build_model("ml_features", get_engine("duckdb"), settings, force=True)
    return silver


def read_gold_features(settings: Settings) -> pd.DataFrame:
    return (
        storage.read_dataset(catalog.location("ml_features", settings), settings)
        .to_table()
        .to_pandas()
    )


def seed_payload(**changes: object) -> dict[str, object]:
    """The seed README's curl example, with optional changes."""
    return {**SEED_EXAMPLE, **changes}


def payload_from_silver(row: dict[str, object]) -> dict[str, object]:
    """A full-model request carrying exactly what the lake holds for one transaction."""
    ts = row["ts"]
    assert isinstance(ts, datetime)
    errors = row["errors"]
    return {
        "transaction_id": row["transaction_id"],
        **{name: row[name] for name in SEED_FIELDS},
        "card_id": row["card_id"],
        "client_id": row["client_id"],
        "merchant_id": row["merchant_id"],
        "mcc": row["mcc_code"],
        "timestamp": ts.isoformat(),
        "merchant_city": row["merchant_city"],
        "zip": row["zip"],
        "errors": None if errors == "no error" else errors,
    }


def lake_and_burst(
    silver: pa.Table, rows: int, burst: int, first_id: int, minutes: int
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Requests: the lake's last `rows` transactions (of its last day), and a burst of `burst`
    new ones on the card of the last, `minutes` apart from 20 hours after it (ids from
    `first_id`, amounts rising from 5.0, two merchants in turn)."""
    last = pc.max(silver.column("ts")).as_py()
    recent = silver.filter(pc.greater_equal(silver.column("ts"), last - timedelta(days=1)))
    lake = [payload_from_silver(row) for row in recent.to_pylist()[-rows:]]
    card = lake[-1]
    start = datetime.fromisoformat(str(card["timestamp"])) + timedelta(hours=20)
    return lake, [
        {
            **card,
            "transaction_id": first_id + i,
            "amount": 5.0 + i,
            "merchant_id": card["merchant_id"] + i % 2,  # type: ignore[operator]
            "timestamp": (start + timedelta(minutes=minutes * i)).isoformat(),
        }
        for i in range(burst)
    ]


@contextmanager
def on_redis(settings: Settings, count: int) -> Iterator[list[Settings]]:
    """`count` copies of `settings` on the Redis online store, each under a key prefix of its
    own (separate states), whose keys are dropped afterwards."""
    prefixes = [f"test-{uuid.uuid4().hex[:12]}" for _ in range(count)]
    try:
        yield [
            settings.model_copy(
                update={"online_store": "redis", "redis_url": REDIS_URL, "online_key_prefix": p}
            )
            for p in prefixes
        ]
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for prefix in prefixes:
            drop_prefix(client, prefix)


def promote_copy(tracking_uri: str, name: str) -> str:
    """Register the current champion's files again as a new version and make it champion.

    What a promotion looks like to the scoring API (a new version behind `champion`),
    without a second training run.
    """
    from mlflow.tracking import MlflowClient

    from lakehouse.ml import registry

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    current = client.get_model_version_by_alias(name, registry.CHAMPION)
    version = client.create_model_version(name, current.source, run_id=current.run_id)
    client.set_registered_model_alias(name, registry.CHAMPION, version.version)
    return str(version.version)
