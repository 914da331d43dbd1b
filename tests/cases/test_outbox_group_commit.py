"""`Outbox.put` group commit: concurrent puts share one durable write, none returns early.

Real parts: the outbox's SQLite file and real threads. The first writer is held inside its
write until four more puts are queued behind it; they must then go to disk together in one
transaction, each put returning only once its own records are stored, and a failed write
must raise in every put it carried.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from promkit import wait_for

from lakehouse.cases.outbox import Outbox


def _put_all(
    outbox: Outbox, keys: list[str], stored_on_return: dict[str, bool]
) -> list[threading.Thread]:
    """One thread per key putting its record; each notes whether it was stored on return."""
    def put(key: str) -> None:
        outbox.put([{"case_id": key, "score": 0.5}])
        stored_on_return[key] = key in {r["case_id"] for r in outbox.peek(100)}

    threads = [threading.Thread(target=put, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    return threads


def test_puts_queued_behind_a_write_share_the_next_one(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "cases.sqlite")
    writes: list[list[str]] = []
    release = threading.Event()
    real_write = outbox._write

    def held_write(rows: list[tuple[str, str]]) -> Exception | None:
        writes.append([key for key, _ in rows])
        if len(writes) == 1:
            release.wait(30)
        return real_write(rows)

    outbox._write = held_write  # type: ignore[method-assign]
    stored: dict[str, bool] = {}
    first = _put_all(outbox, ["a"], stored)
    wait_for(lambda: writes == [["a"]], timeout=30)
    rest = _put_all(outbox, ["b", "c", "d", "e"], stored)
    wait_for(lambda: len(outbox._waiting) == 4, timeout=30)
    release.set()
    for thread in [*first, *rest]:
        thread.join(30)
    assert len(writes) == 2 and sorted(writes[1]) == ["b", "c", "d", "e"]
    assert stored == dict.fromkeys("abcde", True)  # each put returned after its own write
    assert outbox.pending() == 5


def test_a_failed_write_raises_in_every_put_it_carried(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "cases.sqlite")
    outbox._write = lambda rows: OSError("disk full")  # type: ignore[method-assign]
    with pytest.raises(OSError, match="disk full"):
        outbox.put([{"case_id": "x"}])
    assert outbox.pending() == 0
