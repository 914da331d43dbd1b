"""A scoring request as `silver_transactions` would hold it: one row, or a batch as columns.

The full model's features read a transaction in silver's shape: its derived columns (online,
abroad, errors, hour, the normalised state: `lakehouse.features.derivations`, the same
definitions silver's SQL is rendered from), its epoch second, its identifiers and whether its
card has a chip. `request_row` builds that row for one request (a dict, read by
`compute.feature_vector`); `request_rows` builds it for a batch as columns (read by
`columnar.feature_matrix`), each derivation in its column form, with the same values row for
row (`tests/api_ml/test_request_rows.py`). Both give the `Event` the online store records.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from lakehouse.features.derivations import (
    DERIVED,
    RawColumns,
    RawTransaction,
    blank_to_none,
    derive_columns,
    derive_row,
)
from lakehouse.features.online.compute import STATIC_RULES
from lakehouse.features.online.events import Event
from lakehouse.formats import ONLINE_CITY

_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
# Ids for scored events that carry no transaction_id: negative, never a real id.
_event_ids = itertools.count(1)
_run_base = -(uuid.uuid4().int % 10**12) * 10**6
# A row's identifiers and the request fields they come from.
_ID_FIELDS = {
    "card_id": "card_id",
    "client_id": "client_id",
    "merchant_id": "merchant_id",
    "mcc_code": "mcc",
}
# The derived fields a batch's features read: the static inputs' and the events'.
_BATCH_DERIVED = [
    name
    for name in DERIVED
    if name in {field for _, field, _ in STATIC_RULES}
    or name in ("merchant_state", "is_abroad", "is_online")
]


@dataclass(frozen=True)
class RequestRows:
    """A batch's requests as silver would hold them (`request_rows`)."""

    columns: dict[str, Any]  # silver field -> one value per row (a list or an array)
    events: list[Event]  # their stored form, in order


def request_row(
    seed: dict[str, Any], extra: dict[str, Any], has_chip: Mapping[int, bool]
) -> dict[str, Any]:
    """One request as `silver_transactions` would hold it, plus its epoch second.

    Args:
        seed: the normalised seed fields (amount, use_chip, merchant_state, ...).
        extra: the full model's extra fields (ids, mcc, timestamp, city, zip, errors); no
            timestamp means now, no transaction id a fresh negative id (unique to this process).
        has_chip: card -> whether it has a chip (the lake's cards).

    Returns:
        The row with silver's derived columns, `ts_s`, the ids and `has_chip`.
    """
    ts = _request_time(extra)
    state = seed["merchant_state"]
    # The source holds an online purchase with an empty state: so does this raw row.
    raw = RawTransaction(
        ts,
        seed["amount"],
        seed["use_chip"],
        _source_city(extra, state),
        _source_state(state),
        blank_to_none(extra.get("zip")),
        blank_to_none(extra.get("errors")),
    )
    derived = derive_row(raw)
    ids = {name: int(extra[field]) for name, field in _ID_FIELDS.items()}
    return {
        **seed,
        **derived,
        "transaction_id": _transaction_id(extra),
        "ts_s": _epoch_second(_micros(ts)),
        **ids,
        "has_chip": has_chip.get(ids["card_id"]),
        "is_abroad_i": int(derived["is_abroad"]),
        "is_online_i": int(derived["is_online"]),
    }


def request_rows(
    seeds: Sequence[dict[str, Any]],
    extras: Sequence[dict[str, Any]],
    has_chip: Mapping[int, bool],
) -> RequestRows:
    """`request_row` of each request of a batch, as columns, and the events to record.

    The same values as `request_row` gives one by one: the derivations run over the batch's
    columns (`derive_columns`: each text rule once per distinct value).

    Args:
        seeds: the normalised seed fields of each request, in order; one or more, each with
            the same fields.
        extras: each request's extra fields.
        has_chip: card -> whether it has a chip.

    Returns:
        The rows' silver-shaped fields as columns, and their `Event`s.
    """
    micros = [_micros(_request_time(extra)) for extra in extras]
    states = [seed["merchant_state"] for seed in seeds]
    raw = RawColumns(
        np.array(micros, dtype=np.int64).view("datetime64[us]"),
        np.array([seed["amount"] for seed in seeds], dtype=np.float64),
        [seed["use_chip"] for seed in seeds],
        [_source_city(extra, state) for extra, state in zip(extras, states, strict=True)],
        [_source_state(state) for state in states],
        [blank_to_none(extra.get("zip")) for extra in extras],
        [blank_to_none(extra.get("errors")) for extra in extras],
    )
    columns: dict[str, Any] = {name: [seed[name] for seed in seeds] for name in seeds[0]}
    columns["amount"] = raw.amount
    columns.update(derive_columns(raw, _BATCH_DERIVED))
    ids = {name: [int(extra[field]) for extra in extras] for name, field in _ID_FIELDS.items()}
    columns.update(ids)
    columns["transaction_id"] = [_transaction_id(extra) for extra in extras]
    columns["ts_s"] = [_epoch_second(us) for us in micros]
    columns["has_chip"] = [has_chip.get(card) for card in ids["card_id"]]
    columns["is_abroad_i"] = columns["is_abroad"].astype(np.int64)
    columns["is_online_i"] = columns["is_online"].astype(np.int64)
    # Every `Event` field is a column of the same name (arrays as Python scalars).
    fields = (columns[name] for name in Event._fields)
    events = list(map(Event, *(f.tolist() if isinstance(f, np.ndarray) else f for f in fields)))
    return RequestRows(columns, events)


def event_of(row: dict[str, Any]) -> Event:
    """The stored form of a request row (`request_row`).

    Args:
        row: the row.

    Returns:
        Its `Event`.
    """
    return Event(
        row["transaction_id"],
        row["ts_s"],
        row["card_id"],
        row["client_id"],
        row["merchant_id"],
        row["mcc_code"],
        float(row["amount"]),
        str(row["merchant_state"]),
        row["is_abroad_i"],
        row["is_online_i"],
    )


def _request_time(extra: dict[str, Any]) -> datetime:
    """A request's time as naive UTC (silver's), now when it gives none."""
    ts = extra.get("timestamp") or datetime.now(UTC)
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts


def _micros(ts: datetime) -> int:
    """A naive UTC time in microseconds since the epoch (exact)."""
    return (ts - _EPOCH) // _MICROSECOND


def _epoch_second(micros: int) -> int:
    """The epoch second (`ts_s`) of a time in microseconds: `int(ts.timestamp())` of the
    aware UTC time, which divides the same microseconds by 10**6, rounded once, then truncates."""
    return int(micros / 1_000_000)


def _transaction_id(extra: dict[str, Any]) -> int:
    """The request's transaction id, or a fresh negative one (unique to this process)."""
    transaction_id = extra.get("transaction_id")
    return _run_base - next(_event_ids) if transaction_id is None else int(transaction_id)


def _source_state(state: str) -> str | None:
    """The source's merchant state of a normalised one: an online purchase has none."""
    return None if state == ONLINE_CITY else state


def _source_city(extra: dict[str, Any], state: str) -> str | None:
    """The source's merchant city: the request's, else ONLINE for an online purchase."""
    city = blank_to_none(extra.get("merchant_city"))
    return city or (ONLINE_CITY if state == ONLINE_CITY else None)
