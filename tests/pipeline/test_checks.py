"""Declared data checks: they pass on real model outputs and catch crafted violations with a
message that names the table, the rule, how many rows break it and a few of them. Also the
`Model` / `run_model` guards (parameters, inputs) the runner relies on."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.pipeline.checks import DataCheckError, assert_checks, run_checks
from lakehouse.pipeline.model import Check, Model
from lakehouse.pipeline.models import MODELS, run_model

HOURS = MODELS["dm_time_of_day_fraud"]
CLEAN_HOURS = pa.table(
    {
        "hour": pa.array([0, 1, 2], pa.int32()),
        "tx_count": [10, 5, 1],
        "fraud_count": [1, 0, 0],
        "drop_count": [3, 2, 0],
        "labeled_count": [4, 2, 0],
        "fraud_rate": [0.25, 0.0, None],
        "drop_rate": [0.75, 1.0, None],
    }
)


@pytest.fixture(scope="module")
def engine() -> DuckDBEngine:
    return DuckDBEngine(threads=1)


def _with(table: pa.Table, column: str, values: list) -> pa.Table:
    index = table.column_names.index(column)
    return table.set_column(index, column, pa.array(values, table.schema.field(column).type))


def test_a_clean_datamart_passes(engine: DuckDBEngine) -> None:
    assert run_checks(HOURS, CLEAN_HOURS, engine) == []
    assert_checks(HOURS, CLEAN_HOURS, engine)


def test_duplicate_key_is_caught_with_the_key_shown(engine: DuckDBEngine) -> None:
    failures = run_checks(HOURS, _with(CLEAN_HOURS, "hour", [0, 1, 1]), engine)
    assert [failure.check.kind for failure in failures] == ["unique"]
    assert failures[0].failing == 2
    assert failures[0].examples == [{"hour": 1, "copies": 2}]
    assert "dm_time_of_day_fraud: 2 row(s) violate unique(hour)" in failures[0].message


def test_null_key_and_unaccepted_value_are_caught(engine: DuckDBEngine) -> None:
    failures = run_checks(HOURS, _with(CLEAN_HOURS, "hour", [None, 1, 24]), engine)
    kinds = {failure.check.kind: failure for failure in failures}
    assert set(kinds) == {"not_null", "accepted_values"}
    assert kinds["accepted_values"].examples == [{"hour": 24}]
    assert "hour in (0, 1," in kinds["accepted_values"].message


def test_counts_that_do_not_add_up_are_caught(engine: DuckDBEngine) -> None:
    broken = _with(CLEAN_HOURS, "labeled_count", [5, 2, 0])
    failures = run_checks(HOURS, broken, engine)
    messages = [failure.message for failure in failures]
    assert len(messages) == 1
    assert "fraud_count + drop_count = labeled_count" in messages[0]
    # The example shows exactly the columns the rule reads.
    assert failures[0].examples == [{"fraud_count": 1, "drop_count": 3, "labeled_count": 5}]


def test_rates_outside_zero_one_and_null_rules(engine: DuckDBEngine) -> None:
    broken = _with(CLEAN_HOURS, "fraud_rate", [1.5, None, None])
    described = {failure.check.describe() for failure in run_checks(HOURS, broken, engine)}
    assert described == {"fraud_rate BETWEEN 0 AND 1", "(labeled_count = 0) = (fraud_rate IS NULL)"}


def test_empty_table_fails_the_row_count(engine: DuckDBEngine) -> None:
    failures = run_checks(HOURS, CLEAN_HOURS.slice(0, 0), engine)
    assert [failure.message for failure in failures] == [
        "dm_time_of_day_fraud: expected at least 1 rows, found 0"
    ]


def test_assert_checks_lists_every_failure(engine: DuckDBEngine) -> None:
    broken = _with(_with(CLEAN_HOURS, "hour", [0, 0, 25]), "tx_count", [10, 5, 0])
    with pytest.raises(DataCheckError) as caught:
        assert_checks(HOURS, broken, engine)
    error = caught.value
    assert {failure.check.kind for failure in error.failures} == {
        "unique",
        "accepted_values",
        "expression",
    }
    text = str(error)
    assert "data check(s) failed on dm_time_of_day_fraud; the table was not written" in text
    assert "unique(hour)" in text and "hour in (" in text and "tx_count > 0" in text


def test_silver_label_outside_zero_one_is_caught(engine: DuckDBEngine) -> None:
    model = Model(
        "labels", "silver", ("x",), "SELECT 1", "one row per id", "",
        (Check("accepted_values", "label", (0, 1)), Check("unique", "id, day")),
    )  # fmt: skip
    table = pa.table({"id": [1, 1, 2], "day": [1, 1, 1], "label": [0, None, 2]})
    failures = run_checks(model, table, engine)
    assert [failure.failing for failure in failures] == [1, 2]
    assert failures[0].examples == [{"label": 2}]
    assert failures[1].examples == [{"id": 1, "day": 1, "copies": 2}]


def test_string_values_are_quoted_safely(engine: DuckDBEngine) -> None:
    model = Model(
        "names", "silver", ("x",), "SELECT 1", "g", "",
        (Check("accepted_values", "name", ("O'Brien", "Debit (Prepaid)")),),
    )  # fmt: skip
    table = pa.table({"name": ["O'Brien", "Debit (Prepaid)", "x'); DROP TABLE y; --"]})
    [failure] = run_checks(model, table, engine)
    assert failure.examples == [{"name": "x'); DROP TABLE y; --"}]


def test_default_engine_is_used_without_one() -> None:
    assert run_checks(HOURS, CLEAN_HOURS) == []


@pytest.mark.parametrize(
    ("kind", "column", "arg", "message"),
    [
        ("exists", "x", None, "unknown check kind"),
        ("unique", None, None, "needs a column"),
        ("accepted_values", "x", "a", "tuple"),
        ("expression", None, "", "SQL boolean expression"),
        ("row_count_min", None, "1", "integer"),
    ],
)
def test_malformed_checks_are_refused(
    kind: str, column: str | None, arg: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Check(kind, column, arg)


def test_every_model_declares_key_checks() -> None:
    for model in MODELS.values():
        kinds = {check.kind for check in model.checks}
        assert {"unique", "not_null"} <= kinds, model.name
        assert model.grain.startswith("one row per"), model.name


def _delay_model() -> Model:
    return Model(
        "delayed", "gold", ("t",), "SELECT x FROM t WHERE x > {label_delay_seconds}", "g", "",
        (), ("label_delay_seconds",),
    )  # fmt: skip


def test_parameters_are_substituted_as_numbers_only(engine: DuckDBEngine) -> None:
    model = _delay_model()
    assert model.render_sql({"label_delay_seconds": 86400}).endswith("x > 86400")
    assert model.render_sql({"label_delay_seconds": 1.5, "unused": 3}).endswith("x > 1.5")
    with pytest.raises(ValueError, match="needs parameter 'label_delay_seconds'"):
        model.render_sql({})
    for bad in ("1; DROP TABLE t", True, float("nan")):
        with pytest.raises(ValueError, match="label_delay_seconds"):
            model.render_sql({"label_delay_seconds": bad})  # type: ignore[dict-item]


def test_run_model_names_missing_inputs_and_unknown_models(engine: DuckDBEngine) -> None:
    with pytest.raises(
        ValueError, match=r"dm_client_features needs input\(s\) \['silver_transactions'\]"
    ):
        run_model(engine, "dm_client_features", {"silver": CLEAN_HOURS})
    with pytest.raises(KeyError, match="no SQL model named 'dm_nothing'"):
        run_model(engine, "dm_nothing", {})


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_checks_query_is_portable_to_spark(name: str) -> None:
    import sqlglot

    from lakehouse.pipeline.checks import _counts_sql

    assert sqlglot.parse_one(_counts_sql(MODELS[name].checks), read="spark") is not None
