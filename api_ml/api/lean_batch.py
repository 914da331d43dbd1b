"""The lean path of `POST /predict/batch`: a batch validated, scored and answered as columns.

Through FastAPI a batch pays for the router, dependencies, Starlette's request, a JSON parse
before validation, then per row: the vocabulary normalised, a `PredictionResponse` built,
decided and serialised by its schema. `LeanBatch` sits in the middleware stack beside
`lean.LeanPredict` and takes the common request — `POST /predict/batch`,
`Content-Type: application/json`, a query the lean `/predict` path reads too
(`lean.lean_query`: `include_features`, a `reasons` scope) — straight to one pydantic-core
call over the body bytes
(`TypeAdapter(list[TransactionRequest]).validate_json`, the schema FastAPI validates with),
normalises each distinct vocabulary value once (`normalise.normalise_columns`), scores each
flavour with one model call, decides over the probability array, runs TreeSHAP on the rows
the reasons scope explains, and writes the answer from the columns (`batch_answers.py`):
the same answer bytes, metrics, monitor batches, cases and audit as the route.

Anything else is FastAPI's, the body replayed: other paths, content types and query
strings, a body that fails validation, an empty or oversized batch (so every 4xx body is
FastAPI's own, word for word). A batch the columns cannot answer — a value outside the
vocabulary, a full-model row without its identifiers, a flavour not loaded — goes to
`routes.answer_batch` before anything is scored, for the row-wise path's 422/503 and its
item locations.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError

from api_ml.api import scoring
from api_ml.api.audit import NullAudit
from api_ml.api.batch_answers import ScoredGroup, batch_answer, decide_columns
from api_ml.api.casework import policy_of
from api_ml.api.codes import basic_matrix
from api_ml.api.lean import LeanPath
from api_ml.api.monitor import Monitor
from api_ml.api.normalise import normalise_columns
from api_ml.api.routes import answer_batch, reasons_scope
from api_ml.api.schemas import (
    FULL_MODEL_REQUIRED,
    MAX_BATCH,
    PredictionResponse,
    TransactionRequest,
)
from api_ml.api.scoring import (
    REASONS,
    explained_rows,
    flavour_of,
    in_model_order,
    shows_reasons,
)
from api_ml.api.state import ServingModel, Snapshot
from lakehouse.config import ReasonsScope

PATH = "/predict/batch"
_BATCH = TypeAdapter(list[TransactionRequest])


class LeanBatch(LeanPath):
    """`POST /predict/batch`: the batch validated in one call and answered from columns
    (`predict_columns`)."""

    path = PATH

    def validated(self, body: bytes) -> list[TransactionRequest] | None:
        """The body as 1 to MAX_BATCH requests, or None (FastAPI's 422 or the route's 413)."""
        try:
            requests = _BATCH.validate_json(body)
        except ValidationError:
            return None
        return requests if 1 <= len(requests) <= MAX_BATCH else None

    async def answer(
        self, app: FastAPI, snapshot: Snapshot, parsed: list[TransactionRequest],
        include_features: bool, reasons: str | None,
    ) -> Response:  # fmt: skip
        """`predict_columns`, the column-wise answer."""
        return await predict_columns(app, snapshot, parsed, include_features, reasons)


@dataclass(frozen=True)
class _Group:
    """One flavour's rows, normalised and ready to score."""

    flavour: str
    served: ServingModel
    indices: list[int]
    seeds: list[dict[str, Any]]
    payloads: list[dict[str, Any]]


def _plan(snapshot: Snapshot, requests: Sequence[TransactionRequest]) -> list[_Group] | None:
    """The batch's rows per flavour, normalised; None when the row-wise path must answer
    (a flavour not loaded, a full-model row without its identifiers, a refused value)."""
    indices: dict[str, list[int]] = {"basic": [], "full": []}
    for i, request in enumerate(requests):
        indices[flavour_of(request)].append(i)
    groups = []
    for flavour, mine in indices.items():
        if not mine:
            continue
        served = snapshot.models.get(flavour)
        # The fields, read only (`extra="forbid"`: `__dict__` holds exactly them).
        payloads = [requests[i].__dict__ for i in mine]
        if served is None or (
            flavour == "full"
            and any(p[name] is None for p in payloads for name in FULL_MODEL_REQUIRED)
        ):
            return None
        seeds = normalise_columns(payloads, served.vocabulary)
        if seeds is None:
            return None
        groups.append(_Group(flavour, served, mine, seeds, payloads))
    return groups


