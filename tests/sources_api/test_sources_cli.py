"""`lakehouse sources load|split` through the real `lakehouse` command (typer CliRunner)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import sqlalchemy as sa
from sources_samples import transaction_lines, write_csv
from testkit import free_port
from typer.testing import CliRunner

from lakehouse.cli import app
from lakehouse.config import get_settings
from lakehouse.sources.schema import source_engine, table_stats

runner = CliRunner()


def _text(result) -> str:  # type: ignore[no-untyped-def]
    # Rich wraps long lines to the terminal width; compare with whitespace collapsed.
    return " ".join(result.output.split())


def _stats(url: str) -> dict:
    engine = source_engine(url)
    try:
        return table_stats(engine)
    finally:
        engine.dispose()


def test_split_then_load_replays_history(isolated_settings: Path, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "transactions_data.csv",
                       transaction_lines(1, 60, date(2010, 1, 1), per_day=1))
    out = tmp_path / "batches"
    split = runner.invoke(
        app, ["sources", "split", str(source), "--by", "month", "--out", str(out)]
    )
    assert split.exit_code == 0, split.output
    assert "transactions_2010-01.csv" in split.output and "60" in split.output
    files = sorted(out.glob("*.csv"))
    assert len(files) == 3  # 60 days from 2010-01-01: January, February, March 1st
    load = runner.invoke(app, ["sources", "load", *map(str, files)])
    assert load.exit_code == 0, load.output
    assert "2010-01-31" in load.output and "2010-02-28" in load.output
    stats = _stats(get_settings().source_db_url)
    assert stats["rows"] == 60
    assert [b["situation_date"] for b in stats["batches"]] == [
        date(2010, 1, 31), date(2010, 2, 28), date(2010, 3, 1)]
    again = runner.invoke(app, ["sources", "load", str(files[0])])
    assert again.exit_code == 0
    assert _stats(get_settings().source_db_url)["rows"] == 60


def test_split_by_parts(isolated_settings: Path, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "t.csv", transaction_lines(1, 10, date(2010, 1, 1)))
    out = tmp_path / "parts"
    result = runner.invoke(app, ["sources", "split", str(source), "--by", "parts", "3",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["part_001.csv", "part_002.csv",
                                                      "part_003.csv"]
    option = runner.invoke(app, ["sources", "split", str(source), "--parts", "2",
                                 "--out", str(tmp_path / "two")])
    assert option.exit_code == 0, option.output
    assert len(list((tmp_path / "two").iterdir())) == 2
    missing_n = runner.invoke(app, ["sources", "split", str(source), "--by", "parts",
                                    "--out", str(out)])
    assert missing_n.exit_code == 1 and "--by parts 12" in _text(missing_n)
    mixed = runner.invoke(app, ["sources", "split", str(source), "--by", "day", "--parts", "2",
                                "--out", str(out)])
    assert mixed.exit_code == 1 and "only goes with --by parts" in _text(mixed)


def test_invalid_rows_exit_1_and_write_nothing(isolated_settings: Path, tmp_path: Path) -> None:
    lines = transaction_lines(1, 5, date(2010, 1, 1))
    lines[1] = lines[1].replace("Swipe Transaction", "Tap")
    bad = write_csv(tmp_path / "bad.csv", lines)
    result = runner.invoke(app, ["sources", "load", str(bad)])
    assert result.exit_code == 1
    assert "use_chip" in _text(result) and "'Tap'" in _text(result)
    assert "nothing written" in _text(result)
    assert _stats(get_settings().source_db_url)["rows"] == 0


def test_date_option_and_conflict(isolated_settings: Path, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'other.db'}"
    first = write_csv(tmp_path / "a.csv", transaction_lines(1, 3, date(2010, 1, 1)))
    ok = runner.invoke(app, ["sources", "load", str(first), "--date", "2010-05-01",
                             "--db-url", db_url])
    assert ok.exit_code == 0, ok.output
    second = write_csv(tmp_path / "b.csv", transaction_lines(10, 3, date(2010, 1, 1)))
    refused = runner.invoke(app, ["sources", "load", str(second), "--date", "2010-04-30",
                                  "--db-url", db_url])
    assert refused.exit_code == 1
    assert "only move forward" in _text(refused)
    assert _stats(db_url)["rows"] == 3
    with source_engine(db_url).connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM transaction_data")).scalar() == 3


def test_bad_arguments_say_what_is_wrong(isolated_settings: Path, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["sources", "load", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 1 and "no such file" in _text(missing)
    bad_date = runner.invoke(app, ["sources", "load", str(tmp_path), "--date", "31/12/2010"])
    assert bad_date.exit_code == 2 and "2019-10-31" in _text(bad_date)
    bad_by = runner.invoke(app, ["sources", "split", str(tmp_path / "x.csv"), "--by", "week",
                                 "--out", str(tmp_path)])
    assert bad_by.exit_code == 1 and "month, day or parts" in _text(bad_by)
    no_file = runner.invoke(app, ["sources", "split", str(tmp_path / "x.csv"), "--out",
                                  str(tmp_path / "o")])
    assert no_file.exit_code == 1 and "does not exist" in _text(no_file)


def test_bad_db_url_says_what_to_use(isolated_settings: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", transaction_lines(1, 3, date(2010, 1, 1)))
    result = runner.invoke(app, ["sources", "load", str(path), "--db-url", "oracle://x@y/z"])
    assert result.exit_code == 1
    assert "SQLite or PostgreSQL" in _text(result)


def test_load_failures_are_messages_not_tracebacks(
    isolated_settings: Path, tmp_path: Path
) -> None:
    lines = transaction_lines(1, 3, date(2010, 1, 1))
    lines[2] = lines[2].replace("2010-01-01", "9999-12-31")
    far = runner.invoke(app, ["sources", "load", str(write_csv(tmp_path / "far.csv", lines))])
    assert far.exit_code == 1 and isinstance(far.exception, SystemExit)
    assert "outside the accepted range" in _text(far) and "Traceback" not in far.output
    good = write_csv(tmp_path / "good.csv", transaction_lines(10, 3, date(2010, 1, 1)))
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    unreachable = runner.invoke(app, ["sources", "load", str(good), "--db-url", down])
    assert unreachable.exit_code == 1 and isinstance(unreachable.exception, SystemExit)
    assert "the source DB failed" in _text(unreachable) and "Traceback" not in unreachable.output
    assert runner.invoke(app, ["sources", "load", str(good)]).exit_code == 0
