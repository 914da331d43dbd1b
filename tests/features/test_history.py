"""A card's or client's `History` (its events as time-sorted columns, what `MemoryStore` hands
one request) gives exactly the features of the plain list of the same events, which
`compute._earlier` sorts and transposes (the Redis backend's and the tests' form)."""

from __future__ import annotations

import random

from lakehouse.features.declarations import DAY
from lakehouse.features.online.compute import Tallies, behaviour
from lakehouse.features.online.events import Event, History, holds_other_than
from lakehouse.features.online.memory_store import MemoryStore

T = 1_700_000_000
STATES = ["CA", "NY", "Italy", "ONLINE"]


def _event(rng: random.Random, tid: int, ts_s: int) -> Event:
    return Event(
        tid, ts_s, 1, 1, rng.randint(1, 5), 5411, round(rng.uniform(-50, 300), 2),
        rng.choice(STATES), rng.randint(0, 1), rng.randint(0, 1),
    )  # fmt: skip


def _same(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for name, value in want.items():
        assert got[name] == value and type(got[name]) is type(value), name


def test_a_history_gives_the_features_of_its_event_list() -> None:
    rng = random.Random(11)
    by_id: dict[int, Event] = {}
    history = History(by_id)
    plain: list[Event] = []
    for i in range(1, 401):
        ts = T + rng.randint(-40 * DAY, 2 * DAY)  # late arrivals: inserted, not appended
        if plain and rng.random() < 0.15:
            ts = rng.choice(plain).ts_s  # several events in one second
        event = by_id[i] = _event(rng, i, ts)
        history.add(event)
        plain.append(event)
        if i % 10:
            continue
        stored = rng.choice(plain)
        for scored in (
            _event(rng, 10_000 + i, T + rng.randint(-10 * DAY, 3 * DAY)),  # a new id
            stored._replace(amount=stored.amount + 1),  # a resend: its stored self is left out
            stored._replace(ts_s=stored.ts_s + 600),  # ... also when it is inside the windows
            _event(rng, 20_000 + i, stored.ts_s),  # in the second of a stored event
        ):
            row = scored._asdict()
            want = behaviour(row, plain, list(reversed(plain)), Tallies())
            _same(behaviour(row, history.copy(), history.copy(), Tallies()), want)
            assert holds_other_than(history, scored.transaction_id) == holds_other_than(
                plain, scored.transaction_id
            )
    assert sorted(history) == sorted(plain)
    assert [e.ts_s for e in history] == sorted(e.ts_s for e in plain)  # oldest first
    assert history[-1] in plain and history[:2] == list(history)[:2]


def test_a_read_is_a_copy_that_later_adds_leave_unchanged() -> None:
    rng = random.Random(3)
    store = MemoryStore()
    store.add_events([_event(rng, i, T - i * 60) for i in range(1, 30)])
    before = store.read(1, 1, 1, 5411, T // DAY)
    later = _event(rng, 99, T - 1)
    after = store.read_and_add(later)
    assert len(before.card) == len(after.card) == 29
    assert later not in before.card and later not in after.card
    assert later in store.read(1, 1, 1, 5411, T // DAY).card
    assert not holds_other_than(store.read(2, 2, 1, 5411, T // DAY).card, 1)  # unknown card