def _score_groups(
    groups: Sequence[_Group],
    requests: Sequence[TransactionRequest],
    monitor: Monitor | None,
    scope: ReasonsScope,
) -> list[ScoredGroup]:
    """Each group's inputs, one model call, its decisions, the SHAP reasons `scope` asks
    for and its monitor batch (as `scoring.score` does, row by row)."""
    scored = []
    for group in groups:
        model = group.served.model
        contexts = None
        if group.flavour == "basic":
            matrix = in_model_order(basic_matrix(group.seeds), model.feature_columns)
        else:
            # Through the module, as `scoring.score` calls it: one name for both batch paths.
            inputs = scoring.full_inputs(group.served, group.seeds, group.payloads, True)
            matrix, contexts = inputs
        probabilities = np.asarray(model.predict_proba(matrix), dtype=np.float64)
        amounts = np.array([requests[i].amount for i in group.indices], dtype=np.float64)
        decisions = decide_columns(policy_of(model), probabilities, amounts)
        explained = explained_rows(decisions, scope)
        reasons = dict(
            zip(explained, model.contributions_of(matrix, explained, REASONS), strict=True)
        )
        scored.append(
            ScoredGroup(
                group.flavour, group.served, group.indices, matrix, probabilities, amounts,
                decisions, reasons, contexts,
            )
        )  # fmt: skip
        if monitor is not None:
            monitor.record(
                group.flavour, model, matrix, probabilities.tolist(),
                [requests[i] for i in group.indices],
            )  # fmt: skip
    return scored


async def predict_columns(
    request_app: FastAPI,
    snapshot: Snapshot,
    requests: list[TransactionRequest],
    include_features: bool,
    reasons: str | None,
) -> Response:
    """The `/predict/batch` answer of a validated batch, computed as columns.

    Args:
        request_app: the application (its state carries metrics, monitor, cases, audit).
        snapshot: the models served at this moment.
        requests: the validated batch (1 to MAX_BATCH rows).
        include_features: add the model inputs to each answer.
        reasons: the `reasons` query value (a `routes.ReasonsQuery`), None for the default.

    Returns:
        The JSON answer; `routes.answer_batch`'s (its 422/503) when the columns cannot answer.
    """
    start = time.perf_counter()
    groups = _plan(snapshot, requests)
    if groups is None:
        return await answer_batch(request_app, snapshot, requests, include_features, reasons)
    settings = request_app.state.settings
    scope = reasons_scope(reasons, settings)
    run = functools.partial(_score_groups, groups, requests, request_app.state.monitor, scope)
    # As `routes._score`: a Redis round trip blocks, so it leaves the event loop.
    remote = settings.online_store == "redis"
    needs_thread = remote and any(group.flavour == "full" for group in groups)
    scored = await run_in_threadpool(run) if needs_thread else run()
    elapsed = time.perf_counter() - start
    answer = batch_answer(scored, requests, include_features, shows_reasons(scope))
    await request_app.state.cases.keep(answer.records)
    for group in scored:
        threshold = float(group.served.model.threshold)
        request_app.state.scoring_metrics.observe(
            group.flavour, elapsed, group.probabilities.tolist(),
            (group.probabilities >= threshold).tolist(),
        )  # fmt: skip
    audit = request_app.state.audit
    if not isinstance(audit, NullAudit):  # its documents are made from answer objects
        audit.ship(requests, [PredictionResponse.model_validate(a) for a in answer.answers])
    return Response(answer.body, media_type="application/json")
