"""`lakehouse generate` from the command line: help, summary, refusal to overwrite, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lakehouse import formats
from lakehouse.datagen import checker
from lakehouse.datagen import cli as datagen_cli

SMALL = ["--clients", "10", "--transactions", "3000", "--start", "2019-01-01",
         "--end", "2019-03-31"]


@pytest.fixture
def app() -> typer.Typer:
    # The command alone, as lakehouse/cli.py registers it (without loading other areas).
    application = typer.Typer()
    application.command("generate")(datagen_cli.generate)
    application.command("noop", hidden=True)(lambda: None)
    return application


def invoke(app: typer.Typer, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["generate", *args])


def test_help_lists_every_option(app: typer.Typer) -> None:
    result = invoke(app, "--help")
    assert result.exit_code == 0
    for option in ("--out", "--clients", "--transactions", "--seed", "--start", "--end",
                   "--fraud-multiplier", "--force"):
        assert option in result.output


def test_generates_and_prints_a_summary(app: typer.Typer, tmp_path: Path) -> None:
    result = invoke(app, "--out", str(tmp_path), *SMALL)
    assert result.exit_code == 0, result.output
    assert "transactions" in result.output and "3,000" in result.output
    assert checker.check_raw_dir(tmp_path) == []


def test_default_folder_is_the_settings_raw_dir(app: typer.Typer,
                                                isolated_settings: Path) -> None:
    result = invoke(app, *SMALL)
    assert result.exit_code == 0, result.output
    assert (isolated_settings / "raw" / formats.TRANSACTIONS_FILE).is_file()


def test_refuses_to_overwrite_without_force(app: typer.Typer, tmp_path: Path) -> None:
    assert invoke(app, "--out", str(tmp_path), *SMALL).exit_code == 0
    before = (tmp_path / formats.TRANSACTIONS_FILE).read_bytes()
    refused = invoke(app, "--out", str(tmp_path), *SMALL, "--seed", "9")
    assert refused.exit_code == 1
    assert "--force" in refused.output
    assert (tmp_path / formats.TRANSACTIONS_FILE).read_bytes() == before
    forced = invoke(app, "--out", str(tmp_path), *SMALL, "--seed", "9", "--force")
    assert forced.exit_code == 0
    assert (tmp_path / formats.TRANSACTIONS_FILE).read_bytes() != before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2019-02-30"], "not a date"),
        (["--start", "2019-05-01", "--end", "2019-01-01"], "before start"),
        (["--clients", "0"], "clients"),
    ],
)
def test_bad_options_exit_non_zero_with_a_message(app: typer.Typer, tmp_path: Path,
                                                  args: list[str], message: str) -> None:
    result = invoke(app, "--out", str(tmp_path), *args)
    assert result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / formats.TRANSACTIONS_FILE).exists()
