"""Queries of the case queue: insert cases, list and read them, and every audited write.

Cases arrive from the outbox worker (`insert_cases`, idempotent by `case_id`); the case API
reads them (`list_cases`, `get_case`, `card_cases`, `audit_entries`) and changes them through
`change_case` and `add_note`, which read the case, apply a rule of `workflow.py`, write the
change and append the audit entry (who, when, action, before, after) in ONE transaction: a
write without its audit entry cannot happen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from lakehouse.cases.schema import case_audit, case_notes, cases
from lakehouse.cases.workflow import Actor, check_may_act

SORTS = {
    "expected_loss": (cases.c.expected_loss.desc(), cases.c.created_at),
    "oldest": (cases.c.created_at, cases.c.case_id),
    "newest": (cases.c.created_at.desc(), cases.c.case_id),
    "probability": (cases.c.fraud_probability.desc(), cases.c.created_at),
}
ACTIVE_STATES = ("open", "assigned", "escalated")


class CaseNotFound(LookupError):
    """No case has this id (404)."""


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without a zone; every stored time is UTC.

    Args:
        value: a stored time, with or without a zone.

    Returns:
        The same instant with a zone (UTC when it had none); None stays None.
    """
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _row(row: sa.Row[Any]) -> dict[str, Any]:
    out = dict(row._mapping)
    return {k: utc(v) if isinstance(v, datetime) else v for k, v in out.items()}


def _insert_ignoring_duplicates(connection: sa.Connection, table: sa.Table) -> Any:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    # RETURNING, not rowcount: psycopg reports -1 for a skipped row.
    return (
        dialect.insert(table)
        .on_conflict_do_nothing()
        .returning(table.c[table.primary_key.columns.keys()[0]])
    )


def insert_cases(engine: sa.Engine, records: Sequence[dict[str, Any]], actor: str) -> int:
    """Insert new cases (state `open`); a case id already stored is skipped.

    Each new case gets a `create` audit entry by `actor` (the scoring service).

    Args:
        engine: the analytics DB holding the case tables.
        records: the cases, as the outbox holds them.
        actor: who creates them (audited).

    Returns:
        How many were new.
    """
    if not records:
        return 0
    now = datetime.now(UTC)
    rows: dict[str, dict[str, Any]] = {}  # by case id: a repeated id is the first one's
    for record in records:
        row = {**record, "state": "open", "owner": None, "created_at": now, "updated_at": now}
        if isinstance(row["scored_at"], str):  # from the outbox's JSON
            row["scored_at"] = datetime.fromisoformat(row["scored_at"])
        rows.setdefault(row["case_id"], row)
    with engine.begin() as connection:
        # One statement for the batch (a multi-row INSERT ... RETURNING the ids it inserted),
        # one for their audit entries: not two round trips per case.
        statement = _insert_ignoring_duplicates(connection, cases)
        inserted = {found[0] for found in connection.execute(statement, list(rows.values()))}
        new = [row for case_id, row in rows.items() if case_id in inserted]
        if new:
            connection.execute(
                case_audit.insert(),
                [
                    {"at": now, "actor": actor, "action": "create", "case_id": row["case_id"],
                     "before": None, "after": _jsonable(row)}
                    for row in new
                ],
            )  # fmt: skip
    return len(new)


@dataclass(frozen=True)
class CaseFilter:
    """What the queue shows: states, decision, owner, card, a floor on the expected loss."""

    states: tuple[str, ...] = ()
    decision: str | None = None
    owner: str | None = None
    card_id: int | None = None
    min_expected_loss: float | None = None


def _where(filters: CaseFilter) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = []
    if filters.states:
        clauses.append(cases.c.state.in_(filters.states))
    if filters.decision:
        clauses.append(cases.c.decision == filters.decision)
    if filters.owner:
        clauses.append(cases.c.owner == filters.owner)
    if filters.card_id is not None:
        clauses.append(cases.c.card_id == filters.card_id)
    if filters.min_expected_loss is not None:
        clauses.append(cases.c.expected_loss >= filters.min_expected_loss)
    return clauses


