"""Score transactions: normalise, build the model inputs, predict, explain.

Validated requests arrive from the routes together with the `Snapshot` they read once.
Requests carrying only the seed's eleven fields go to the basic model through
`lakehouse.ml.features.basic_feature_frame` (cached per category combination in `codes.py`);
requests with identifiers (`card_id`, ...) go to the full model, whose behavioural features
come from the in-memory online state (`online.py`). A batch is scored with one model call
per flavour.
Answers leave as `PredictionResponse` objects; nothing here does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from api_ml.api.codes import basic_inputs
from api_ml.api.monitor import Monitor
from api_ml.api.normalise import (
    InvalidRequest,
    InvalidValue,
    normalise_seed_fields,
)
from api_ml.api.online import OnlineContext
from api_ml.api.schemas import (
    FULL_MODEL_REQUIRED,
    OPTIONAL_FIELDS,
    OnlineInfo,
    PredictionResponse,
    Reason,
    TransactionRequest,
)
from api_ml.api.state import ServingModel, Snapshot

# The seed answered "Haute" when |p - 0.5| > 0.3, i.e. when p sat more than 60 % of the way
# from its 0.5 threshold to 0 or 1. The same rule, relative to the model's own threshold.
HIGH_CONFIDENCE_MARGIN = 0.6
REASONS = 3


class ModelUnavailable(RuntimeError):
    """The flavour a request needs is not loaded; the message says why (503)."""


def confidence(probability: float, threshold: float) -> tuple[str, float]:
    """The seed's confidence label and the margin it is based on (0 on the threshold, 1 sure)."""
    span = threshold if probability < threshold else 1.0 - threshold
    margin = abs(probability - threshold) / span if span > 0 else 1.0
    margin = min(max(margin, 0.0), 1.0)
    return ("Haute" if margin > HIGH_CONFIDENCE_MARGIN else "Moyenne"), margin


def flavour_of(request: TransactionRequest) -> str:
    return "full" if request.wants_full_model() else "basic"


def _served(snapshot: Snapshot, flavour: str) -> ServingModel:
    served = snapshot.models.get(flavour)
    if served is None:
        reason = snapshot.unavailable.get(flavour, "not loaded")
        raise ModelUnavailable(f"the {flavour} model is not available: {reason}")
    return served


def _missing_for_full(request: TransactionRequest, prefix: str) -> list[tuple[str, InvalidValue]]:
    given = [name for name in OPTIONAL_FIELDS if getattr(request, name) is not None]
    return [
        (
            prefix,
            InvalidValue(
                name,
                None,
                FULL_MODEL_REQUIRED,
                f"the full model needs {', '.join(FULL_MODEL_REQUIRED)} "
                f"because {', '.join(given)} was given",
            ),
        )
        for name in FULL_MODEL_REQUIRED
        if getattr(request, name) is None
    ]


def full_inputs(
    served: ServingModel, seeds: list[dict[str, Any]], payloads: Sequence[dict[str, Any]]
) -> tuple[pd.DataFrame, list[OnlineContext]]:
    """The full model's inputs for these events (requests as dumped dicts), in order, and
    what the online state knew of each; every event is recorded in the state."""
    online = served.online
    assert online is not None, "a full model is always loaded with its online state"
    rows = [online.row(seed, payload) for seed, payload in zip(seeds, payloads, strict=True)]
    vectors, contexts = online.score_rows(rows)
    columns = list(served.model.feature_columns)  # the model's order: no reindexing later
    matrix = np.array([[v[c] for c in columns] for v in vectors], dtype="float64")
    return pd.DataFrame(matrix, columns=columns), contexts


def _responses(
    served: ServingModel,
    flavour: str,
    inputs: pd.DataFrame,
    include_features: bool,
    contexts: Sequence[OnlineContext] | None = None,
) -> list[PredictionResponse]:
    model = served.model
    columns = list(model.feature_columns)
    matrix = inputs if list(inputs.columns) == columns else inputs[columns]
    probabilities = np.asarray(model.predict_proba(matrix), dtype=float)
    contributions = model.contributions(matrix, top=REASONS)
    threshold = float(model.threshold)
    answers = []
    for i, probability in enumerate(probabilities):
        label, margin = confidence(float(probability), threshold)
        answers.append(
            PredictionResponse(
                fraud_probability=float(probability),
                is_fraud=bool(probability >= threshold),
                confidence=label,
                confidence_score=round(margin, 4),
                model_name=model.name,
                model_version=str(model.version),
                flavour=flavour,
                threshold=threshold,
                reasons=[Reason(feature=f, contribution=float(c)) for f, c in contributions[i]],
                features=_feature_dict(matrix.iloc[i]) if include_features else None,
                online=None if contexts is None else OnlineInfo(**asdict(contexts[i])),
            )
        )
    return answers


def _feature_dict(row: pd.Series) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, value in row.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = None  # categorical inputs are shown as missing rather than guessed
        out[str(name)] = None if number is None or math.isnan(number) else number
    return out


def score(
    snapshot: Snapshot,
    requests: Sequence[TransactionRequest],
    *,
    include_features: bool = False,
    batch: bool = False,
    monitor: Monitor | None = None,
) -> list[PredictionResponse]:
    """Score requests in order, one model call per flavour.

    Each model call is handed to `monitor` (drift, skew, shadow), which only queues it.

    Raises:
        InvalidRequest: any value outside the vocabulary (all of them, with positions).
        ModelUnavailable: a needed flavour is not loaded.
    """
    groups: dict[str, list[int]] = {"basic": [], "full": []}
    for i, request in enumerate(requests):
        groups[flavour_of(request)].append(i)
    problems: list[tuple[str, InvalidValue]] = []
    seeds: dict[int, dict[str, Any]] = {}
    served = {flavour: _served(snapshot, flavour) for flavour, idx in groups.items() if idx}
    payloads = [request.model_dump() for request in requests]
    for flavour, indices in groups.items():
        for i in indices:
            prefix = f"body.{i}" if batch else "body"
            if flavour == "full":
                problems.extend(_missing_for_full(requests[i], prefix))
            try:
                seeds[i] = normalise_seed_fields(payloads[i], served[flavour].vocabulary)
            except InvalidRequest as invalid:
                problems.extend((prefix, problem) for _, problem in invalid.problems)
    if problems:
        raise InvalidRequest(problems)
    answers: list[PredictionResponse | None] = [None] * len(requests)
    for flavour, indices in groups.items():
        if not indices:
            continue
        rows = [seeds[i] for i in indices]
        contexts = None
        if flavour == "basic":
            inputs = basic_inputs(rows)
        else:
            inputs, contexts = full_inputs(served[flavour], rows, [payloads[i] for i in indices])
        scored = _responses(served[flavour], flavour, inputs, include_features, contexts)
        for i, answer in zip(indices, scored, strict=True):
            answers[i] = answer
        if monitor is not None:
            monitor.record(
                flavour,
                served[flavour].model,
                inputs,
                [a.fraud_probability for a in scored],
                [requests[i] for i in indices],
            )
    return [a for a in answers if a is not None]
