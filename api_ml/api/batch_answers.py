"""A scored batch's answers written from its columns: confidence, decisions, cases, JSON.

The lean batch path (`lean_batch.py`) decides each flavour's rows over the whole probability
array (`decide_columns`, from `policy.decision_masks`) and hands over what it scored: the
probabilities and amounts as arrays, the decisions, the reasons of the rows it explained, the
input matrix and what the online state knew. The row-wise path (`scoring._responses`) builds,
decides and explains a `PredictionResponse` per row and serialises the list by its schema;
here the confidence is computed over the array too (`confidence_columns`), only the review
and decline rows get a `PredictionResponse` (their case record needs one),
and the answer is plain lists and dicts serialised once by pydantic-core. The bytes are the
row-wise path's (tests/api_ml/test_lean_batch.py). Nothing here does I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
import pydantic_core

from api_ml.api.casework import case_record, policy_of
from api_ml.api.online import OnlineContext
from api_ml.api.schemas import PredictionResponse, TransactionRequest
from api_ml.api.scoring import HIGH_CONFIDENCE_MARGIN, feature_dicts, online_info
from api_ml.api.state import ServingModel
from lakehouse.ml.policy import (
    APPROVE_RULE,
    Policy,
    decide,
    decision_masks,
    expected_losses,
)


@dataclass(frozen=True)
class ScoredGroup:
    """The rows of one flavour of a batch, scored by one model call and decided."""

    flavour: str
    served: ServingModel
    indices: list[int]  # positions in the request list
    matrix: np.ndarray  # the model's inputs, its column order
    probabilities: np.ndarray
    amounts: np.ndarray
    decisions: list[str]  # approve / review / decline, per row
    reasons: dict[int, list[tuple[str, float]]]  # the explained rows' reasons (others: none)
    contexts: list[OnlineContext] | None  # full model: what the state knew of each row


@dataclass
class BatchAnswer:
    """The batch's answer bytes and what the route's consumers take from it."""

    body: bytes
    answers: list[dict[str, Any]]  # in request order, as serialised (none-valued keys left out)
    records: list[dict[str, Any]]  # the cases of the review and decline rows, in request order


def confidence_columns(probability: np.ndarray, threshold: float) -> tuple[list[str], list[float]]:
    """`scoring.confidence` of every probability at once: the labels and the rounded margins.

    Args:
        probability: calibrated P(fraud) per row.
        threshold: the model's decision threshold.

    Returns:
        Per row, "Haute" or "Moyenne", and the margin rounded to 4 places (`confidence_score`).
    """
    span = np.where(probability < threshold, threshold, 1.0 - threshold)
    with np.errstate(divide="ignore", invalid="ignore"):
        margin = np.abs(probability - threshold) / span
    margin = np.clip(np.where(span > 0, margin, 1.0), 0.0, 1.0)
    labels = np.where(margin > HIGH_CONFIDENCE_MARGIN, "Haute", "Moyenne").tolist()
    return labels, [round(m, 4) for m in margin.tolist()]


def decide_columns(policy: Policy, probability: np.ndarray, amount: np.ndarray) -> list[str]:
    """`policy.decide`'s decision for every row at once (`decision_masks`).

    Args:
        policy: the thresholds stored with the model.
        probability: calibrated P(fraud) per row.
        amount: the rows' amounts.

    Returns:
        "approve", "review" or "decline" per row.
    """
    reviewed, declined = decision_masks(policy, probability, amount)
    return np.where(declined, "decline", np.where(reviewed, "review", "approve")).tolist()


@functools.cache
def _online(context: OnlineContext) -> dict[str, bool]:
    """The answer's `online` part as serialised (one shared dict per flag combination)."""
    return online_info(context).model_dump()


def _group_answers(group: ScoredGroup, include_features: bool) -> list[dict[str, Any]]:
    """The serialised answers of one group, decided (no case ids yet)."""
    model = group.served.model
    p, amounts = group.probabilities, group.amounts
    threshold = float(model.threshold)
    labels, margins = confidence_columns(p, threshold)
    losses = [round(x, 4) for x in expected_losses(p, amounts).tolist()]
    columns = [str(name) for name in model.feature_columns]
    features = feature_dicts(columns, group.matrix) if include_features else None
    fixed = {
        "model_name": model.name,
        "model_version": str(model.version),
        "flavour": group.flavour,
        "threshold": threshold,
    }
    policy = policy_of(model)
    answers = []
    for k, probability in enumerate(p.tolist()):
        answer = {
            "fraud_probability": probability,
            "is_fraud": probability >= threshold,
            "confidence": labels[k],
            "confidence_score": margins[k],
            **fixed,
            "reasons": [{"feature": f, "contribution": c} for f, c in group.reasons.get(k, ())],
        }
        if features is not None:
            answer["features"] = features[k]
        if group.decisions[k] == "approve":
            answer["decision"], answer["decision_rule"] = "approve", APPROVE_RULE
        else:  # the policy's own words, for the few rows it flags
            outcome = decide(policy, probability, float(amounts[k]))
            answer["decision"], answer["decision_rule"] = outcome.decision, outcome.rule
        answer["expected_loss"] = losses[k]
        if group.contexts is not None:
            answer["online"] = _online(group.contexts[k])
        answers.append(answer)
    return answers


def _case(
    answer: dict[str, Any], request: TransactionRequest, features: dict[str, float | None]
) -> dict[str, Any]:
    """The case record of one review/decline answer (`casework.case_record`); sets its id."""
    decided = PredictionResponse.model_validate({**answer, "features": features})
    record = case_record(request, decided)
    answer["case_id"] = record["case_id"]
    if "online" in answer:  # `case_id` sits before `online` in the schema's order
        answer["online"] = answer.pop("online")
    return record


def batch_answer(
    groups: Sequence[ScoredGroup],
    requests: Sequence[TransactionRequest],
    include_features: bool,
    show_reasons: bool = True,
) -> BatchAnswer:
    """The `/predict/batch` answer of scored groups, decided, with their cases.

    Args:
        groups: the batch's rows per flavour, scored.
        requests: the validated batch, in order.
        include_features: add each answer's model inputs.
        show_reasons: keep the reasons in the answers (`reasons=none`: dropped, once the
            cases took theirs).

    Returns:
        The answer bytes (`{"data": [...], "count": n}`, the row-wise path's bytes), the
        answers as dicts and the case records of the review and decline rows.
    """
    answers: list[dict[str, Any]] = [{}] * len(requests)
    records: list[tuple[int, dict[str, Any]]] = []
    for group in groups:
        mine = _group_answers(group, include_features)
        flagged_rows = [k for k, decision in enumerate(group.decisions) if decision != "approve"]
        if flagged_rows:  # a case keeps the inputs, asked for or not
            columns = [str(name) for name in group.served.model.feature_columns]
            kept = feature_dicts(columns, group.matrix[flagged_rows])
            for k, features in zip(flagged_rows, kept, strict=True):
                i = group.indices[k]
                records.append((i, _case(mine[k], requests[i], features)))
                if not show_reasons:
                    mine[k]["reasons"] = []
        for i, answer in zip(group.indices, mine, strict=True):
            answers[i] = answer
    data = pydantic_core.to_json(answers, inf_nan_mode="null")
    body = b'{"data":' + data + b',"count":' + str(len(answers)).encode() + b"}"
    return BatchAnswer(body, answers, [record for _, record in sorted(records, key=itemgetter(0))])
