"""The case store on real SQLite and PostgreSQL: idempotent inserts, queue order and summary,
audited changes, and an audit log that refuses to be rewritten."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from testkit import sample_case

from lakehouse.cases import store, workflow
from lakehouse.cases.schema import case_audit

ALICE = workflow.Actor("alice", "analyst")


def test_a_case_is_stored_once_per_transaction(case_engine: sa.Engine) -> None:
    assert store.insert_cases(case_engine, [sample_case("1"), sample_case("2")], "api_ml") == 2
    assert store.insert_cases(case_engine, [sample_case("1"), sample_case("3")], "api_ml") == 1
    # one batch is one statement: a case id twice in it is still one case
    assert store.insert_cases(case_engine, [sample_case("4"), sample_case("4")], "api_ml") == 1
    _, count = store.list_cases(case_engine, store.CaseFilter())
    assert count == 4
    creates = [e for e in store.audit_entries(case_engine) if e["action"] == "create"]
    assert sorted(e["case_id"] for e in creates) == ["1", "2", "3", "4"]


def test_the_queue_puts_the_largest_expected_loss_first(case_engine: sa.Engine) -> None:
    cases = [sample_case(str(i), expected_loss=loss) for i, loss in enumerate([5, 500, 50])]
    store.insert_cases(case_engine, cases, "api_ml")
    rows, _ = store.list_cases(case_engine, store.CaseFilter(states=("open",)))
    assert [r["expected_loss"] for r in rows] == [500, 50, 5]
    summary = store.queue_summary(case_engine)
    assert summary["by_state"] == {"open": 3}
    assert summary["oldest_active"].tzinfo is not None
    filtered, count = store.list_cases(case_engine, store.CaseFilter(min_expected_loss=40))
    assert count == 2 and {r["case_id"] for r in filtered} == {"1", "2"}


def test_a_change_and_its_audit_entry_are_one_write(case_engine: sa.Engine) -> None:
    store.insert_cases(case_engine, [sample_case("9")], "api_ml")
    after = store.change_case(
        case_engine,
        "9",
        ALICE,
        "assign",
        lambda case, now: workflow.assign(case, ALICE, "alice", now),
    )
    assert (after["state"], after["owner"]) == ("assigned", "alice")
    entry = store.audit_entries(case_engine, "9")[0]
    assert (entry["actor"], entry["action"]) == ("alice", "assign")
    assert entry["before"]["state"] == "open" and entry["after"]["owner"] == "alice"
    bob = workflow.Actor("bob", "analyst")
    with pytest.raises(workflow.Forbidden):
        store.change_case(
            case_engine,
            "9",
            bob,
            "decide:legitimate",
            lambda case, now: workflow.decide(case, bob, "legitimate", now),
        )
    with pytest.raises(workflow.Forbidden):
        store.add_note(case_engine, "9", bob, "not mine")
    assert [e["action"] for e in store.audit_entries(case_engine, "9")] == ["assign", "create"]
    with pytest.raises(store.CaseNotFound):
        store.get_case(case_engine, "nope")


def test_the_audit_log_is_append_only(case_engine: sa.Engine) -> None:
    store.insert_cases(case_engine, [sample_case("5")], "api_ml")
    for statement in (case_audit.update().values(actor="mallory"), case_audit.delete()):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), case_engine.begin() as c:
            c.execute(statement)
    assert store.audit_entries(case_engine)[0]["actor"] == "api_ml"
