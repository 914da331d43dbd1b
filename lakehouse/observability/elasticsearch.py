"""Ship structured logs to Elasticsearch in bulk, without ever slowing the caller down.

When `ELASTICSEARCH_URL` is set, `install_elasticsearch_handler` adds `ElasticsearchHandler`
to the `lakehouse` logger tree. `emit` only puts the JSON document on a bounded in-memory
queue (never blocks: when the queue is full the record is dropped and counted); a daemon
thread drains it and POSTs `_bulk` NDJSON batches to `<url>/_bulk` into a daily index
`lakehouse-logs-YYYY.MM.DD`. If Elasticsearch is down the batch is dropped and counted, and
the thread backs off — the pipeline keeps running and still logs to stderr.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from datetime import UTC, datetime

import httpx

from lakehouse.observability.logs import record_to_document

INDEX_PREFIX = "lakehouse-logs"


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
    ) -> None:
        super().__init__()
        self.url = url.rstrip("/")
        self.index_prefix = index_prefix  # api_ml ships its prediction audit to its own indices
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.queue: queue.Queue[dict[str, object]] = queue.Queue(maxsize=capacity)
        self.dropped = 0  # records lost to a full buffer or a failed POST
        self.shipped = 0
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="es-log-shipper", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record_to_document(record))
        except queue.Full:
            self.dropped += 1

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
        with httpx.Client(timeout=self.timeout) as client:
            while not (self._stop.is_set() and self.queue.empty()):
                self._idle.set()
                batch = self._take_batch()
                if not batch:
                    continue
                if backoff:
                    self._stop.wait(backoff)  # closing cuts the wait short
                if self._post(client, batch):
                    self.shipped += len(batch)
                    backoff = 0.0
                else:
                    self.dropped += len(batch)
                    backoff = min(max(backoff * 2, 0.5), 30.0)

    def _post(self, client: httpx.Client, batch: list[dict[str, object]]) -> bool:
        index = f"{self.index_prefix}-{datetime.now(UTC):%Y.%m.%d}"
        action = json.dumps({"index": {"_index": index}})
        body = "".join(f"{action}\n{json.dumps(doc, default=str)}\n" for doc in batch)
        try:
            response = client.post(
                f"{self.url}/_bulk", content=body,
                headers={"Content-Type": "application/x-ndjson"},
            )
        except httpx.HTTPError:
            return False
        return response.status_code < 300 and not response.json().get("errors", False)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until the buffer is drained; used at the end of a run."""
        deadline = time.monotonic() + timeout
        while (not self.queue.empty() or not self._idle.is_set()) and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + self.flush_interval + 1)
        super().close()


def install_elasticsearch_handler(url: str | None, logger_name: str = "lakehouse") -> (
        ElasticsearchHandler | None):
    """Attach one shipper for `url` to the logger tree (replacing a previous one)."""
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
