"""A case record as the scoring API's outbox hands it to the store (shared by the case tests)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def sample_case(case_id: str = "1001", **changes: Any) -> dict[str, Any]:
    """A case record as the scoring API's outbox hands it to the store."""
    return {
        "case_id": case_id,
        "transaction_id": int(case_id) if case_id.isdigit() else None,
        "card_id": 7,
        "client_id": 3,
        "amount": 250.0,
        "fraud_probability": 0.4,
        "expected_loss": 100.0,
        "decision": "review",
        "decision_rule": "review: expected loss $100.00 >= $25.00",
        "reasons": [{"feature": "amount", "contribution": 1.2}],
        "features": {"amount": 250.0},
        "request": {"amount": 250.0},
        "model_name": "fraud-detector",
        "model_version": "3",
        "flavour": "full",
        "scored_at": datetime.now(UTC),
        **changes,
    }