def list_cases(
    engine: sa.Engine,
    filters: CaseFilter,
    sort: str = "expected_loss",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """One page of matching cases in `sort` order, and how many match in all.

    Args:
        engine: the analytics DB holding the case tables.
        filters: states, decision, owner, card, minimum expected loss.
        sort: a key of `SORTS`.
        limit: the page size.
        offset: rows skipped before the page.

    Returns:
        `(cases without their features and request, total matching)`.
    """
    where = _where(filters)
    light = [c for c in cases.c if c.name not in {"features", "request"}]
    query = sa.select(*light).where(*where).order_by(*SORTS[sort]).limit(limit).offset(offset)
    with engine.connect() as connection:
        rows = [_row(r) for r in connection.execute(query)]
        count = connection.execute(sa.select(sa.func.count()).select_from(cases).where(*where))
        return rows, int(count.scalar_one())


def queue_summary(engine: sa.Engine) -> dict[str, Any]:
    """Active cases by state and the creation time of the oldest one still active.

    Args:
        engine: the analytics DB holding the case tables.

    Returns:
        `{"by_state": {state: count}, "oldest_active": datetime | None}`.
    """
    with engine.connect() as connection:
        by_state = dict(
            connection.execute(
                sa.select(cases.c.state, sa.func.count()).group_by(cases.c.state)
            ).all()
        )
        oldest = connection.execute(
            sa.select(sa.func.min(cases.c.created_at)).where(cases.c.state.in_(ACTIVE_STATES))
        ).scalar_one()
    if isinstance(oldest, str):  # SQLite's MIN() returns the stored text, not a datetime
        oldest = datetime.fromisoformat(oldest)
    return {"by_state": {str(k): int(v) for k, v in by_state.items()}, "oldest_active": utc(oldest)}


def get_case(engine: sa.Engine, case_id: str) -> dict[str, Any]:
    """One case with its notes, oldest first.

    Args:
        engine: the analytics DB holding the case tables.
        case_id: the case.

    Returns:
        Every column of the case, plus `notes`.

    Raises:
        CaseNotFound: no such case.
    """
    with engine.connect() as connection:
        found = connection.execute(sa.select(cases).where(cases.c.case_id == case_id)).first()
        if found is None:
            raise CaseNotFound(f"no case {case_id!r}")
        notes = connection.execute(
            sa.select(case_notes).where(case_notes.c.case_id == case_id).order_by(case_notes.c.id)
        )
        return {**_row(found), "notes": [_row(n) for n in notes]}


def card_cases(engine: sa.Engine, card_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The card's most recent cases (its history as the queue saw it).

    Args:
        engine: the analytics DB holding the case tables.
        card_id: the card.
        limit: at most this many, newest first.

    Returns:
        The cases, as `list_cases` returns them.
    """
    rows, _ = list_cases(engine, CaseFilter(card_id=card_id), sort="newest", limit=limit)
    return rows


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def _audit(
    connection: sa.Connection,
    actor: str,
    action: str,
    case_id: str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    connection.execute(
        case_audit.insert().values(
            at=datetime.now(UTC),
            actor=actor,
            action=action,
            case_id=case_id,
            before=before,
            after=after,
        )
    )


def _locked_case(connection: sa.Connection, case_id: str) -> dict[str, Any]:
    # FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers.
    query = sa.select(cases).where(cases.c.case_id == case_id).with_for_update()
    found = connection.execute(query).first()
    if found is None:
        raise CaseNotFound(f"no case {case_id!r}")
    return _row(found)


WORKFLOW_COLUMNS = ("state", "owner", "assigned_at", "decided_by", "decided_at", "updated_at")


def change_case(
    engine: sa.Engine,
    case_id: str,
    actor: Actor,
    action: str,
    rule: Callable[[dict[str, Any], datetime], dict[str, Any]],
) -> dict[str, Any]:
    """Apply `rule(case, now)` (a `workflow` function) and audit it, in one transaction.

    Args:
        engine: the analytics DB holding the case tables.
        case_id: the case.
        actor: who acts (audited; the rule checks what they may do).
        action: the audit entry's action name.
        rule: `(case, now) -> changed columns`; raises to refuse.

    Returns:
        The case after the change.

    Raises:
        CaseNotFound: no such case.
        workflow.Forbidden: the rule refused.
    """
    with engine.begin() as connection:
        case = _locked_case(connection, case_id)
        changes = rule(case, datetime.now(UTC))
        connection.execute(cases.update().where(cases.c.case_id == case_id).values(**changes))
        after = {**case, **changes}
        _audit(
            connection,
            actor.username,
            action,
            case_id,
            _jsonable({k: case[k] for k in WORKFLOW_COLUMNS}),
            _jsonable({k: after[k] for k in WORKFLOW_COLUMNS}),
        )
    return after


def add_note(engine: sa.Engine, case_id: str, actor: Actor, text: str) -> dict[str, Any]:
    """Append a note to a case the actor may act on; audited like every write.

    Args:
        engine: the analytics DB holding the case tables.
        case_id: the case.
        actor: the author.
        text: the note (already checked for control characters).

    Returns:
        The stored note with its id.

    Raises:
        CaseNotFound: no such case.
        workflow.Forbidden: the actor may not act on it.
    """
    with engine.begin() as connection:
        case = _locked_case(connection, case_id)
        check_may_act(case, actor)
        note = {
            "case_id": case_id,
            "author": actor.username,
            "text": text,
            "created_at": datetime.now(UTC),
        }
        note_id = connection.execute(case_notes.insert().values(**note)).inserted_primary_key[0]
        _audit(connection, actor.username, "note", case_id, None, _jsonable(note))
    return {"id": note_id, **note}


def record_audit(engine: sa.Engine, actor: str, action: str, after: dict[str, Any]) -> None:
    """An audit entry for a write that is not about a case (e.g. an analyst added).

    Args:
        engine: the analytics DB holding the case tables.
        actor: who wrote.
        action: what they did.
        after: the written values.
    """
    with engine.begin() as connection:
        _audit(connection, actor, action, None, None, _jsonable(after))


def audit_entries(
    engine: sa.Engine, case_id: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The latest audit entries, newest first, for one case or all.

    Args:
        engine: the analytics DB holding the case tables.
        case_id: one case's entries only (None: all).
        limit: at most this many.

    Returns:
        The entries (who, when, action, before, after).
    """
    query = sa.select(case_audit).order_by(case_audit.c.id.desc()).limit(limit)
    if case_id is not None:
        query = query.where(case_audit.c.case_id == case_id)
    with engine.connect() as connection:
        return [_row(r) for r in connection.execute(query)]


def decision_counts(engine: sa.Engine) -> list[tuple[str, str, int]]:
    """(analyst, final state, cases) for every decided case: the analysts' throughput.

    Args:
        engine: the analytics DB holding the case tables.

    Returns:
        One `(analyst, state, count)` per pair.
    """
    query = (
        sa.select(cases.c.decided_by, cases.c.state, sa.func.count())
        .where(cases.c.decided_by.is_not(None))
        .group_by(cases.c.decided_by, cases.c.state)
    )
    with engine.connect() as connection:
        return [(str(a), str(s), int(n)) for a, s, n in connection.execute(query)]


def reviews_since(engine: sa.Engine, since: datetime) -> int:
    """Review cases created since `since` (what the analysts' daily capacity is spent on).

    Args:
        engine: the analytics DB holding the case tables.
        since: the start of the period.

    Returns:
        How many.
    """
    query = (
        sa.select(sa.func.count())
        .select_from(cases)
        .where(cases.c.decision == "review", cases.c.created_at >= since)
    )
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())
