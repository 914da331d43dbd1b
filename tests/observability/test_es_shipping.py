"""Shipping logs to Elasticsearch in bulk without ever blocking or crashing the caller.

Elasticsearch itself cannot run on this machine, so `testkit.FakeElasticsearch` stands in for it: a
real HTTP server on loopback that answers `_bulk` NDJSON the way Elasticsearch 8 does (the
official client's requests, product header included) and records what it received. The failure
cases use a closed port (nothing listening), a server that hangs and one that refuses
documents. Losses must be counted (`SHIPPING`, exported on /metrics) and logged, at most once
per interval: a fake clock that never moves proves the rate limit without timing anything.
"""

from __future__ import annotations

import logging
import threading

from testkit import fake_es, free_port

from lakehouse.observability.elasticsearch import (
    SHIPPING,
    ElasticsearchHandler,
    install_elasticsearch_handler,
)


def _logger(handler: logging.Handler, name: str) -> logging.Logger:
    logger = logging.getLogger(f"lakehouse.test.{name}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_records_are_shipped_in_bulk_ndjson() -> None:
    with fake_es() as server:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        handler = ElasticsearchHandler(url, batch_size=50, flush_interval=0.1)
        logger = _logger(handler, "bulk")
        for i in range(120):
            logger.info("stage finished", extra={"stage": "silver", "i": i})
        handler.flush(timeout=10)
        handler.close()
    actions = [line for request in server.requests for line in request[0::2]]
    documents = [line for request in server.requests for line in request[1::2]]
    assert len(documents) == 120 and handler.shipped == 120 and handler.dropped == 0
    assert len(server.requests) >= 3  # batches, not one request per record
    assert all(a["index"]["_index"].startswith("lakehouse-logs-") for a in actions)
    assert documents[0]["message"] == "stage finished" and documents[0]["stage"] == "silver"
    assert sorted(d["i"] for d in documents) == list(range(120))


def test_elasticsearch_down_drops_and_counts_never_raises() -> None:
    handler = ElasticsearchHandler(
        f"http://127.0.0.1:{free_port()}", batch_size=1000, flush_interval=0.05, timeout=0.5
    )
    logger = _logger(handler, "down")
    for i in range(500):
        logger.info("record %d", i)  # must return at once even though nothing listens
    handler.flush(timeout=10)
    handler.close()
    assert handler.shipped == 0 and handler.dropped == 500


def test_a_full_buffer_drops_instead_of_blocking() -> None:
    hang = threading.Event()
    with fake_es(hang) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        handler = ElasticsearchHandler(
            url, capacity=10, batch_size=5, flush_interval=0.05, timeout=5
        )
        logger = _logger(handler, "full")
        for i in range(200):
            logger.info("record %d", i)  # the shipper is stuck in a hanging request
        assert handler.dropped >= 200 - 10 - 5
        hang.set()
        handler.close()


def test_install_is_idempotent_and_off_without_url() -> None:
    root = logging.getLogger("lakehouse")
    assert install_elasticsearch_handler(None) is None
    first = install_elasticsearch_handler(f"http://127.0.0.1:{free_port()}")
    second = install_elasticsearch_handler(f"http://127.0.0.1:{free_port()}")
    shippers = [h for h in root.handlers if isinstance(h, ElasticsearchHandler)]
    assert shippers == [second] and first is not second
    install_elasticsearch_handler(None)
    assert not any(isinstance(h, ElasticsearchHandler) for h in root.handlers)


def _lost(prefix: str, outcome: str) -> int:
    return SHIPPING.snapshot().get((prefix, outcome), 0)


def test_losses_are_counted_and_warned_about_once_per_interval(caplog) -> None:  # type: ignore[no-untyped-def]
    prefix = "test-down"
    handler = ElasticsearchHandler(
        f"http://127.0.0.1:{free_port()}", batch_size=10, flush_interval=0.05, timeout=0.5,
        index_prefix=prefix, clock=lambda: 1000.0,
    )  # fmt: skip
    logger = _logger(handler, "warned")
    with caplog.at_level(logging.WARNING, logger="lakehouse.observability.elasticsearch"):
        for i in range(30):
            logger.info("record %d", i)
        handler.flush(timeout=30)
        handler.close()
    assert handler.dropped == 30 and _lost(prefix, "dropped") == 30
    warnings = [r for r in caplog.records if "Elasticsearch shipping" in r.getMessage()]
    assert len(warnings) == 1 and prefix in warnings[0].getMessage()


def test_refused_documents_are_counted_as_failed() -> None:
    prefix = "test-refused"
    with fake_es(refuse=lambda document: "poison" in str(document.get("message"))) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        handler = ElasticsearchHandler(url, batch_size=50, flush_interval=0.05, index_prefix=prefix)
        logger = _logger(handler, "refused")
        for i in range(10):
            logger.info("poison %d" if i % 5 == 0 else "fine %d", i)
        handler.flush(timeout=10)
        handler.close()
    assert (handler.shipped, handler.failed, handler.dropped) == (8, 2, 0)
    assert _lost(prefix, "failed") == 2 and _lost(prefix, "shipped") == 8
