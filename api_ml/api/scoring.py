"""Score transactions: normalise, build the model inputs, predict, decide, explain.

Validated requests arrive from the routes together with the `Snapshot` they read once.
Requests carrying only the seed's eleven fields go to the basic model through
`lakehouse.ml.features.basic_feature_frame` (cached per category combination in `codes.py`);
requests with identifiers (`card_id`, ...) go to the full model, whose behavioural features
come from the in-memory online state (`online.py`). A batch is scored with one model call
per flavour; the model's cost policy (`lakehouse.ml.policy`) decides each answer, and the
SHAP reasons are computed only for the answers the request's reasons scope asks for.
Answers leave as `PredictionResponse` objects; nothing here does I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from api_ml.api.casework import policy_of
from api_ml.api.codes import basic_matrix
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
    TransactionRequest,
)
from api_ml.api.state import ServingModel, Snapshot
from lakehouse.config import ReasonsScope
from lakehouse.ml.features import BASIC_FEATURE_COLUMNS, FEATURE_COLUMNS
from lakehouse.ml.policy import decide

# The seed answered "Haute" when |p - 0.5| > 0.3, i.e. when p sat more than 60 % of the way
# from its 0.5 threshold to 0 or 1. The same rule, relative to the model's own threshold.
HIGH_CONFIDENCE_MARGIN = 0.6
REASONS = 3


class ModelUnavailable(RuntimeError):
    """The flavour a request needs is not loaded; the message says why (503)."""


def confidence(probability: float, threshold: float) -> tuple[str, float]:
    """The seed's confidence label and the margin it is based on (0 on the threshold, 1 sure).

    Args:
        probability: the calibrated P(fraud).
        threshold: the model's decision threshold.

    Returns:
        `("Haute" | "Moyenne", margin)`: "Haute" when the score sits more than
        `HIGH_CONFIDENCE_MARGIN` of the way from the threshold to 0 or to 1.
    """
    span = threshold if probability < threshold else 1.0 - threshold
    margin = abs(probability - threshold) / span if span > 0 else 1.0
    margin = min(max(margin, 0.0), 1.0)
    return ("Haute" if margin > HIGH_CONFIDENCE_MARGIN else "Moyenne"), margin


def flavour_of(request: TransactionRequest) -> str:
    """Which model scores a request.

    Args:
        request: a validated transaction.

    Returns:
        "full" when it carries the full model's identifiers, else "basic".
    """
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
    served: ServingModel,
    seeds: list[dict[str, Any]],
    payloads: Sequence[dict[str, Any]],
    columnar: bool = False,
) -> tuple[np.ndarray, list[OnlineContext]]:
    """The full model's input matrix for these events (requests as dumped dicts), in order,
    and what the online state knew of each; every event is recorded in the state.

    Args:
        served: the full model with its online state.
        seeds: the seed fields of each request, normalised to the dataset's vocabulary.
        payloads: the requests as dumped dicts (identifiers, timestamp, merchant fields).
        columnar: compute the features as columns for all rows at once (a batch: the same
            numbers, less Python per row; one row is cheaper row-wise).

    Returns:
        The float64 matrix in the model's `feature_columns` order (missing values NaN), and
        one `OnlineContext` per row.
    """
    online = served.online
    assert online is not None, "a full model is always loaded with its online state"
    columns = served.model.feature_columns  # the model's order: no reindexing later
    if columnar:
        return online.score_matrix(online.rows(seeds, payloads), list(columns))
    rows = [online.row(seed, payload) for seed, payload in zip(seeds, payloads, strict=True)]
    vectors, contexts = online.score_rows(rows)
    if columns == FEATURE_COLUMNS:  # the vectors' own order: their values as they are
        cells = [list(v.values()) for v in vectors]
    else:
        cells = [[v[c] for c in columns] for v in vectors]
    matrix = np.array(cells, dtype="float64")  # None becomes NaN
    return matrix.reshape(len(vectors), len(columns)), contexts


def explained_rows(decisions: Sequence[str], scope: ReasonsScope) -> list[int]:
    """The positions of the answers TreeSHAP explains under `scope`.

    A review or decline is always explained: it becomes a case, and an analyst works it from
    its reasons. Under `none` its answer then leaves without them (`shows_reasons`).

    Args:
        decisions: each answer's decision (approve / review / decline), in order.
        scope: `flagged` (reviews and declines), `all` or `none`.

    Returns:
        The positions to explain, in order.
    """
    if scope == "all":
        return list(range(len(decisions)))
    return [i for i, decision in enumerate(decisions) if decision != "approve"]


def shows_reasons(scope: ReasonsScope) -> bool:
    """Whether the answers carry the reasons computed for them (all but `none`).

    Args:
        scope: the request's reasons scope.

    Returns:
        False under `none`: the answers leave with `reasons: []`, their cases keep them.
    """
    return scope != "none"


def _responses(
    served: ServingModel,
    flavour: str,
    matrix: np.ndarray,
    amounts: Sequence[float],
    include_features: bool,
    contexts: Sequence[OnlineContext] | None = None,
    scope: ReasonsScope = "flagged",
) -> list[PredictionResponse]:
    """One decided answer per row of `matrix` (the model's inputs, its column order).

    The plain prediction scores every row (one model call), the model's policy decides each
    from its probability and amount, and TreeSHAP (a hundred times the cost of the plain
    prediction) then runs once, on the rows `scope` explains only: the probability and the
    decision never depend on the scope."""
    model = served.model
    probabilities = model.predict_proba(matrix).tolist()
    threshold = float(model.threshold)
    policy = policy_of(model)
    outcomes = [decide(policy, p, a) for p, a in zip(probabilities, amounts, strict=True)]
    decisions = [o.decision for o in outcomes]
    explained = explained_rows(decisions, scope)
    reasons = dict(zip(explained, model.contributions_of(matrix, explained, REASONS), strict=True))
    name, version = model.name, str(model.version)
    columns = [str(name) for name in model.feature_columns]
    # Every answer's inputs when asked; else the reviews' and declines' only, for their cases.
    with_inputs = explained_rows(decisions, "all" if include_features else "flagged")
    features = dict(zip(with_inputs, feature_dicts(columns, matrix[with_inputs]), strict=True))
    answers = []
    for i, (probability, outcome) in enumerate(zip(probabilities, outcomes, strict=True)):
        label, margin = confidence(probability, threshold)
        # Validated by pydantic-core: 2.9 us an answer, where `model_construct` (Python,
        # field by field) took 6.4 us without checking anything.
        answers.append(
            PredictionResponse.model_validate(
                {
                    "fraud_probability": probability,
                    "is_fraud": probability >= threshold,
                    "confidence": label,
                    "confidence_score": round(margin, 4),
                    "model_name": name,
                    "model_version": version,
                    "flavour": flavour,
                    "threshold": threshold,
                    "reasons": [
                        {"feature": f, "contribution": float(c)} for f, c in reasons.get(i, ())
                    ],
                    "features": features.get(i),
                    "decision": outcome.decision,
                    "decision_rule": outcome.rule,
                    "expected_loss": round(outcome.expected_loss, 4),
                    "online": None if contexts is None else online_info(contexts[i]),
                }
            )
        )
    return answers


@functools.cache
def online_info(context: OnlineContext) -> OnlineInfo:
    """The answer's `online` part: one shared, never modified object per combination of
    its four flags (built once, not per row).

    Args:
        context: what the online state knew of the row.

    Returns:
        The `OnlineInfo` of those flags.
    """
    return OnlineInfo.model_construct(
        card_known=context.card_known,
        client_known=context.client_known,
        within_horizon=context.within_horizon,
        degraded=context.degraded,
    )


def in_model_order(matrix: np.ndarray, columns: Sequence[str]) -> np.ndarray:
    """The basic matrix (`BASIC_FEATURE_COLUMNS` order) in the model's column order.

    Args:
        matrix: basic inputs (`codes.basic_matrix`).
        columns: the model's `feature_columns`.

    Returns:
        The matrix itself when the orders agree, else its columns reordered.
    """
    if list(columns) == BASIC_FEATURE_COLUMNS:
        return matrix
    return matrix[:, [BASIC_FEATURE_COLUMNS.index(c) for c in columns]]


def feature_dicts(columns: Sequence[str], matrix: np.ndarray) -> list[dict[str, float | None]]:
    """Each row of inputs by column name; missing values (NaN) as None (one pass over the
    matrix, not one test per cell).

    Args:
        columns: the matrix's column names.
        matrix: model inputs, one row per answer.

    Returns:
        One `{column: value}` dict per row (an answer's `features`, a case's inputs).
    """
    cells = matrix.astype(object)
    cells[np.isnan(matrix)] = None
    return [dict(zip(columns, row, strict=True)) for row in cells.tolist()]


def score(
    snapshot: Snapshot,
    requests: Sequence[TransactionRequest],
    *,
    include_features: bool = False,
    batch: bool = False,
    monitor: Monitor | None = None,
    reasons: ReasonsScope = "flagged",
) -> list[PredictionResponse]:
    """Score and decide requests in order, one model call per flavour (and one TreeSHAP
    call for those of its answers that `reasons` explains).

    Each model call is handed to `monitor` (drift, skew, shadow), which only queues it.

    Args:
        snapshot: the models served at this moment (read once for the whole call).
        requests: the validated transactions, scored in this order.
        include_features: add each answer's model inputs (a review or decline carries them
            either way: its case keeps them, `CaseDesk.open_cases` drops them from the answer).
        batch: the requests come from `/predict/batch` (error locations name the item).
        monitor: the drift/skew/shadow queue (None: not monitored).
        reasons: which answers carry their three SHAP reasons: `flagged` the reviews and
            declines, `all`, or `none` (bulk re-scoring; the reviews and declines are still
            explained, for their cases: `shows_reasons`); the others' `reasons` are empty.

    Returns:
        One answer per request, in order, each with its decision, rule and expected loss.

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
    # The fields, shallow (all scalars; `extra="forbid"`: `__dict__` holds exactly them).
    # `dict(request)` first asks the model for `keys`, a slow failing pydantic lookup a row.
    payloads = [dict(request.__dict__) for request in requests]
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
            inputs = in_model_order(basic_matrix(rows), served[flavour].model.feature_columns)
        else:
            inputs, contexts = full_inputs(
                served[flavour], rows, [payloads[i] for i in indices], columnar=batch
            )
        amounts = [float(requests[i].amount) for i in indices]
        scored = _responses(
            served[flavour], flavour, inputs, amounts, include_features, contexts, reasons
        )
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
