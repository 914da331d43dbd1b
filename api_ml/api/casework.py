"""After scoring: a case for every review or decline.

Scoring (`scoring.py`) decides each answer — `decision`, `decision_rule`, `expected_loss` —
from the policy stored with the model that scored it (`policy_of`, `lakehouse.ml.policy`;
models trained before it existed fall back to their single threshold: decline what is
flagged). `routes._score` then calls `CaseDesk.open_cases`, then `keep`, which persists them
(on the event loop when the write is a cache copy, `persist_on_loop`; in a thread when it is
an fsync, `LAKEHOUSE_CASE_OUTBOX_SYNC=full`). Reviews and declines become case records —
score, reasons, feature values, model version, amount, expected loss — written to the
durable outbox before the answer leaves (on disk first, or within moments, as
`LAKEHOUSE_CASE_OUTBOX_SYNC` says: lakehouse/cases/outbox.py); the outbox worker moves them
into the analytics DB. When an analyst closes a case as confirmed fraud or
legitimate, `forward_label` sends the outcome to sources_api's `/labels` through a second
durable outbox (always synced: an analyst's work, off the scoring path), with the time it
became known.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi.concurrency import run_in_threadpool

from api_ml.api.schemas import PredictionResponse, TransactionRequest
from api_ml.api.state import Snapshot
from lakehouse.cases import store
from lakehouse.cases.outbox import Outbox, OutboxWorker
from lakehouse.cases.schema import ensure_schema
from lakehouse.cases.workflow import LABELS
from lakehouse.client_keys import client_headers
from lakehouse.config import Settings
from lakehouse.ml.policy import Policy, model_policy
from lakehouse.pipeline.publish import analytics_engine

logger = logging.getLogger("lakehouse.api_ml.cases")
SERVICE_ACTOR = "api_ml"
OUTBOX_FILE = "cases.sqlite"
LABELS_FILE = "labels.sqlite"


def policy_of(model: Any) -> Policy:
    """The model's stored policy, or its threshold as a decline-only policy.

    Args:
        model: a loaded fraud model (its `policy` and `threshold`).

    Returns:
        The cost policy its answers are decided by.
    """
    return model_policy(model.policy, model.threshold)


def case_record(request: TransactionRequest, answer: PredictionResponse) -> dict[str, Any]:
    """What a case keeps of a scored transaction.

    The request as sent, minus nothing secret: the scoring payload carries no card number. A
    request without a transaction id gets a random `req-...` case id.

    Args:
        request: the scored transaction as the client sent it.
        answer: its decided answer (probability, decision, reasons, features, model).

    Returns:
        The case row for `store.insert_cases`, stamped with the scoring time (UTC).
    """
    case_id = (
        str(request.transaction_id)
        if request.transaction_id is not None
        else f"req-{uuid.uuid4().hex[:16]}"
    )
    return {
        "case_id": case_id,
        "transaction_id": request.transaction_id,
        "card_id": request.card_id,
        "client_id": request.client_id,
        "amount": float(request.amount),
        "fraud_probability": answer.fraud_probability,
        "expected_loss": answer.expected_loss,
        "decision": answer.decision,
        "decision_rule": answer.decision_rule,
        "reasons": [r.model_dump() for r in answer.reasons],
        "features": answer.features or {},
        "request": request.model_dump(mode="json", exclude_none=True),
        "model_name": answer.model_name,
        "model_version": answer.model_version,
        "flavour": answer.flavour,
        "scored_at": datetime.now(UTC),
    }


class CaseDesk:
    """Decisions on answers; outboxes + workers feeding the case store and sources_api."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: sa.Engine = analytics_engine(settings.analytics_db_url or "")
        assert settings.case_outbox_dir is not None  # derived by Settings
        retry = settings.case_outbox_retry_seconds
        self.outbox = Outbox(
            settings.case_outbox_dir / OUTBOX_FILE, sync=settings.case_outbox_sync
        )
        self.worker = OutboxWorker(self.outbox, self.deliver, retry)
        # Labels are an analyst's work and off the scoring path: always synced before the reply.
        self.labels = Outbox(settings.case_outbox_dir / LABELS_FILE, "transaction_id", "full")
        self.label_worker = OutboxWorker(self.labels, self.send_labels, retry, "sources_api")
        self._schema_ready = False
        # Under `normal`, one process: the case write is a copy into the OS's cache (~50 us),
        # cheaper than the hop to a thread and back (two GIL hand-overs: milliseconds under
        # load), so `routes._score` makes it on the event loop. An fsync (`full`), or another
        # process on the same file (SQLite's busy wait sleeps), must not stall the loop.
        self.persist_on_loop = (
            settings.case_outbox_sync == "normal" and settings.api_ml_workers == 1
        )

    def ready_engine(self) -> sa.Engine:
        """The analytics DB, its case tables created on first use (raises while it is down).

        Returns:
            The case store's engine.
        """
        if not self._schema_ready:
            ensure_schema(self.engine)
            self._schema_ready = True
        return self.engine

    def deliver(self, records: list[dict[str, Any]]) -> int:
        """Store a batch of cases (the worker's delivery; raises while the DB is down).

        Args:
            records: case rows taken from the outbox (`case_record`).

        Returns:
            The number of cases inserted (repeats of a stored case are not counted).
        """
        return store.insert_cases(self.ready_engine(), records, SERVICE_ACTOR)

    def send_labels(self, labels: list[dict[str, Any]]) -> int:
        """Post a batch of labels to sources_api (the label worker's delivery).

        Args:
            labels: label rows taken from the label outbox (`forward_label`).

        Returns:
            The number of labels sources_api reports as received.

        Raises:
            httpx.HTTPError: sources_api unreachable or answering an error (the worker retries).
        """
        answer = httpx.post(
            f"{self.settings.sources_api_url.rstrip('/')}/labels",
            json=labels,
            timeout=15,
            headers=client_headers(self.settings, "write"),
        )
        answer.raise_for_status()
        return int(answer.json()["received"])

    def forward_label(self, case: dict[str, Any]) -> None:
        """A closed case of a known transaction becomes a label for sources_api (durably).

        Open cases and cases without a transaction id are ignored.

        Args:
            case: the case row after the analyst's decision (`state`, `decided_by`, `decided_at`).
        """
        if case["state"] not in LABELS or case["transaction_id"] is None:
            return
        self.labels.put(
            [
                {
                    "transaction_id": case["transaction_id"],
                    "is_fraud": bool(LABELS[case["state"]]),
                    "source": "analyst_review",
                    "reviewer": case["decided_by"],
                    "label_known_at": case["decided_at"],
                }
            ]
        )
        self.label_worker.wake()

    def count_online(self, case: dict[str, Any], snapshot: Snapshot) -> None:
        """A closed case's label also reaches the full model's online risk tallies at once.

        Counted from the day after the decision, as silver will count it after the next run.
        Nothing happens for an open case, a case without a transaction id or decision time, or
        when no full model with an online state is served.

        Args:
            case: the case row after the analyst's decision.
            snapshot: the models now served.
        """
        full = snapshot.models.get("full")
        if case["state"] not in LABELS or case["transaction_id"] is None:
            return
        if full is None or full.online is None or case["decided_at"] is None:
            return
        full.online.record_label(
            int(case["transaction_id"]), int(LABELS[case["state"]]), case["decided_at"],
            None, None,
        )

    def start(self) -> None:
        """Start the case and label outbox workers."""
        self.worker.start()
        self.label_worker.start()

    def stop(self) -> None:
        """Stop both outbox workers (undelivered records stay queued); close the files and pool."""
        self.worker.stop()
        self.label_worker.stop()
        self.outbox.close()
        self.labels.close()
        self.engine.dispose()

    def open_cases(
        self,
        requests: Sequence[TransactionRequest],
        answers: list[PredictionResponse],
        include_features: bool,
        show_reasons: bool = True,
    ) -> list[dict[str, Any]]:
        """The case records of the decided answers that are not approved, to `persist`.

        In memory, no I/O: the scoring route persists them off its event loop. Scoring
        decided each answer and explained every review and decline, so a case always
        carries its reasons.

        Args:
            requests: the scored transactions, in the answers' order.
            answers: the decided answers; each review or decline gets its case id.
            include_features: keep the features in the answers (else they are dropped).
            show_reasons: keep the reasons in the answers (`reasons=none`: dropped, once
                the cases took theirs).

        Returns:
            One case record per answer not approved.
        """
        records = []
        for request, answer in zip(requests, answers, strict=True):
            if answer.decision != "approve":
                record = case_record(request, answer)
                answer.case_id = record["case_id"]
                records.append(record)
            if not include_features:
                answer.features = None
            if not show_reasons:
                answer.reasons = []
        return records

    async def keep(self, records: list[dict[str, Any]]) -> None:
        """`persist` from the event loop: in place when the write is a cache copy
        (`persist_on_loop`), in a thread when it is an fsync; nothing for no records.

        Args:
            records: the case records of a scored request (reviews and declines).
        """
        if not records:
            return
        if self.persist_on_loop:
            self.persist(records)
        else:
            await run_in_threadpool(self.persist, records)

    def persist(self, records: list[dict[str, Any]]) -> None:
        """Write case records to the outbox (`LAKEHOUSE_CASE_OUTBOX_SYNC`) and wake its worker.

        Blocking (an fsync under `full`): call it from a thread unless `persist_on_loop`.

        Args:
            records: the case records of `open_cases` (nothing is done for none).
        """
        if records:
            self.outbox.put(records)  # written before the answer leaves
            self.worker.wake()
