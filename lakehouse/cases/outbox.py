"""The durable outbox: a case is written before `/predict` answers, in the store soon after.

The scoring API must never lose a case it announced, yet must not fail or wait when the
analytics DB is briefly down. So `Outbox.put` writes each new case into a local SQLite file
in `LAKEHOUSE_CASE_OUTBOX_DIR` (default `LAKEHOUSE_DATA_DIR/outbox/`, WAL journal; concurrent
puts share one transaction: group commit), and an `OutboxWorker` thread moves them into the
case store (`store.insert_cases`, idempotent by case id, a durable commit) and deletes them
from the file only after the store committed. When the store fails, the worker retries with a
doubling pause capped at `LAKEHOUSE_CASE_OUTBOX_RETRY_SECONDS`; a restarted service finds the
file and drains what is left. The labels analysts give travel to sources_api the same way,
through a second outbox file keyed by transaction id.

How durable a `put` is when it returns is a choice, `sync` (`LAKEHOUSE_CASE_OUTBOX_SYNC` for
the cases, docs/cases.md):
- `full`: synchronous=FULL, each transaction fsynced: on disk when `put` returns, so the case
  survives a power loss; the answer waits for one fsync (shared by the group commit).
- `normal`: synchronous=NORMAL, no fsync in `put`: the transaction is in the WAL, in the
  operating system's page cache, when `put` returns, so the case survives a crash or a kill of
  the service (the file is read back by the next start), not a power loss or a kernel crash.
  The WAL reaches the disk at the checkpoint the worker runs after each round (`checkpoint`;
  rounds at most every `LINGER_SECONDS` while the store is up, at each retry while it is
  down); a delivered case is durable in the store anyway.
Puts never checkpoint (`wal_autocheckpoint=0`: that would put a sync back on the answer's
path), and this process's writes take turns on one lock instead of SQLite's busy wait, which
sleeps whole milliseconds when the worker's transaction holds the file.
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
# The worker's pause after draining, so that the records put meanwhile go in one round: a
# round costs ~2 ms of CPU whatever its size (peek, store transaction, delete, checkpoint),
# and each one competes with the scoring requests for the GIL (docs/benchmarks.md).
LINGER_SECONDS = 0.1
# What `put` waits for: the SQLite `synchronous` level of each mode (see the module docstring).
SYNC_LEVELS = {"full": "FULL", "normal": "NORMAL"}


@dataclass
class _Ticket:
    """One `put` waiting for the group commit that writes its rows."""

    rows: list[tuple[str, str]]
    done: bool = False
    error: Exception | None = None


class Outbox:
    """Records waiting for delivery, in a local SQLite file, one per `key` value."""

    def __init__(self, path: Path, key: str = "case_id", sync: str = "full") -> None:
        """Open (or create) the outbox file.

        Args:
            path: the SQLite file.
            key: the records' key field (a record with a key already waiting replaces it).
            sync: `full` (a put is on disk when it returns) or `normal` (in the OS's cache,
                on disk at the next checkpoint); see the module docstring.

        Raises:
            ValueError: an unknown `sync`.
        """
        if sync not in SYNC_LEVELS:
            raise ValueError(f"outbox sync must be one of {sorted(SYNC_LEVELS)}, not {sync!r}")
        self.path = path
        self.key = key
        self.sync = sync
        self._turn = threading.Condition()
        self._waiting: list[_Ticket] = []
        self._writing = False
        # One write transaction at a time in this process: a put queued behind the worker's
        # delete wakes when it ends, instead of in SQLite's busy-wait steps (1, 2, 5, 10 ms).
        self._write_turn = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        # One writer connection for the outbox's life (used under `_write_turn`): SQLite
        # checkpoints and syncs a WAL when its last connection closes, so a connection per put
        # would put syncs back on the answer's path (and pay the open each time).
        self._connection = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute(f"PRAGMA synchronous={SYNC_LEVELS[sync]}")
        self._connection.execute("PRAGMA wal_autocheckpoint=0")  # the worker's `checkpoint`
        with self._writer() as connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS outbox (record_key TEXT PRIMARY KEY, "
                "payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0)"
            )

    @contextlib.contextmanager
    def _writer(self) -> Iterator[sqlite3.Connection]:
        """The writer connection for one transaction (committed on exit), writes taking turns."""
        with self._write_turn, self._connection:
            yield self._connection

    @contextlib.contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own for a read (the WAL lets it run beside a write)."""
        with contextlib.closing(sqlite3.connect(self.path, timeout=30)) as connection:
            yield connection

    def close(self) -> None:
        """Close the writer connection (the last one: SQLite checkpoints the WAL into the file)."""
        with self._write_turn:
            self._connection.close()

    def put(self, records: Sequence[dict[str, Any]]) -> None:
        """Persist records (as `sync` says); a key already waiting is replaced (latest wins).

        Group commit: the puts of concurrent threads that arrive while a write is under way go
        to the file together in the next transaction, one fsync for all of them under `full`
        (a sync costs milliseconds on a plain disk, and CPU per connection). Each call still
        returns only once its own records are written, and raises if their write failed.

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
        """Insert rows in one transaction, in order; the error, if it failed."""
        try:
            with self._writer() as connection:
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
        with self._reader() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def peek(self, limit: int = BATCH) -> list[dict[str, Any]]:
        """The oldest waiting records, as JSON gave them back (times as ISO text).

        Args:
            limit: at most this many.

        Returns:
            The records, oldest first (they stay until `remove`).
        """
        with self._reader() as connection:
            rows = connection.execute(
                "SELECT payload FROM outbox ORDER BY rowid LIMIT ?", (limit,)
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def remove(self, keys: Sequence[str]) -> None:
        """Forget delivered records.

        Args:
            keys: their key values.
        """
        with self._writer() as connection:
            connection.executemany("DELETE FROM outbox WHERE record_key = ?", [(k,) for k in keys])

    def note_failure(self, keys: Sequence[str]) -> None:
        """Count one more failed delivery attempt of these records.

        Args:
            keys: their key values.
        """
        with self._writer() as connection:
            connection.executemany(
                "UPDATE outbox SET attempts = attempts + 1 WHERE record_key = ?",
                [(k,) for k in keys],
            )

    def checkpoint(self) -> None:
        """Copy the WAL into the file and sync both (the worker calls it after each round).

        PASSIVE: it neither waits for nor blocks a put; what a put appends meanwhile waits
        for the next one. Under `normal` this is when the cases put since the last one reach
        the disk.
        """
        with self._reader() as connection:
            connection.execute(f"PRAGMA synchronous={SYNC_LEVELS[self.sync]}")
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")


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
                self._checkpoint()  # what waits for the store is synced while it waits
                self._stop.wait(pause)
                pause = min(pause * 2, self.max_retry_seconds)
                continue
            pause = FIRST_RETRY_SECONDS
            self.delivered += moved
            if moved:
                self._checkpoint()
            if moved < BATCH:  # drained: the records of the next moments go in one round
                if moved == 0:
                    self._wake.wait(self.max_retry_seconds)
                    self._wake.clear()
                self._stop.wait(LINGER_SECONDS)

    def _checkpoint(self) -> None:
        """`Outbox.checkpoint`, a failure logged: the next round tries again."""
        try:
            self.outbox.checkpoint()
        except sqlite3.Error as exc:  # the records stay in the WAL, readable; only unsynced
            log.warning("outbox checkpoint of %s failed: %s", self.outbox.path, exc)
