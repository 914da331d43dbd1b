"""The online path's batch shortcuts give exactly what the plain definitions give.

- `compute.behaviour` (sorted events, windows by bisection) equals each aggregate evaluated
  from its declaration event by event, on random events that sit on window edges, in the
  transaction's own second, after it, and that carry its own id.
- `read_and_add_many` (a batch: each distinct card, client and tile read once, the events
  added in order) returns, on both backends, what `read_and_add` per event returns, and
  leaves the same state — on a batch with repeated cards, resends inside the batch and of
  stored ids, an id stored under another card, and label tallies on several days.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator

import pytest
from store_kit import T, fresh_stores

from lakehouse.features.declarations import AGGREGATES, DAY, OUTPUTS
from lakehouse.features.online.compute import Tallies, _std, behaviour
from lakehouse.features.online.events import Event
from lakehouse.features.online.redis_store import BATCH_CHUNK
from lakehouse.features.online.store import LabelEvent, OnlineStore

STATES = ["CA", "NY", "TX"]


def _reference(row: dict, card: list[Event], client: list[Event], tallies: Tallies) -> dict:
    """Every output from its declaration, each aggregate filtering all events again."""
    own, t = row["transaction_id"], row["ts_s"]
    values = {**row, **tallies.values()}
    for aggregate in AGGREGATES:
        if aggregate.rows != "all":
            continue
        assert aggregate.window is not None
        events = card if aggregate.entity == "card" else client
        chosen = [
            e
            for e in events
            if t - aggregate.window <= e.ts_s < t
            and e.transaction_id != own
            and (aggregate.entity != "client_merchant" or e.merchant_id == row["merchant_id"])
            and (aggregate.entity != "client_state" or e.merchant_state == row["merchant_state"])
        ]
        column = "ts_s" if aggregate.kind == "last_seen" else aggregate.column
        items = [getattr(e, column) for e in chosen] if column else []
        if aggregate.kind == "count":
            values[aggregate.name] = len(chosen)
        elif aggregate.kind == "last_seen":
            values[aggregate.name] = max(items, default=None)
        elif aggregate.kind == "std":
            values[aggregate.name] = _std(items)
        else:
            values[aggregate.name] = math.fsum(items) if column == "amount" else sum(items)
    return {output.name: output.python(values) for output in OUTPUTS}


def _event(rng: random.Random, transaction_id: int, card: int, client: int, ts: int) -> Event:
    return Event(
        transaction_id,
        ts,
        card,
        client,
        rng.randint(1, 4),
        rng.choice([5411, 5812]),
        rng.choice([round(rng.uniform(-80, 400), 2), 0.1, 1e-3, 25.0]),
        rng.choice(STATES),
        rng.randint(0, 1),
        rng.randint(0, 1),
    )


def test_behaviour_equals_the_declarations_event_by_event() -> None:
    rng = random.Random(11)
    edges = [0, 1, 3_599, 3_600, 3_601, DAY, DAY + 1, 7 * DAY, 30 * DAY, 30 * DAY + 1, -1]
    tallies = Tallies({"fraud": 2, "labeled": 40}, {"fraud": 1, "labeled": 9}, {})
    for case in range(300):
        own = 10**6 + case
        events = [
            _event(rng, i, 1, 1, T - rng.choice([rng.randint(-50, 32 * DAY), *edges]))
            for i in range(rng.randint(0, 40))
        ]
        if events and case % 3 == 0:  # the transaction itself is stored (a resend)
            events.append(events[0]._replace(transaction_id=own, ts_s=T - 10))
        if case % 5 == 0:  # every earlier event with the same amount: std on equal values
            events = [e._replace(amount=12.34) for e in events]
        card = [e for e in events if rng.random() < 0.4]
        row = {
            "transaction_id": own,
            "ts_s": T,
            "amount": 12.34,
            "merchant_id": rng.randint(1, 4),
            "merchant_state": rng.choice(STATES),
            "is_abroad_i": rng.randint(0, 1),
            "is_online_i": rng.randint(0, 1),
        }
        rng.shuffle(events)
        assert behaviour(row, card, events, tallies) == _reference(row, card, events, tallies)


@pytest.fixture(params=["memory", "redis"])
def two_stores(request: pytest.FixtureRequest) -> Iterator[Callable[[], OnlineStore]]:
    """A factory of fresh, empty stores of one backend (Redis: this test's own prefix)."""
    yield from fresh_stores(request.param, "test-batch")


def _filled(make: Callable[[], OnlineStore], stored: list[Event], labels: list[LabelEvent]):  # type: ignore[no-untyped-def]
    store = make()
    store.add_events(stored)
    store.add_labels(labels)
    return store


def _same(state_a, state_b) -> None:  # type: ignore[no-untyped-def]
    assert sorted(state_a.card) == sorted(state_b.card)
    assert sorted(state_a.client) == sorted(state_b.client)
    assert state_a.tallies.values() == state_b.tallies.values()


def test_a_batch_reads_and_adds_like_one_event_at_a_time(two_stores) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(5)
    stored = [
        _event(rng, i, rng.randint(1, 6), rng.randint(1, 3), T - rng.randint(1, 20 * DAY))
        for i in range(1, 120)
    ]
    labels = [
        LabelEvent(e.transaction_id, rng.randint(0, 1), e.ts_s // DAY + 2, e.merchant_id, 7)
        for e in stored[:60]
    ]
    batch = []
    for i in range(BATCH_CHUNK + 70):  # more than one chunk: the second reads the first's adds
        roll = rng.random()
        if roll < 0.1:
            batch.append(rng.choice(stored))  # a stored id, resent
        elif roll < 0.2 and batch:
            batch.append(rng.choice(batch))  # resent inside the batch
        elif roll < 0.25:  # a stored id under another card: not added again
            batch.append(rng.choice(stored)._replace(card_id=99, ts_s=T + i))
        else:
            day = rng.choice([-3, 0, 0, 1, 2])
            batch.append(_event(rng, 10_000 + i, rng.randint(1, 6), rng.randint(1, 3),
                                T + day * DAY + rng.randint(0, 600)))  # fmt: skip
    one_by_one = _filled(two_stores, stored, labels)
    together = _filled(two_stores, stored, labels)
    expected = [one_by_one.read_and_add(event, journal=True) for event in batch]
    got = together.read_and_add_many(batch, journal=True)
    assert len(got) == len(batch)
    for a, b in zip(expected, got, strict=True):
        _same(a, b)
    assert together.size() == one_by_one.size()
    assert together.journal() == one_by_one.journal()
    for event in batch:
        assert together.event(event.transaction_id) == one_by_one.event(event.transaction_id)


def test_repeated_reads_see_every_new_event_and_label(two_stores) -> None:  # type: ignore[no-untyped-def]
    """Reads of the same card and tiles, request after request (what the Redis backend's
    decoding caches serve), still see each event and label added in between."""
    rng = random.Random(9)
    store = _filled(two_stores, [_event(rng, i, 1, 1, T - i * 60) for i in range(1, 40)], [])
    day = T // DAY
    seen = []
    for i in range(5):
        scored = _event(rng, 1_000 + i, 1, 1, T + i)._replace(merchant_id=7, mcc_code=7)
        state = store.read_and_add(scored)
        seen.append((len(state.card), state.tallies.values()))
        store.add_labels([LabelEvent(i + 1, 1, day, 7, 7)])  # known today at merchant 7
    assert [cards for cards, _ in seen] == [39, 40, 41, 42, 43]
    assert [tallies["merchant_known_fraud"] for _, tallies in seen] == [0, 1, 2, 3, 4]
    assert [tallies["global_known_labeled"] for _, tallies in seen] == [0, 1, 2, 3, 4]
