"""Audit trail of predictions: every score shipped to Elasticsearch, never waited for.

When `ELASTICSEARCH_URL` is set, `from_settings` returns a `PredictionAudit` that turns each
scored transaction into one document (the request as sent, the score, the decision, the model
name and version) and hands it to the platform's bulk shipper
(`lakehouse.observability.elasticsearch.ElasticsearchHandler`) writing into the
`lakehouse-predictions-*` indices. Handing over is a non-blocking queue put: a slow or absent
Elasticsearch costs the request nothing (documents are dropped and counted instead).
Without the variable, `NullAudit` does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from api_ml.api.schemas import PredictionResponse, TransactionRequest
from lakehouse.config import Settings
from lakehouse.observability.elasticsearch import ElasticsearchHandler
from lakehouse.observability.redact import redact_url

logger = logging.getLogger("lakehouse.api_ml.audit")
INDEX_PREFIX = "lakehouse-predictions"


class Audit(Protocol):
    """Where each prediction is recorded: Elasticsearch (`PredictionAudit`) or nowhere."""

    def ship(
        self, requests: Sequence[TransactionRequest], answers: Sequence[PredictionResponse]
    ) -> None:
        """Record scored requests and their answers without blocking the request.

        Args:
            requests: the validated requests.
            answers: their answers, same order.
        """
        ...

    def close(self) -> None:
        """Flush and stop at shutdown."""
        ...


class NullAudit:
    """No Elasticsearch configured: predictions are only counted in /metrics."""

    def ship(
        self, requests: Sequence[TransactionRequest], answers: Sequence[PredictionResponse]
    ) -> None:
        """`Audit.ship` that records nothing."""
        return None

    def close(self) -> None:
        """`Audit.close`: nothing to flush."""
        return None


class PredictionAudit:
    """Queues one document per prediction on a background bulk shipper."""

    def __init__(self, shipper: ElasticsearchHandler) -> None:
        self.shipper = shipper

    def ship(
        self, requests: Sequence[TransactionRequest], answers: Sequence[PredictionResponse]
    ) -> None:
        """`Audit.ship`: one document per prediction on the shipper's queue (no features)."""
        now = datetime.now(UTC).isoformat()
        for request, answer in zip(requests, answers, strict=True):
            document = {
                "@timestamp": now,
                "event": "prediction",
                "request": request.model_dump(mode="json", exclude_none=True),
                **answer.model_dump(mode="json", exclude={"features"}),
            }
            self.shipper.enqueue(document)

    def close(self) -> None:
        """`Audit.close`: stop the shipper's thread after its last bulk request."""
        self.shipper.close()


def _shipper(url: str) -> ElasticsearchHandler:
    # The log shipper's buffer, bulk thread and loss counters, fed documents, not log records.
    return ElasticsearchHandler(url, index_prefix=INDEX_PREFIX)


def from_settings(settings: Settings) -> Audit:
    """`PredictionAudit` when `ELASTICSEARCH_URL` is set, else `NullAudit`.

    Args:
        settings: `ELASTICSEARCH_URL`.

    Returns:
        The audit the scoring API ships each prediction to.
    """
    if not settings.elasticsearch_url:
        return NullAudit()
    logger.info(
        "predictions audited to %s/%s-*", redact_url(settings.elasticsearch_url), INDEX_PREFIX
    )
    return PredictionAudit(_shipper(settings.elasticsearch_url))
