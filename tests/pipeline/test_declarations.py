"""The models' declarations (`lakehouse/models/<layer>/<table>.yml`): one home per fact.

The grain's key is declared once: its unique/not-null checks, the catalog's key and grain and
the partials plan's key all come from it. Malformed declarations are refused with the file's
name, never half-read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakehouse import catalog
from lakehouse.models import LAYERS, MODELS_DIR, CheckSpec, declarations
from lakehouse.pipeline import partials
from lakehouse.pipeline.model import Check
from lakehouse.pipeline.models import GENERATED_SQL, MODELS, model_from


def test_key_checks_are_derived_from_the_declared_key() -> None:
    for model in MODELS.values():
        assert model.key, model.name
        unique, *not_null = model.checks[: 1 + len(model.key)]
        assert unique == Check("unique", ", ".join(model.key)), model.name
        assert not_null == [Check("not_null", column) for column in model.key], model.name


def test_the_catalog_takes_grain_key_and_layer_from_the_declaration() -> None:
    for name, model in MODELS.items():
        entry = catalog.entry(name)
        assert (entry.layer, entry.grain, entry.key) == (model.layer, model.grain, model.key)
    assert catalog.entry("silver_cards").folder == "silver/cards"
    assert catalog.entry("dm_client_features").folder == "gold/dm_client_features"
    assert catalog.entry("dm_client_features_partials").folder == "gold/partials/dm_client_features"
    assert set(catalog.DATAMARTS) == {n for n, d in declarations().items() if d.datamart}


@pytest.mark.parametrize("name", catalog.DATAMARTS)
def test_the_partials_plan_merges_on_the_declared_key(name: str) -> None:
    assert partials.plan(name).key == MODELS[name].key


@pytest.mark.parametrize("name", catalog.DATAMARTS)
def test_a_recorded_partials_plan_is_the_parsed_one(name: str) -> None:
    # Stored partials record the parsed plan (as JSON) so a daily run does not parse the SQL.
    record = json.loads(json.dumps(partials.plan(name).record()))
    assert partials.recorded_plan(name, record) == partials.plan(name)
    assert partials.recorded_plan(name, None) == partials.plan(name)  # older partials


def test_every_model_has_its_sql_and_every_sql_its_declaration() -> None:
    for layer in LAYERS:
        sql_files = {path.stem for path in (MODELS_DIR / layer).glob("*.sql")}
        assert sql_files <= {n for n, d in declarations().items() if d.layer == layer}, layer
    for name, declaration in declarations().items():
        assert declaration.sql_path is not None or name in GENERATED_SQL, name


def test_models_come_after_the_models_they_read() -> None:
    names = list(MODELS)
    for position, model in enumerate(MODELS.values()):
        assert all(names.index(i) < position for i in model.inputs if i in MODELS), model.name
    assert [m.layer for m in MODELS.values()] == sorted(
        (m.layer for m in MODELS.values()), key=LAYERS.index
    )


def _models_dir(tmp_path: Path, silver: dict[str, str]) -> Path:
    for layer in LAYERS:
        (tmp_path / layer).mkdir(parents=True)
    (tmp_path / "check_groups.yml").write_text("positive:\n  - expression: n > 0\n")
    for name, text in silver.items():
        (tmp_path / "silver" / f"{name}.yml").write_text(text)
        (tmp_path / "silver" / f"{name}.sql").write_text(f"SELECT 1 AS n -- {name}")
    return tmp_path


_GOOD = "description: d\ngrain: one row per n\nkey: [n]\ninputs: [bronze_x]\n"


def test_a_declaration_reads_groups_lists_and_vocabularies(tmp_path: Path) -> None:
    checks = (
        "checks:\n  - group: positive\n  - not_null: [a, b]\n"
        "  - accepted_values: {column: card_brand, values: card_brands}\n"
        "  - accepted_values: {column: label, values: [0, 1]}\n"
    )
    (declaration,) = declarations(_models_dir(tmp_path, {"t": _GOOD + checks})).values()
    assert declaration.checks == (
        CheckSpec("unique", "n"), CheckSpec("not_null", "n"),
        CheckSpec("expression", None, "n > 0"),
        CheckSpec("not_null", "a"), CheckSpec("not_null", "b"),
        CheckSpec("accepted_values", "card_brand", "card_brands"),
        CheckSpec("accepted_values", "label", [0, 1]),
    )  # fmt: skip
    model = model_from(declaration)
    assert model.checks[-1] == Check("accepted_values", "label", (0, 1))
    assert "Visa" in model.checks[-2].arg
    assert (model.sql, model.key, model.grain) == ("SELECT 1 AS n -- t", ("n",), "one row per n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_GOOD + "colour: red\n", r"silver/t.yml: missing \[\], unknown \['colour'\]"),
        ("description: d\nkey: [n]\ninputs: [x]\n", r"missing \['grain'\]"),
        (_GOOD + "checks:\n  - group: nothing\n", "no check group 'nothing'"),
        (_GOOD + "checks:\n  - {not_null: a, unique: b}\n", "one `kind: argument` entry"),
        (_GOOD + "checks:\n  - accepted_values: [a]\n", "takes {column: ..., values: ...}"),
        (_GOOD.replace("key: [n]", "key: []"), "key: expected a name or a list of names"),
    ],
)
def test_malformed_declarations_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        declarations(_models_dir(tmp_path, {"t": text}))


def test_unknown_vocabularies_and_check_kinds_are_refused(tmp_path: Path) -> None:
    for check, message in (
        ("accepted_values: {column: c, values: colours}", "no vocabulary 'colours'"),
        ("exists: c", "unknown check kind 'exists'"),
    ):
        folder = tmp_path / check.split(":")[0]
        found = declarations(_models_dir(folder, {"t": f"{_GOOD}checks:\n  - {check}\n"}))
        with pytest.raises(ValueError, match=message):
            model_from(found["t"])


def test_models_reading_each_other_in_a_cycle_are_refused(tmp_path: Path) -> None:
    cycle = {
        "a": _GOOD.replace("[bronze_x]", "[b]"),
        "b": _GOOD.replace("[bronze_x]", "[a]"),
    }
    with pytest.raises(ValueError, match=r"in a cycle: \['a', 'b'\]"):
        declarations(_models_dir(tmp_path, cycle))
