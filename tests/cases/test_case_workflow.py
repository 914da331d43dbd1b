"""The case workflow's rules: who may assign, decide and note, and what each changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lakehouse.cases.workflow import Actor, Forbidden, assign, check_may_act, decide

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ALICE, BOB, LENA = Actor("alice", "analyst"), Actor("bob", "analyst"), Actor("lena", "lead")


def _case(state: str = "open", owner: str | None = None) -> dict:
    return {"case_id": "1", "state": state, "owner": owner}


def test_an_analyst_takes_an_open_case() -> None:
    changes = assign(_case(), ALICE, "alice", NOW)
    assert changes == {"state": "assigned", "owner": "alice", "assigned_at": NOW, "updated_at": NOW}


def test_an_analyst_cannot_touch_another_analysts_case() -> None:
    mine = _case("assigned", "alice")
    with pytest.raises(Forbidden, match="assigned to alice"):
        assign(mine, BOB, "bob", NOW)
    with pytest.raises(Forbidden):
        decide(mine, BOB, "legitimate", NOW)
    with pytest.raises(Forbidden):
        check_may_act(mine, BOB)


def test_an_analyst_assigns_to_themselves_only_and_a_lead_to_anyone() -> None:
    with pytest.raises(Forbidden, match="themselves"):
        assign(_case(), ALICE, "bob", NOW)
    assert assign(_case("assigned", "alice"), LENA, "bob", NOW)["owner"] == "bob"


def test_deciding_an_open_case_makes_it_yours() -> None:
    changes = decide(_case(), ALICE, "confirmed_fraud", NOW)
    assert changes["state"] == "confirmed_fraud"
    assert changes["owner"] == changes["decided_by"] == "alice"


@pytest.mark.parametrize("state", ["escalated", "confirmed_fraud", "legitimate"])
def test_escalated_and_closed_cases_are_for_leads(state: str) -> None:
    case = _case(state, "alice")
    with pytest.raises(Forbidden, match="lead"):
        decide(case, ALICE, "legitimate", NOW)
    assert decide(case, LENA, "legitimate", NOW)["decided_by"] == "lena"
