"""Feed the online store from the source system between pipeline runs.

The lake only learns a batch at the next pipeline run; scoring must not wait for it. A
`SourceFeed` polls the source DB (`lakehouse.sources.recent`) for what arrived after the
lake's watermark — the newest `situation_date` silver holds — and applies it to the served
store through the same idempotent update path a scored transaction takes:

- transactions: each situation date after the lake's newest one whose row count changed since
  the last poll is read (from the state's oldest event time on), each row rebuilt as silver
  would hold it (the shared derivations, `derivations.derive_row`) and added with
  `OnlineStore.add_events`: a transaction already scored under that id, already in the lake,
  or read again counts once;
- labels analysts recorded (`analyst_labels`), whenever that table changed: each becomes a
  `LabelEvent` counted from the first midnight after its `label_known_at` (the known-day rule
  of silver and the batch SQL), idempotent by transaction id.

Polled events also go to the store's journal, so a reload built from a lake that still lacks
them replays them. The scoring API runs `poll` in a background task (`api_ml/api/feed.py`)
every `LAKEHOUSE_SOURCE_FEED_SECONDS`; `progress` is what its metrics and `/model/info` show.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from lakehouse.features.declarations import DAY, HISTORY_SECONDS
from lakehouse.features.derivations import RawTransaction, blank_to_none, derive_row
from lakehouse.features.online.compute import known_day_of
from lakehouse.features.online.events import Event
from lakehouse.features.online.store import LabelEvent, OnlineStore
from lakehouse.sources import recent

EVENTS_PER_WRITE = 2_000
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class PollResult:
    """What one poll read from the source and how much of it was new to the store."""

    events_read: int = 0
    events_added: int = 0
    labels_read: int = 0
    labels_added: int = 0


@dataclass
class FeedProgress:
    """Totals since the feed started, and where it stands (for metrics and /model/info)."""

    polls: int = 0
    failures: int = 0
    events_read: int = 0
    events_added: int = 0
    labels_read: int = 0
    labels_added: int = 0
    last_success_s: float | None = None
    last_error: str | None = None
    newest_ts_s: int | None = None  # newest transaction time applied to the served store
    newest_situation_date: date | None = None  # newest batch date seen in the source

    def add(self, result: PollResult) -> None:
        """Count one successful poll.

        Args:
            result: the poll's events and labels read and added; clears the last error.
        """
        self.polls += 1
        self.events_read += result.events_read
        self.events_added += result.events_added
        self.labels_read += result.labels_read
        self.labels_added += result.labels_added
        self.last_success_s = time.time()
        self.last_error = None


def source_amount(text: str) -> float:
    """'$-77.00' -> -77.0, as silver's CAST(replace(replace(amount, '$', ''), ',', '')).

    Args:
        text: the source's amount text.

    Returns:
        The amount in dollars.

    Raises:
        ValueError: the text is not a dollar amount.
    """
    return float(text.replace("$", "").replace(",", ""))


def event_from_source(row: Any) -> Event:
    """A `transaction_data` row as the online store keeps it (silver's meaning of each field).

    Args:
        row: a source row (`id`, `date`, `client_id`, `card_id`, `amount`, `use_chip`,
            `merchant_id`, `merchant_city`, `merchant_state`, `zip`, `mcc`, `errors`).

    Returns:
        The `Event`, with the state, abroad and online flags of `derivations`.
    """
    ts = datetime.fromisoformat(str(row.date))
    amount = source_amount(str(row.amount))
    derived = derive_row(
        RawTransaction(
            ts,
            amount,
            row.use_chip,
            row.merchant_city,
            blank_to_none(row.merchant_state),
            blank_to_none(row.zip),
            blank_to_none(row.errors),
        )
    )
    return Event(
        int(row.id),
        int(ts.replace(tzinfo=UTC).timestamp()),
        int(row.card_id),
        int(row.client_id),
        int(row.merchant_id),
        int(row.mcc),
        amount,
        str(derived["merchant_state"]),
        int(derived["is_abroad"]),
        int(derived["is_online"]),
    )


@dataclass
class _Applied:
    """What this feed already gave one store (a new store starts from nothing)."""

    store: OnlineStore | None = None
    day_counts: dict[date, int] = field(default_factory=dict)
    labels_signature: tuple[int, str] | None = None
    labels: dict[int, LabelEvent] = field(default_factory=dict)


class SourceFeed:
    """Polls one source DB into whichever store is served (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.progress = FeedProgress()
        self._applied = _Applied()

    def poll(self, store: OnlineStore, lake_situation_date: date | None) -> PollResult:
        """Apply what reached the source after the lake's newest batch date to `store`.

        The lake's own newest date is not read again: the pipeline extracted it whole, and
        counting a date that holds a whole-history batch costs seconds per poll.

        Args:
            store: the served online store (another object than last time: start over).
            lake_situation_date: the newest `situation_date` of the lake the store was built
                from (None: an empty lake, read every batch).

        Returns:
            What was read and what was new. Source or store errors propagate.
        """
        if store is not self._applied.store:
            self._applied = _Applied(store)
        has_transactions, has_labels = recent.has_tables(self.engine)
        meta = store.meta()
        events_from = (meta.horizon_s or 0) - HISTORY_SECONDS
        read = added = 0
        if has_transactions:
            since = date.min if lake_situation_date is None else lake_situation_date + _ONE_DAY
            read, added = self._transactions(store, since, events_from)
        labels_read = labels_added = 0
        if has_labels:
            labels_read, labels_added = self._labels(store, meta.fold_day)
        result = PollResult(read, added, labels_read, labels_added)
        self.progress.add(result)
        return result

    def failed(self, error: BaseException) -> None:
        """Count a failed poll; the error's kind is kept, never its text (it may hold values).

        Args:
            error: what the poll raised.
        """
        self.progress.polls += 1
        self.progress.failures += 1
        self.progress.last_error = type(error).__name__

    def _transactions(self, store: OnlineStore, since: date, events_from: int) -> tuple[int, int]:
        counts = recent.batch_counts(self.engine, since)
        if counts:
            newest = max(counts)
            previous = self.progress.newest_situation_date
            self.progress.newest_situation_date = max(newest, previous or newest)
        read = added = 0
        for day in sorted(counts):
            if self._applied.day_counts.get(day) == counts[day]:
                continue
            # older transactions are outside the state (and a lake's whole-history batch is
            # not worth reading again)
            oldest = datetime.fromtimestamp(max(events_from, 0), UTC).replace(tzinfo=None)
            rows = recent.transactions_of_day(self.engine, day, oldest)
            events = [event_from_source(row) for row in rows]
            read += len(events)
            added += self._add(store, events)
            self._applied.day_counts[day] = counts[day]
        return read, added

    def _add(self, store: OnlineStore, events: Iterable[Event]) -> int:
        added, chunk = 0, []
        for event in events:
            chunk.append(event)
            newest = self.progress.newest_ts_s
            self.progress.newest_ts_s = event.ts_s if newest is None else max(newest, event.ts_s)
            if len(chunk) >= EVENTS_PER_WRITE:
                added += store.add_events(chunk, journal=True)
                chunk = []
        if chunk:
            added += store.add_events(chunk, journal=True)
        return added

    def _labels(self, store: OnlineStore, fold_day: int) -> tuple[int, int]:
        signature = recent.analyst_labels_signature(self.engine)
        if signature == self._applied.labels_signature:
            return 0, 0
        # labels usable by the fold day are in the lake's folded tile already
        after = datetime.fromtimestamp(fold_day * DAY, UTC)
        rows = recent.analyst_labels_known_after(self.engine, after)
        fresh: list[LabelEvent] = []
        for row in rows:
            label = self._label_event(store, row)
            if label is not None and self._applied.labels.get(label.transaction_id) != label:
                fresh.append(label)
        added = store.add_labels(fresh) if fresh else 0
        self._applied.labels.update((label.transaction_id, label) for label in fresh)
        self._applied.labels_signature = signature
        return len(rows), added

    @staticmethod
    def _label_event(store: OnlineStore, row: Any) -> LabelEvent | None:
        merchant, mcc = row.merchant_id, row.mcc
        if merchant is None or mcc is None:  # not in the source: the state may hold it
            event = store.event(int(row.transaction_id))
            if event is None:
                return None
            merchant, mcc = event.merchant_id, event.mcc_code
        known_day = known_day_of(row.label_known_at.timestamp())
        return LabelEvent(
            int(row.transaction_id), int(bool(row.is_fraud)), known_day, int(merchant), int(mcc)
        )
