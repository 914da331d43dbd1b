"""The case workflow: states, roles, who may do what, and what each action changes.

Pure functions over a case as a dict (a row of `cases`); `store.py` runs them inside the
transaction that reads the case, writes the change and appends the audit entry. A case is
`open` when created, `assigned` when an analyst takes it, and ends `confirmed_fraud` or
`legitimate`, or goes to the leads as `escalated`. The rules:

- an analyst acts only on open cases and on cases assigned to them; a lead acts on any case;
- an analyst assigns cases to themselves only; a lead assigns to anyone;
- escalated and closed cases are decided again by a lead only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

State = Literal["open", "assigned", "confirmed_fraud", "legitimate", "escalated"]
Outcome = Literal["confirmed_fraud", "legitimate", "escalated"]
Role = Literal["analyst", "lead"]
STATES: tuple[State, ...] = ("open", "assigned", "confirmed_fraud", "legitimate", "escalated")
OUTCOMES: tuple[Outcome, ...] = ("confirmed_fraud", "legitimate", "escalated")
ROLES: tuple[Role, ...] = ("analyst", "lead")
CLOSED: frozenset[str] = frozenset({"confirmed_fraud", "legitimate"})
# Outcomes that are a fraud label for the transaction (escalated is not an outcome yet).
LABELS: dict[str, int] = {"confirmed_fraud": 1, "legitimate": 0}


@dataclass(frozen=True)
class Actor:
    """An authenticated analyst or lead."""

    username: str
    role: Role

    @property
    def is_lead(self) -> bool:
        """True for a lead, who may act on any case and reopen closed ones."""
        return self.role == "lead"


class Forbidden(PermissionError):
    """The actor may not do this to this case (403); the message says why."""


def check_may_act(case: dict[str, Any], actor: Actor) -> None:
    """Raise `Forbidden` unless the case is the actor's, unassigned, or the actor is a lead.

    Args:
        case: the case row (`case_id`, `owner`).
        actor: who wants to act on it.

    Raises:
        Forbidden: the case is assigned to another analyst.
    """
    owner = case.get("owner")
    if actor.is_lead or owner in (None, actor.username):
        return
    raise Forbidden(f"case {case['case_id']} is assigned to {owner}: only they or a lead may act")


def assign(case: dict[str, Any], actor: Actor, assignee: str, now: datetime) -> dict[str, Any]:
    """The columns an assignment changes.

    Args:
        case: the case row (`case_id`, `owner`, `state`).
        actor: who assigns.
        assignee: the username the case goes to.
        now: the time of the assignment.

    Returns:
        The new `state` ("assigned"), `owner`, `assigned_at` and `updated_at`.

    Raises:
        Forbidden: another analyst's case, someone else as assignee, or a closed case.
    """
    check_may_act(case, actor)
    if assignee != actor.username and not actor.is_lead:
        raise Forbidden("an analyst assigns cases to themselves only; a lead assigns to anyone")
    if case["state"] in CLOSED and not actor.is_lead:
        raise Forbidden(f"case {case['case_id']} is closed ({case['state']}): a lead may reopen it")
    return {"state": "assigned", "owner": assignee, "assigned_at": now, "updated_at": now}


def decide(case: dict[str, Any], actor: Actor, outcome: Outcome, now: datetime) -> dict[str, Any]:
    """The columns a decision changes; an open case becomes the decider's.

    Args:
        case: the case row (`case_id`, `owner`, `state`).
        actor: who decides.
        outcome: the decision, which becomes the case's state.
        now: the time of the decision.

    Returns:
        The new `state`, `decided_by`, `decided_at` and `updated_at`, plus `owner` and
        `assigned_at` when the case had no owner.

    Raises:
        Forbidden: another analyst's case, or an escalated/closed case decided by an analyst.
    """
    check_may_act(case, actor)
    if (case["state"] in CLOSED or case["state"] == "escalated") and not actor.is_lead:
        raise Forbidden(
            f"case {case['case_id']} is {case['state']}: only a lead may decide it again"
        )
    changes: dict[str, Any] = {
        "state": outcome,
        "decided_by": actor.username,
        "decided_at": now,
        "updated_at": now,
    }
    if case.get("owner") is None:
        changes.update(owner=actor.username, assigned_at=now)
    return changes
