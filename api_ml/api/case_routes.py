"""The case API: analysts log in, list and read cases, assign, decide and add notes.

Thin routes over `lakehouse.cases` (queries in `store.py`, rules in `workflow.py`, tokens in
`auth.py`). Every route but `/auth/token` needs a bearer token (401 without); every write goes
through `store.change_case` / `store.add_note`, which append the audit entry in the same
transaction. Answers: 403 when the workflow refuses (another analyst's case), 404 for an
unknown case, 503 while the analytics DB is unreachable (the message says so).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy.exc import OperationalError

from api_ml.api.case_schemas import (
    ActorPublic,
    AssignRequest,
    AuditPublic,
    CaseDetail,
    CasePublic,
    CasesPublic,
    DecisionRequest,
    LoginRequest,
    NotePublic,
    NoteRequest,
    Sort,
    TokenResponse,
)
from api_ml.api.deps import ActorDep, CaseDeskDep, CaseStoreDep, SettingsDep, SnapshotDep
from lakehouse.cases import auth, history, store, workflow
from lakehouse.cases.workflow import State

case_router = APIRouter(tags=["cases"])
CASE_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "No bearer token, or an expired one: POST /auth/token."},
    403: {"description": "The case is another analyst's (only a lead may act on it)."},
    404: {"description": "No case with this id."},
    503: {"description": "The analytics DB holding the cases is unreachable."},
}
HISTORY_ROWS = 20


@contextmanager
def _answers() -> Iterator[None]:
    """Domain errors as HTTP answers."""
    try:
        yield
    except store.CaseNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except workflow.Forbidden as exc:
        raise HTTPException(403, str(exc)) from None
    except OperationalError:
        raise HTTPException(503, "the case store (analytics DB) is unreachable; retry") from None


@case_router.post(
    "/auth/token",
    response_model=TokenResponse,
    responses={401: CASE_ERRORS[401], 503: CASE_ERRORS[503]},
)
def issue_token(body: LoginRequest, engine: CaseStoreDep, settings: SettingsDep) -> TokenResponse:
    """Exchange a username and password for a bearer token."""
    ttl = timedelta(hours=settings.case_token_hours)
    with _answers():
        try:
            token, actor, expires = auth.login(engine, body.username, body.password, ttl)
        except auth.InvalidCredentials as exc:
            raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    return TokenResponse(
        access_token=token, expires_at=expires, username=actor.username, role=actor.role
    )


@case_router.get("/auth/me", response_model=ActorPublic, responses=CASE_ERRORS)
def whoami(actor: ActorDep) -> ActorPublic:
    """The analyst behind the token."""
    return ActorPublic(username=actor.username, role=actor.role)


@case_router.get("/cases", response_model=CasesPublic, responses=CASE_ERRORS)
def list_cases(
    engine: CaseStoreDep,
    actor: ActorDep,
    state: Annotated[list[State] | None, Query(description="Any of these states.")] = None,
    decision: Annotated[str | None, Query(pattern="^(review|decline)$")] = None,
    owner: Annotated[str | None, Query(max_length=64)] = None,
    card_id: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    min_expected_loss: Annotated[float | None, Query(ge=0, le=1e12)] = None,
    sort: Sort = "expected_loss",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> CasesPublic:
    """The queue, highest expected loss first by default, with its oldest active case's age."""
    filters = store.CaseFilter(tuple(state or ()), decision, owner, card_id, min_expected_loss)
    with _answers():
        rows, count = store.list_cases(engine, filters, sort, limit, offset)
        summary = store.queue_summary(engine)
    oldest = summary["oldest_active"]
    age = (datetime.now(UTC) - oldest).total_seconds() if oldest else None
    return CasesPublic(
        data=[CasePublic(**r) for r in rows],
        count=count,
        by_state=summary["by_state"],
        oldest_active_age_seconds=age,
    )


@case_router.get("/cases/{case_id}", response_model=CaseDetail, responses=CASE_ERRORS)
def get_case(
    case_id: str, engine: CaseStoreDep, actor: ActorDep, settings: SettingsDep
) -> CaseDetail:
    """One case: score, rule, reasons, features, notes, and the card's recent history."""
    with _answers():
        case = store.get_case(engine, case_id)
        card_id = case["card_id"]
        card_cases = store.card_cases(engine, card_id) if card_id is not None else []
    transactions: list[dict[str, Any]] = []
    unavailable = None
    if card_id is not None:
        try:
            transactions = history.card_transactions(settings, card_id, HISTORY_ROWS)
        except FileNotFoundError as exc:
            unavailable = str(exc)
    return CaseDetail(
        **case,
        card_cases=[CasePublic(**c) for c in card_cases],
        card_transactions=transactions,
        history_unavailable=unavailable,
    )


def _change(
    engine: Any,
    case_id: str,
    actor: workflow.Actor,
    action: str,
    rule: Callable[[dict[str, Any], datetime], dict[str, Any]],
) -> CasePublic:
    with _answers():
        store.change_case(engine, case_id, actor, action, rule)
        return CasePublic(**store.get_case(engine, case_id))


@case_router.post("/cases/{case_id}/assign", response_model=CasePublic, responses=CASE_ERRORS)
def assign_case(
    case_id: str, body: AssignRequest, engine: CaseStoreDep, actor: ActorDep
) -> CasePublic:
    """Take a case (analysts), or give it to someone (leads)."""
    assignee = body.assignee or actor.username
    return _change(
        engine,
        case_id,
        actor,
        "assign",
        lambda case, now: workflow.assign(case, actor, assignee, now),
    )


@case_router.post("/cases/{case_id}/decision", response_model=CasePublic, responses=CASE_ERRORS)
def decide_case(
    case_id: str,
    body: DecisionRequest,
    engine: CaseStoreDep,
    actor: ActorDep,
    desk: CaseDeskDep,
    snapshot: SnapshotDep,
) -> CasePublic:
    """Close a case as confirmed fraud or legitimate (a label for sources_api), or escalate."""
    decided = _change(
        engine,
        case_id,
        actor,
        f"decide:{body.outcome}",
        lambda case, now: workflow.decide(case, actor, body.outcome, now),
    )
    desk.forward_label(decided.model_dump())
    desk.count_online(decided.model_dump(), snapshot)
    if body.note:
        with _answers():
            store.add_note(engine, case_id, actor, body.note)
    return decided


@case_router.post(
    "/cases/{case_id}/notes", response_model=NotePublic, status_code=201, responses=CASE_ERRORS
)
def add_note(case_id: str, body: NoteRequest, engine: CaseStoreDep, actor: ActorDep) -> NotePublic:
    """Add a note to a case you may act on."""
    with _answers():
        return NotePublic(**store.add_note(engine, case_id, actor, body.text))


@case_router.get("/audit", response_model=AuditPublic, responses=CASE_ERRORS)
def audit_log(
    engine: CaseStoreDep,
    actor: ActorDep,
    case_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPublic:
    """The audit log, newest first (one case's, or everyone's)."""
    with _answers():
        rows = store.audit_entries(engine, case_id, limit)
    return AuditPublic(data=rows, count=len(rows))  # type: ignore[arg-type]
