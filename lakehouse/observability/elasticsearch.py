"""Ship structured logs (and the scoring audit) to Elasticsearch in bulk, never slowing callers.

When `ELASTICSEARCH_URL` is set, `install_elasticsearch_handler` adds `ElasticsearchHandler`
to the `lakehouse` logger tree, and api_ml feeds its prediction audit through a subclass.
`emit` only puts the JSON document on a bounded in-memory queue (never blocks); a daemon
thread drains it and indexes batches into a daily index `<prefix>-YYYY.MM.DD` with the
official client's bulk helper (`elasticsearch.helpers.bulk`). Nothing is ever lost silently:

- a document that finds the queue full, or whose batch cannot reach Elasticsearch, is
  *dropped*; one Elasticsearch refuses (mapping error, ...) has *failed*;
- both are counted per index prefix and exported by every service's `/metrics` (and the
  pipeline's) as `elasticsearch_documents_dropped_total` / `_failed_total`, with
  `elasticsearch_documents_shipped_total` beside them; alert `ElasticsearchDocumentsLost`
  fires on them (prometheus/alerts.yml);
- a warning is logged at most once per `WARNING_INTERVAL_SECONDS` with the losses since the
  previous one.

While Elasticsearch is down the thread backs off; the services and the pipeline keep running
and keep logging to stderr.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from lakehouse.observability.logs import record_to_document

INDEX_PREFIX = "lakehouse-logs"
WARNING_INTERVAL_SECONDS = 60.0
OUTCOMES = ("shipped", "dropped", "failed")
logger = logging.getLogger("lakehouse.observability.elasticsearch")
# The client's transport logs every failed request; while Elasticsearch is down that would be
# one line per batch. Our own rate-limited warning says it instead.
logging.getLogger("elastic_transport").setLevel(logging.ERROR)


class ShippingCounts:
    """Documents per (index prefix, outcome), for the life of the process (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter({(INDEX_PREFIX, o): 0 for o in OUTCOMES})

    def add(self, prefix: str, outcome: str, count: int) -> None:
        """Count documents of one index prefix that met one outcome.

        Args:
            prefix: the index prefix (logs, predictions, ...).
            outcome: one of `OUTCOMES`.
            count: how many documents.
        """
        with self._lock:
            self._counts[(prefix, outcome)] += count

    def declare(self, prefix: str) -> None:
        """Make `prefix` show with zeros before anything happened to it.

        Args:
            prefix: the index prefix.
        """
        with self._lock:
            for outcome in OUTCOMES:
                self._counts[(prefix, outcome)] += 0

    def snapshot(self) -> dict[tuple[str, str], int]:
        """A copy of the counts.

        Returns:
            `{(prefix, outcome): documents}`.
        """
        with self._lock:
            return dict(self._counts)


SHIPPING = ShippingCounts()


class ShippingCollector(Collector):
    """Exports `SHIPPING` into a service's own Prometheus registry."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        """Prometheus' scrape hook.

        Returns:
            The shipping counter, one sample per (prefix, outcome).
        """
        counts = SHIPPING.snapshot()
        for outcome in OUTCOMES:
            family = CounterMetricFamily(
                f"elasticsearch_documents_{outcome}",
                f"Documents {outcome} on their way to Elasticsearch, by index prefix.",
                labels=["index"],
            )
            for (prefix, kind), value in sorted(counts.items()):
                if kind == outcome:
                    family.add_metric([prefix], value)
            yield family


class ElasticsearchHandler(logging.Handler):
    """A logging handler that buffers records and bulk-indexes them from a background thread."""

    def __init__(
        self,
        url: str,
        *,
        capacity: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        timeout: float = 2.0,
        index_prefix: str = INDEX_PREFIX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.index_prefix = index_prefix  # api_ml ships its prediction audit to its own indices
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.timeout = timeout
        # The client library loads only once shipping is on: importing it costs every
        # process (the daily pipeline run included) about half a second.
        from elasticsearch import Elasticsearch

        self.client = Elasticsearch(url, request_timeout=timeout, max_retries=0)
        self.queue: queue.Queue[dict[str, object]] = queue.Queue(maxsize=capacity)
        self.dropped = 0  # lost to a full buffer or an unreachable Elasticsearch
        self.failed = 0  # refused by Elasticsearch
        self.shipped = 0
        self._clock = clock
        self._last_warning = -math.inf
        self._unreported: Counter[str] = Counter()
        self._stop = threading.Event()
        self._idle = threading.Event()
        SHIPPING.declare(index_prefix)
        self._thread = threading.Thread(target=self._run, name="es-log-shipper", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        """Queue a log record as a document (never blocks the logging thread).

        Args:
            record: the log record.
        """
        self.enqueue(record_to_document(record))

    def enqueue(self, document: dict[str, object]) -> None:
        """Queue one document without ever blocking; a full queue drops (and counts) it.

        Args:
            document: a JSON-able dictionary for the index.
        """
        try:
            self.queue.put_nowait(document)
        except queue.Full:
            self._lost("dropped", 1, "the buffer is full")

    def _lost(self, outcome: str, count: int, reason: str) -> None:
        if outcome == "dropped":
            self.dropped += count
        else:
            self.failed += count
        SHIPPING.add(self.index_prefix, outcome, count)
        self._unreported[outcome] += count
        now = self._clock()
        if now - self._last_warning >= WARNING_INTERVAL_SECONDS:
            self._last_warning = now
            lost, self._unreported = dict(self._unreported), Counter()
            logger.warning(
                "Elasticsearch shipping for %s-*: %s since the last warning (%s); see "
                "elasticsearch_documents_{dropped,failed}_total",
                self.index_prefix,
                ", ".join(f"{n} {kind}" for kind, n in sorted(lost.items())),
                reason,
                extra={"es_index": self.index_prefix, **{f"es_{k}": n for k, n in lost.items()}},
            )

    def _take_batch(self) -> list[dict[str, object]]:
        batch: list[dict[str, object]] = []
        try:
            batch.append(self.queue.get(timeout=self.flush_interval))
            self._idle.clear()  # a batch is in flight until the next loop turn
            while len(batch) < self.batch_size:
                batch.append(self.queue.get_nowait())
        except queue.Empty:
            pass
        return batch

    def _run(self) -> None:
        backoff = 0.0
        while not (self._stop.is_set() and self.queue.empty()):
            self._idle.set()
            batch = self._take_batch()
            if not batch:
                continue
            if backoff:
                self._stop.wait(backoff)  # closing cuts the wait short
            backoff = 0.0 if self._ship(batch) else min(max(backoff * 2, 0.5), 30.0)
        self.client.close()

    def _ship(self, batch: list[dict[str, object]]) -> bool:
        """Index `batch`; False when Elasticsearch could not be reached (back off)."""
        from elasticsearch.exceptions import TransportError
        from elasticsearch.helpers import bulk

        index = f"{self.index_prefix}-{datetime.now(UTC):%Y.%m.%d}"
        actions = ({"_index": index, "_source": document} for document in batch)
        try:
            shipped, errors = bulk(
                self.client, actions, chunk_size=len(batch), raise_on_error=False,
                raise_on_exception=False,
            )  # fmt: skip
        except TransportError as exc:  # nothing listens, or no answer in time
            self._lost("dropped", len(batch), f"Elasticsearch unreachable: {type(exc).__name__}")
            return False
        self.shipped += shipped
        SHIPPING.add(self.index_prefix, "shipped", shipped)
        # An item carrying an exception is a whole request Elasticsearch answered with an
        # error status (overloaded, down behind a proxy); the others are refused documents.
        unanswered = sum(1 for e in errors if "exception" in next(iter(e.values())))  # type: ignore[union-attr]
        if unanswered:
            self._lost(
                "dropped", unanswered, "Elasticsearch answered the bulk request with an error"
            )
        if len(errors) - unanswered:  # type: ignore[arg-type]
            self._lost("failed", len(errors) - unanswered, "Elasticsearch refused them")  # type: ignore[arg-type]
        return not unanswered

    def flush(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until the buffer is drained; used at the end of a run.

        Args:
            timeout: seconds to wait at most.
        """
        deadline = time.monotonic() + timeout
        while (not self.queue.empty() or not self._idle.is_set()) and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        """Stop the shipping thread after its last bulk request."""
        self._stop.set()
        self._thread.join(timeout=self.timeout + self.flush_interval + 1)
        super().close()


def install_elasticsearch_handler(
    url: str | None, logger_name: str = "lakehouse"
) -> ElasticsearchHandler | None:
    """Attach one shipper for `url` to the logger tree (replacing a previous one).

    Args:
        url: the Elasticsearch URL; None or empty removes the shipper.
        logger_name: the logger tree shipped.

    Returns:
        The installed handler, or None.
    """
    root = logging.getLogger(logger_name)
    for handler in list(root.handlers):
        if isinstance(handler, ElasticsearchHandler):
            root.removeHandler(handler)
            handler.close()
    if not url:
        return None
    handler = ElasticsearchHandler(url)
    root.addHandler(handler)
    return handler
