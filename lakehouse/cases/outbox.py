"""The durable outbox: a case is on disk before `/predict` answers, in the store soon after.

The scoring API must never lose a case it announced, yet must not fail or wait when the
analytics DB is briefly down. So `Outbox.put` writes each new case into a local SQLite file
in `LAKEHOUSE_CASE_OUTBOX_DIR` (default `LAKEHOUSE_DATA_DIR/outbox/`; synchronous=FULL: on
disk when `put` returns; concurrent puts share one transaction and one sync), and an
`OutboxWorker` thread moves them into the case store (`store.insert_cases`, idempotent by
case id) and deletes them from the file only after the store committed. When the store fails,
the worker retries with a doubling pause capped at `LAKEHOUSE_CASE_OUTBOX_RETRY_SECONDS`; a
restarted service finds the file and drains what is left. The labels analysts give travel to
sources_api the same way, through a second outbox file keyed by transaction id.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BATCH = 200
FIRST_RETRY_SECONDS = 0.2


@dataclass
class _Ticket:
    """One `put` waiting for the group commit that writes its rows."""

    rows: list[tuple[str, str]]
    done: bool = False
    error: Exception | None = None


class Outbox:
    """Records waiting for delivery, in a local SQLite file, one per `key` value."""

    def __init__(self, path: Path, key: str = "case_id") -> None:
        self.path = path
        self.key = key
        self._turn = threading.Condition()
        self._waiting: list[_Ticket] = []
        self._writing = False
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS outbox (record_key TEXT PRIMARY KEY, "
                "payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0)"
            )

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one transaction: committed (durably) and closed on exit."""
        connection = sqlite3.connect(self.path, timeout=30)
        try:
            connection.execute("PRAGMA synchronous=FULL")
            with connection:
                yield connection
        finally:
            connection.close()

    def put(self, records: Sequence[dict[str, Any]]) -> None:
        """Persist records durably; a key already waiting is replaced (the latest record wins).

        Group commit: the puts of concurrent threads that arrive while a write is syncing go
        to disk together in the next transaction, one fsync for all of them (a sync costs
        milliseconds on a plain disk, and CPU per connection). Each call still returns only
        once its own records are on disk, and raises if their write failed.

        Args:
            records: JSON-able dictionaries (datetimes as ISO text), each with the key field.
        """
        ticket = _Ticket([(str(r[self.key]), json.dumps(r, default=_iso)) for r in records])
        with self._turn:
            self._waiting.append(ticket)
            while not ticket.done:
                if self._writing:
                    self._turn.wait()
                    continue
                self._writing = True
                batch, self._waiting = self._waiting, []
                self._turn.release()
                error: Exception | None = RuntimeError("the outbox write was interrupted")
                try:
                    error = self._write([row for waiting in batch for row in waiting.rows])
                finally:
                    self._turn.acquire()
                    self._writing = False
                    for waiting in batch:
                        waiting.done, waiting.error = True, error
                    self._turn.notify_all()
        if ticket.error is not None:
            raise ticket.error

    def _write(self, rows: list[tuple[str, str]]) -> Exception | None:
        """Insert rows in one durable transaction, in order; the error, if it failed."""
        try:
            with self._connect() as connection:
                connection.executemany(
                    "INSERT OR REPLACE INTO outbox (record_key, payload) VALUES (?, ?)", rows
                )
        except Exception as exc:  # handed to every caller whose rows were in this write
            return exc
        return None

    def pending(self) -> int:
        """How many records wait (a gauge of the outbox's backlog).

        Returns:
            The count.
        """
        with self._connect() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def peek(self, limit: int = BATCH) -> list[dict[str, Any]]:
        """The oldest waiting records, as JSON gave them back (times as ISO text).

        Args:
            limit: at most this many.

        Returns:
            The records, oldest first (they stay until `remove`).
        """
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT payload FROM outbox ORDER BY rowid LIMIT ?", (limit,)
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def remove(self, keys: Sequence[str]) -> None:
        """Forget delivered records.

        Args:
            keys: their key values.
        """
        with self._connect() as connection:
            connection.executemany("DELETE FROM outbox WHERE record_key = ?", [(k,) for k in keys])

    def note_failure(self, keys: Sequence[str]) -> None:
        """Count one more failed delivery attempt of these records.

        Args:
            keys: their key values.
        """
        with self._connect() as connection:
            connection.executemany(
                "UPDATE outbox SET attempts = attempts + 1 WHERE record_key = ?",
                [(k,) for k in keys],
            )


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def drain_once(outbox: Outbox, deliver: Callable[[list[dict[str, Any]]], int]) -> int:
    """Move one batch from the outbox to the store.

    The batch leaves the file only after `deliver` returned, so a crash in between delivers
    it again — harmless, delivery is idempotent.

    Args:
        outbox: the durable queue.
        deliver: writes a batch to the target (idempotently); raises when it is down.

    Returns:
        How many records were delivered (0: the outbox was empty).
    """
    batch = outbox.peek()
    if not batch:
        return 0
    ids = [str(r[outbox.key]) for r in batch]
    try:
        deliver(batch)
    except Exception:
        outbox.note_failure(ids)
        raise
    outbox.remove(ids)
    return len(batch)


class OutboxWorker:
    """Background thread draining the outbox; `wake` after a put, `stop` at shutdown."""

    def __init__(
        self,
        outbox: Outbox,
        deliver: Callable[[list[dict[str, Any]]], int],
        max_retry_seconds: float,
        target: str = "case store",
    ) -> None:
        self.outbox = outbox
        self.target = target
        self.deliver = deliver
        self.max_retry_seconds = max_retry_seconds
        self.failures = 0
        self.delivered = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"outbox {target}", daemon=True)

    def start(self) -> None:
        """Start draining in the background."""
        self._thread.start()

    def wake(self) -> None:
        """Drain now instead of at the next retry (called after a `put`)."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread; records not delivered stay in the outbox for the next start.

        Args:
            timeout: seconds to wait for the thread.
        """
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        pause = FIRST_RETRY_SECONDS
        while not self._stop.is_set():
            try:
                moved = drain_once(self.outbox, self.deliver)
            except Exception as exc:  # the target is down: keep the records, retry later
                self.failures += 1
                log.warning(
                    "%s unavailable, %d records wait in the outbox (%s); retry in %.1f s",
                    self.target,
                    self.outbox.pending(),
                    exc,
                    pause,
                )
                self._stop.wait(pause)
                pause = min(pause * 2, self.max_retry_seconds)
                continue
            pause = FIRST_RETRY_SECONDS
            self.delivered += moved
            if moved == 0:
                self._wake.wait(self.max_retry_seconds)
                self._wake.clear()
