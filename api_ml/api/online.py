"""The full model's online state: the lake's recent history, held in memory for scoring.

Behavioural features (velocity, distance from habits, merchant risk...) need each card's and
client's recent past. At start-up and on every reload, `OnlineState.load` reads the last
`HISTORY_DAYS` of `silver_transactions` (Delta under `Settings.lake`) plus the cards and users
tables into Arrow/pandas objects; after that, scoring touches no disk, no Spark, no MLflow.

For each request, `event_rows` turns the transaction into a row shaped exactly like
`silver_transactions` (what the pipeline would have written for it), and
`features_for` hands history and events to
`lakehouse.features.replay_sql.compute_features_for_events` — the same SQL the gold table
`ml_features` is built with, so serving cannot drift from training. The request's row-level
fields (online, abroad, errors, hour...) come from `lakehouse.features.derivations`, the
definitions silver uses. The state is read-only once built; a reload builds a new one and
swaps it whole.
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from api_ml.api.normalise import ONLINE
from api_ml.api.prepared import PreparedConnection
from api_ml.api.schemas import SEED_FIELDS
from lakehouse.config import Settings
from lakehouse.features.declarations import SILVER_INPUT_COLUMNS
from lakehouse.features.derivations import RawTransaction, blank_to_none, derive_row
from lakehouse.features.replay_sql import compute_features_for_events, label_summary

logger = logging.getLogger("lakehouse.api_ml.online")

TRANSACTIONS = "silver/transactions"
CARDS = "silver/cards"
USERS = "silver/users"
CARD_STATIC = ("has_chip", "num_cards_issued", "card_on_dark_web", "acct_open_date")
USER_STATIC = ("current_age", "gender", "latitude", "longitude")
REPLAY_MARGIN_DAYS = 1
# Synthetic ids for scored events: negative, so they never meet a real transaction id.
_event_ids = itertools.count(1)


class StateUnavailable(RuntimeError):
    """The lake has no history to score with (pipeline not run yet)."""


def _open(settings: Settings, folder: str) -> DeltaTable | None:
    uri = f"{settings.lake.rstrip('/')}/{folder}"
    if "://" not in uri and not (Path(uri) / "_delta_log").is_dir():
        return None
    try:
        return DeltaTable(uri, storage_options=settings.storage_options() or None)
    except Exception:  # a missing or half-written table means "no state", said in /health
        logger.warning("cannot open Delta table %s", uri, exc_info=True)
        return None


def _latest_by(frame: pd.DataFrame, key: str, columns: tuple[str, ...]) -> dict[int, dict]:
    present = [c for c in columns if c in frame.columns]
    if frame.empty or key not in frame.columns:
        return {}
    last = frame.drop_duplicates(key, keep="last").set_index(key)[present]
    return {int(k): row for k, row in last.to_dict("index").items()}


@dataclass
class OnlineState:
    """Recent history, label tallies and static lookups, read once from the lake.

    Never modified after `load`: a reload builds a new state, so concurrent requests can
    share this one without locks.
    """

    history: pa.Table
    cards: dict[int, dict]
    users: dict[int, dict]
    mcc_descriptions: dict[int, str]
    versions: dict[str, int]
    history_days: int
    latest_ts: datetime | None
    labels: pa.Table  # known-label tallies per (merchant, MCC, known day): `label_summary`
    _rows_by_key: dict[str, dict[int, np.ndarray]] = field(default_factory=dict, repr=False)
    _days: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _threads: threading.local = field(default_factory=threading.local, repr=False)

    @classmethod
    def load(cls, settings: Settings, history_days: int) -> OnlineState:
        """Read the last `history_days` of silver transactions and the static tables."""
        table = _open(settings, TRANSACTIONS)
        if table is None:
            raise StateUnavailable(
                f"no silver_transactions table under {settings.lake}: run `lakehouse pipeline run`"
            )
        dataset = table.to_pyarrow_dataset()
        ts_max = pc.max(dataset.to_table(columns=["ts"]).column("ts")).as_py()
        if ts_max is None:
            raise StateUnavailable(f"silver_transactions under {settings.lake} is empty")
        # One more day than any look-back: transactions of the latest day (replayed, or
        # arriving late) still find their full history.
        since = ts_max - timedelta(days=history_days + REPLAY_MARGIN_DAYS)
        history = dataset.to_table(
            filter=pc.field("ts") >= pa.scalar(since, dataset.schema.field("ts").type)
        ).sort_by([("ts", "ascending"), ("transaction_id", "ascending")])
        labels = _label_state(dataset, as_of_day=_day_number(since))
        versions = {"silver_transactions": table.version()}
        cards, users = cls._static_lookups(settings, history, versions)
        mcc = cls._mcc_lookup(history)
        state = cls(history, cards, users, mcc, versions, history_days, ts_max, labels)
        state._index()
        return state

    @staticmethod
    def _static_lookups(
        settings: Settings, history: pa.Table, versions: dict[str, int]
    ) -> tuple[dict[int, dict], dict[int, dict]]:
        # The transactions carry the static columns already; the reference tables add cards
        # and clients that were quiet during the window.
        frame = history.select(
            [
                c
                for c in ("card_id", "client_id", *CARD_STATIC, *USER_STATIC)
                if c in history.column_names
            ]
        ).to_pandas()
        cards = _latest_by(frame, "card_id", CARD_STATIC)
        users = _latest_by(frame, "client_id", USER_STATIC)
        for folder, key, columns, lookup, name in (
            (CARDS, "card_id", CARD_STATIC, cards, "silver_cards"),
            (USERS, "client_id", USER_STATIC, users, "silver_users"),
        ):
            table = _open(settings, folder)
            if table is None:
                continue
            versions[name] = table.version()
            for k, row in _latest_by(table.to_pandas(), key, columns).items():
                lookup.setdefault(k, row)
        return cards, users

    @staticmethod
    def _mcc_lookup(history: pa.Table) -> dict[int, str]:
        if "mcc_description" not in history.column_names:
            return {}
        pairs = (
            history.select(["mcc_code", "mcc_description"]).to_pandas().drop_duplicates("mcc_code")
        )
        return {
            int(c): str(d)
            for c, d in zip(pairs.mcc_code, pairs.mcc_description, strict=True)
            if d is not None and not pd.isna(d)
        }

    def _index(self) -> None:
        """Row positions per card and client, and label rows per merchant and MCC."""
        for key in ("card_id", "client_id"):
            values = self.history.column(key).to_numpy(zero_copy_only=False)
            self._rows_by_key[key] = _positions(values)
        for key in ("merchant_id", "mcc_code"):
            self._rows_by_key[key] = _positions(self.labels.column(key).to_numpy())
        days, day_of_row = np.unique(self.labels.column("day_n").to_numpy(), return_inverse=True)
        mcc = self.labels.column("mcc_code").fill_null(-1).to_numpy().astype("int64")
        self._days.update(days=days, day_of_row=day_of_row, mcc=mcc)
        for name in ("fraud_n", "labeled_n"):
            values = self.labels.column(name).to_numpy().astype("int64")
            self._days[name] = values
            self._days[f"{name}_total"] = np.bincount(day_of_row, values, len(days)).astype("int64")

    def history_for(self, events: pa.Table) -> pa.Table:
        """The history rows of the events' cards and clients.

        Every behavioural window is partitioned by card or client, so no other row can change
        an event's features; slicing keeps a request's SQL small whatever the lake's size.
        """
        rows = _select(self._rows_by_key, events, ("card_id", "client_id"))
        return self.history.take(pa.array(rows, pa.int64()))

    def labels_for(self, events: pa.Table) -> pa.Table:
        """The label tallies of the events' merchants, their MCCs folded per day, the rest too.

        Merchant risk reads only its merchant's rows, MCC risk only its MCC's rows, the global
        rate every row. So the events' merchants keep their rows; the other rows of the events'
        MCCs become one row per (MCC, day) with merchant -1; everything else one row per day
        with merchant and MCC -1 (-1 matches no event). Every sum the three risks take is
        unchanged, and a request's input stays a few dozen rows however many merchants share
        a popular MCC.
        """
        merchant_rows = _select(self._rows_by_key, events, ("merchant_id",))
        mcc_rows = np.setdiff1d(
            _select(self._rows_by_key, events, ("mcc_code",)), merchant_rows, assume_unique=True
        )
        picked = self.labels.take(pa.array(merchant_rows, pa.int64()))
        days = self._days
        n_days = len(days["days"])
        # (MCC, day) groups of the MCC rows, keyed as mcc * n_days + day index.
        keys, group = np.unique(
            days["mcc"][mcc_rows] * n_days + days["day_of_row"][mcc_rows], return_inverse=True
        )
        taken = np.concatenate([merchant_rows, mcc_rows])
        columns: dict[str, Any] = {
            "merchant_id": np.full(len(keys) + n_days, -1),
            "mcc_code": np.concatenate([keys // n_days, np.full(n_days, -1)]),
            "day_n": np.concatenate([days["days"][keys % n_days], days["days"]]),
        }
        for name in ("fraud_n", "labeled_n"):
            per_mcc_day = np.bincount(group, days[name][mcc_rows], len(keys)).astype("int64")
            mine = np.bincount(days["day_of_row"][taken], days[name][taken], n_days)
            columns[name] = np.concatenate(
                [per_mcc_day, days[f"{name}_total"] - mine.astype("int64")]
            )
        folded = pa.table({c: columns[c] for c in picked.column_names}).cast(picked.schema)
        return pa.concat_tables([picked, folded])

    def features(self, events: pa.Table) -> pa.Table:
        """The training SQL's feature rows for `events` (in order), from memory only."""
        return compute_features_for_events(
            self.history_for(events),
            events,
            label_summary=self.labels_for(events),
            connection=self._connection(),
        )

    def _connection(self) -> PreparedConnection:
        """This thread's DuckDB connection: reused across requests, never shared by threads."""
        connection = getattr(self._threads, "duckdb", None)
        if connection is None:
            import duckdb

            raw = duckdb.connect()
            raw.execute("SET threads TO 1")  # one request, one core
            connection = self._threads.duckdb = PreparedConnection(raw)
        return connection

    def event_row(self, seed: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        """One transaction as `silver_transactions` would hold it (label unknown)."""
        ts = extra.get("timestamp") or datetime.now(UTC)
        if ts.tzinfo is not None:
            ts = ts.astimezone(UTC).replace(tzinfo=None)
        state = seed["merchant_state"]
        city = blank_to_none(extra.get("merchant_city")) or (ONLINE if state == ONLINE else None)
        # The source holds an online purchase with an empty state: so does this raw row.
        raw = RawTransaction(
            ts,
            seed["amount"],
            seed["use_chip"],
            city,
            None if state == ONLINE else state,
            blank_to_none(extra.get("zip")),
            blank_to_none(extra.get("errors")),
        )
        card = self.cards.get(int(extra["card_id"]), {})
        user = self.users.get(int(extra["client_id"]), {})
        row = {
            "transaction_id": extra.get("transaction_id") or -next(_event_ids),
            "ts": ts,
            "situation_date": ts.date(),
            "client_id": extra["client_id"],
            "card_id": extra["card_id"],
            "merchant_id": extra["merchant_id"],
            "merchant_city": city,
            "mcc_code": extra["mcc"],
            "mcc_description": self.mcc_descriptions.get(int(extra["mcc"])),
            **derive_row(raw),
            "label": None,
            **{name: seed[name] for name in SEED_FIELDS},
            **{name: card.get(name) for name in CARD_STATIC},
            **{name: user.get(name) for name in USER_STATIC},
        }
        return row

    def events_table(self, rows: list[dict[str, Any]]) -> pa.Table:
        """Rows shaped and typed exactly like the history (missing columns stay null)."""
        schema = self.history.schema
        columns = {}
        for column in schema:
            values = [_plain(row.get(column.name)) for row in rows]
            columns[column.name] = pa.array(values, type=column.type, from_pandas=True)
        return pa.table(columns, schema=schema)

    def summary(self) -> dict[str, object]:
        return {
            "history_rows": self.history.num_rows,
            "history_days": self.history_days,
            "latest_transaction": self.latest_ts.isoformat() if self.latest_ts else None,
            "cards": len(self.cards),
            "clients": len(self.users),
            "table_versions": self.versions,
        }


def lake_version(settings: Settings) -> int | None:
    """Current Delta version of `silver_transactions` (None before the pipeline ran)."""
    table = _open(settings, TRANSACTIONS)
    return None if table is None else table.version()


def training_vocabulary(settings: Settings, columns: tuple[str, ...]) -> dict[str, list] | None:
    """Distinct values of `columns` over all of `silver_transactions` (the training rows).

    DuckDB streams the Delta snapshot, so this stays cheap in memory at any lake size.
    """
    import duckdb

    table = _open(settings, TRANSACTIONS)
    if table is None:
        return None
    connection = duckdb.connect()
    try:
        connection.register("silver_transactions", table.to_pyarrow_dataset())
        return {
            column: [
                row[0]
                for row in connection.execute(
                    f"SELECT DISTINCT {column} FROM silver_transactions WHERE {column} IS NOT NULL"
                ).fetchall()
            ]
            for column in columns
        }
    finally:
        connection.close()


def _positions(values: np.ndarray) -> dict[int, np.ndarray]:
    groups = pd.Series(np.arange(len(values))).groupby(values).indices
    return {int(k): v for k, v in groups.items()}


def _select(
    index: dict[str, dict[int, np.ndarray]], events: pa.Table, keys: tuple[str, ...]
) -> np.ndarray:
    parts = [np.empty(0, dtype=np.int64)]
    for key in keys:
        rows = index[key]
        for value in set(events.column(key).to_pylist()):
            if value is not None and int(value) in rows:
                parts.append(rows[int(value)])
    return np.unique(np.concatenate(parts))


def _day_number(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp() // 86_400)


def _label_state(dataset: Any, as_of_day: int) -> pa.Table:
    """`label_summary` over the whole labeled history, reading only the four columns it uses.

    The function accepts silver rows; the columns its SQL never reads are passed as typeless
    nulls, which cost no memory even over millions of rows.
    """
    used = ["ts", "merchant_id", "mcc_code", "label", "label_known_at"]
    labeled = dataset.to_table(columns=used, filter=pc.field("label").is_valid())
    columns = {
        name: (labeled.column(name) if name in used else pa.nulls(labeled.num_rows))
        for name in SILVER_INPUT_COLUMNS
    }
    return label_summary(pa.table(columns), as_of_day=as_of_day)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NaT:
        return None
    return value
