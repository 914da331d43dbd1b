"""`split_csv`: every row in exactly one file, headers kept, files in replay order."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from sources_samples import HEADER, transaction_lines, write_csv

from lakehouse.sources.split import SplitError, split_csv, split_transactions


@pytest.fixture
def source(tmp_path: Path) -> Path:
    # 100 rows over 3 months (2 a day, 2010-01-20 .. 2010-03-10), with quoted error fields.
    return write_csv(tmp_path / "transactions_data.csv",
                     transaction_lines(1, 100, date(2010, 1, 20), per_day=2))


def _data_lines(paths: list[Path]) -> list[str]:
    lines: list[str] = []
    for path in paths:
        header, *rows = path.read_text().splitlines()
        assert header == HEADER, path
        assert rows, f"{path} has no rows"
        lines.extend(rows)
    return lines


def _original(path: Path) -> list[str]:
    return path.read_text().splitlines()[1:]


def test_by_month(source: Path, tmp_path: Path) -> None:
    paths = split_csv(source, "month", None, tmp_path / "out")
    assert [p.name for p in paths] == [
        "transactions_2010-01.csv", "transactions_2010-02.csv", "transactions_2010-03.csv"]
    lines = _data_lines(paths)
    # Same rows, same order, none lost or duplicated: the concatenation is the original.
    assert lines == _original(source)
    ids = [line.split(",")[0] for line in lines]
    assert max(Counter(ids).values()) == 1
    for path in paths:
        month = path.stem.removeprefix("transactions_")
        assert all(row.split(",")[1].startswith(month) for row in _data_lines([path]))


def test_by_day(source: Path, tmp_path: Path) -> None:
    paths = split_csv(source, "day", None, tmp_path / "out")
    assert len(paths) == 50
    assert paths[0].name == "transactions_2010-01-20.csv"
    assert _data_lines(paths) == _original(source)
    assert all(len(_data_lines([p])) == 2 for p in paths)
    assert paths[-1].name == "transactions_2010-03-10.csv"


@pytest.mark.parametrize(("parts", "sizes"), [(1, [100]), (3, [34, 34, 32]), (7, [15] * 6 + [10])])
def test_by_parts(source: Path, tmp_path: Path, parts: int, sizes: list[int]) -> None:
    paths = split_csv(source, "parts", parts, tmp_path / "out")
    assert [p.name for p in paths][:2] == ["part_001.csv", "part_002.csv"][: len(paths)]
    assert [len(_data_lines([p])) for p in paths] == sizes
    assert _data_lines(paths) == _original(source)


def test_more_parts_than_rows_gives_one_row_per_file(tmp_path: Path) -> None:
    small = write_csv(tmp_path / "t.csv", transaction_lines(1, 4, date(2010, 1, 1)))
    paths = split_csv(small, "parts", 10, tmp_path / "out")
    assert len(paths) == 4
    assert _data_lines(paths) == _original(small)


def test_bytes_are_copied_as_they_are(tmp_path: Path) -> None:
    # CRLF line ends, a quoted multi-error field and no final newline survive untouched.
    body = "\r\n".join(transaction_lines(1, 8, date(2010, 1, 30)))
    source = tmp_path / "crlf.csv"
    source.write_bytes((HEADER + "\r\n" + body).encode())
    paths = split_csv(source, "month", None, tmp_path / "out")
    joined = b"".join(p.read_bytes().split(b"\r\n", 1)[1] for p in paths)
    assert joined.rstrip(b"\n") == body.encode()
    assert b'"Bad PIN,Insufficient Balance"' in joined


def test_unsorted_file_still_splits_correctly(tmp_path: Path) -> None:
    lines = transaction_lines(1, 6, date(2010, 1, 30), per_day=1)  # Jan 30 .. Feb 4
    shuffled = [lines[3], lines[0], lines[4], lines[1], lines[5], lines[2]]
    source = write_csv(tmp_path / "t.csv", shuffled)
    report = split_transactions(source, "month", None, tmp_path / "out")
    assert report.out_of_order > 0
    assert report.total_rows == 6
    assert sorted(_data_lines(report.paths)) == sorted(lines)
    assert _data_lines([report.paths[0]]) == [lines[0], lines[1]]


def test_progress_reaches_the_file_size(source: Path, tmp_path: Path) -> None:
    seen: list[int] = []
    split_transactions(source, "month", None, tmp_path / "out", on_progress=seen.append)
    assert seen[-1] == source.stat().st_size


@pytest.mark.parametrize(("content", "by", "parts", "message"), [
    ("a,b\n1,2\n", "month", None, "not a transactions_data.csv"),
    (HEADER + "\n", "month", None, "no data rows"),
    (HEADER + "\n", "parts", 2, "no data rows"),
    (HEADER + "\n1,../../etc,1\n", "month", None, "does not start with YYYY-MM-DD"),
    (HEADER + "\n1,2010-01-01 00:00:00\n", "parts", 0, "N >= 1"),
    ("id,da\rte\n1,2\n", "month", None, "not a CSV header"),
])
def test_bad_input_raises_split_error(tmp_path: Path, content, by, parts, message) -> None:
    source = tmp_path / "t.csv"
    source.write_text(content)
    with pytest.raises(SplitError, match=message):
        split_csv(source, by, parts, tmp_path / "out")
    assert not list((tmp_path / "out").glob("transactions_*"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SplitError, match="does not exist"):
        split_csv(tmp_path / "nope.csv", "month", None, tmp_path / "out")
