"""A batch's columnar features equal its rows computed one by one, on both backends.

`columnar.behaviour_columns` over `read_batch` (the memory store groups by card and client;
Redis by row) must give, for every row, what `compute.behaviour` gives over what
`read_and_add` returns for that row alone, in order: on generated batches with bursts in
one card (same second, minutes apart), resends of stored ids and inside the batch, a stored
id under another card, unknown cards and clients, foreign and online places, refunds, and
label tallies on several days. Counts and floats must be equal to the bit (NaN for None);
`known_flags` must give the answer's `card_known` / `client_known` of the one-by-one path.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from store_kit import T, fresh_stores

from lakehouse.features.declarations import DAY, OUTPUTS
from lakehouse.features.online.columnar import _ExactPrefix, behaviour_columns, known_flags
from lakehouse.features.online.compute import behaviour
from lakehouse.features.online.events import Event
from lakehouse.features.online.memory_store import MemoryStore
from lakehouse.features.online.store import BatchRead, LabelEvent, OnlineStore, StoreMeta

PLACES = ["CA", "NY", "TX", "Italy", "ONLINE"]


@pytest.fixture(params=["memory", "redis"])
def make_store(request: pytest.FixtureRequest) -> Iterator[Callable[[], OnlineStore]]:
    """Fresh, empty stores of one backend (Redis: this test's own prefixes, dropped after)."""
    yield from fresh_stores(request.param, "test-columnar")


def _event(rng: random.Random, tid: int, card: int, client: int, ts: int) -> Event:
    place = rng.choice(PLACES)
    return Event(
        tid,
        ts,
        card,
        client,
        rng.randint(1, 5),
        rng.choice([5411, 5812, 4829]),
        rng.choice([round(rng.uniform(-120, 500), 2), -25.0, 25.0, 0.1, 1e-3]),
        place,
        int(place == "Italy"),
        int(place == "ONLINE"),
    )


def _batch(rng: random.Random, stored: list[Event]) -> list[Event]:
    batch: list[Event] = []
    for i in range(400):
        roll = rng.random()
        if roll < 0.08:
            batch.append(rng.choice(stored))  # a stored id resent
        elif roll < 0.16 and batch:
            batch.append(rng.choice(batch))  # resent inside the batch
        elif roll < 0.2:  # a stored id under another card: not added again
            batch.append(rng.choice(stored)._replace(card_id=77, ts_s=T + i))
        elif roll < 0.35:  # a burst on card 1: same second and minutes apart
            batch.append(_event(rng, 50_000 + i, 1, 1, T + DAY + 60 * (i % 7)))
        elif roll < 0.42:  # unknown card and client
            batch.append(_event(rng, 60_000 + i, 100 + i % 5, 200 + i % 3, T + rng.randint(0, DAY)))
        else:
            day = rng.choice([-40, -3, 0, 0, 1, 2, 31])
            card = rng.randint(1, 8)
            ts = T + day * DAY + rng.randint(0, 900)
            batch.append(_event(rng, 10_000 + i, card, card % 3, ts))
    return batch


def _filled(make: Callable[[], OnlineStore], rng: random.Random) -> tuple[OnlineStore, list[Event]]:
    stored = [
        _event(rng, i, rng.randint(1, 8), 0, T - rng.randint(0, 35 * DAY)) for i in range(1, 300)
    ]
    stored = [e._replace(client_id=e.card_id % 3) for e in stored]
    store = make()
    store.add_events(stored)
    store.add_labels(
        [
            LabelEvent(
                e.transaction_id,
                rng.randint(0, 1),
                e.ts_s // DAY + rng.randint(1, 9),
                e.merchant_id,
                e.mcc_code,
            )
            for e in stored[:150]
        ]
    )
    return store, stored


def _row(event: Event) -> dict:
    return event._asdict()


@pytest.mark.parametrize("seed", [3, 8])
def test_columnar_features_equal_the_rows_one_by_one(make_store, seed: int) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    one_by_one, stored = _filled(make_store, rng)
    together, _ = _filled(make_store, random.Random(seed))
    batch = _batch(rng, stored)
    rows = [_row(e) for e in batch]
    expected, known = [], []
    for row, event in zip(rows, batch, strict=True):
        state = one_by_one.read_and_add(event, journal=True)
        expected.append(behaviour(row, state.card, state.client, state.tallies))
        own = event.transaction_id
        known.append(
            (
                any(e.transaction_id != own for e in state.card),
                any(e.transaction_id != own for e in state.client),
            )
        )
    read = together.read_batch(batch, journal=True)
    got = behaviour_columns({name: [row[name] for row in rows] for name in rows[0]}, read)
    for output in OUTPUTS:
        want = [math.nan if v[output.name] is None else float(v[output.name]) for v in expected]
        have = got[output.name].tolist()
        assert [w if w == w else "NaN" for w in want] == [h if h == h else "NaN" for h in have], (
            output.name
        )
    assert max(v["card_tx_count_1h"] for v in expected) >= 3  # the burst saw itself
    ids = [e.transaction_id for e in batch]
    cards = known_flags(read.cards, ids, read.added)
    clients = known_flags(read.clients, ids, read.added)
    assert list(zip(cards, clients, strict=True)) == known
    assert not all(cards)  # unknown cards were in the batch
    assert together.size() == one_by_one.size()
    assert together.journal() == one_by_one.journal()


def test_window_sums_are_fsum_to_the_bit() -> None:
    """`_ExactPrefix` (integer prefix sums) gives `math.fsum` of every window, to the bit:
    cents and refunds cancelling to zero, tiny and large amounts, values spanning a hundred
    binary orders (several parts), windows whose integer parts pass 2**53 (combined as Python
    integers); extreme exponents fall back to `math.fsum` itself."""
    rng = np.random.default_rng(11)
    cents = np.round(rng.uniform(-500, 500, 4000), 2)
    cases = [
        cents,
        np.concatenate([cents, -cents, [1e-3, 0.1, 25.0, -25.0, -0.0, 1e6]]),
        rng.uniform(0, 1, 3000) ** 6 * 1e4,  # squared deviations: many binary orders
        np.full(3000, 2.0**40 + 1.0),  # sums far beyond 2**53 units
    ]
    for values in cases:
        rows = 300
        count = rng.integers(0, len(values) // rows + 40, rows)
        ends = np.minimum(np.cumsum(rng.integers(1, 2 * len(values) // rows, rows)), len(values))
        count = np.minimum(count, ends)
        prefix = _ExactPrefix.of(values)
        assert prefix is not None
        got = prefix.tail_sums(ends, count)
        listed = values.tolist()
        expected = [math.fsum(listed[e - k : e]) for e, k in zip(ends, count, strict=True)]
        assert got.tolist() == expected
        assert [math.copysign(1, x) for x in got] == [math.copysign(1, x) for x in expected]
    assert _ExactPrefix.of(np.array([1e-300, 1.0])) is None



def _held(read: BatchRead, row: int, entity: str) -> list[tuple]:
    """Row `row`'s card (or client) group as read, one sorted tuple per event."""
    groups = read.cards if entity == "card_id" else read.clients
    starts = np.concatenate([[0], np.cumsum(groups.lengths)])
    g = int(groups.of_row[row])
    columns = [groups.events[name][starts[g] : starts[g + 1]].tolist() for name in EVENT_FIELDS]
    return sorted(zip(*columns, strict=True))


EVENT_FIELDS = ("transaction_id", "ts_s", "merchant_id", "amount", "is_abroad_i", "is_online_i")


def test_the_memory_event_table_holds_every_event_of_each_group() -> None:
    """`MemoryStore` hands a batch its cards' and clients' events from its column table: past
    the table's first capacity and its write queue (a bulk add, then single adds between
    batches, a resend in a batch), each group's columns are exactly the events `read` gave
    just before, and a state's code stands for one state."""
    rng = random.Random(5)
    store = MemoryStore(StoreMeta(fold_day=T // DAY - 40))
    store.add_events([_event(rng, i, i % 40, i % 13, T - i) for i in range(1, 6_000)])
    for round_ in range(3):
        for i in range(50):  # one request at a time, as /predict adds them
            store.read_and_add(_event(rng, 10_000 + 100 * round_ + i, i % 7, i % 5, T + i))
        batch = [_event(rng, 20_000 + 10 * round_ + i, i % 9, i % 4, T + 60) for i in range(8)]
        batch.append(batch[0])  # a resend inside the batch
        before = {
            (entity, getattr(e, entity)): sorted(
                (x.transaction_id, x.ts_s, x.merchant_id, x.amount, x.is_abroad_i, x.is_online_i)
                for x in getattr(store.read(e.card_id, e.client_id, 1, 1, T // DAY), part)
            )
            for e in batch
            for entity, part in (("card_id", "card"), ("client_id", "client"))
        }
        read = store.read_batch(batch, journal=True)
        for row, event in enumerate(batch):
            for entity in ("card_id", "client_id"):
                assert _held(read, row, entity) == before[entity, getattr(event, entity)]
        states = dict(zip(read.states.tolist(), (e.merchant_state for e in batch), strict=True))
        assert len(set(states.values())) == len(states)
