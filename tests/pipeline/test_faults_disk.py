"""The disk fills during a Delta write: no commit, a clear error, and a rerun converges.

The lake lives on a real, small tmpfs mounted for this test (`mount -t tmpfs -o size=...`;
the tests run as root, as on CI). After a first good run, a new batch arrives and a filler
file takes every free byte. The next run's bronze write then hits a real ENOSPC. The stage
must fail naming the full device, say that no commit was made, and leave the table at its
previous version. Once the filler is deleted, the rerun converges, and a third run finds
everything up to date.
"""

from __future__ import annotations

import contextlib
import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from runtime_helpers import load_parts, serving_raw, write_tiny_raw

from lakehouse import catalog, storage
from lakehouse.config import get_settings
from lakehouse.orchestrator import run_pipeline

SIZE = "16m"


@contextlib.contextmanager
def small_tmpfs(where: Path) -> Iterator[Path]:
    where.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(where)],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def fill(device: Path) -> Path:
    """Write a file until the device is full; returns it (delete it to free the space)."""
    filler = device / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb") as out:
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def _statuses() -> dict[str, object]:
    return {r.stage: r for r in run_pipeline(get_settings(), skip=("train", "maintain"))}


def test_disk_full_during_a_delta_write(
    isolated_settings: Path, live_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    raw = write_tiny_raw(isolated_settings / "raw", days=6, per_day=40)
    with small_tmpfs(tmp_path / "disk") as disk, serving_raw(raw, live_server, monkeypatch):
        monkeypatch.setenv("LAKEHOUSE_LAKE_URI", str(disk / "lake"))
        get_settings.cache_clear()
        settings = get_settings()
        load_parts(settings, raw, 2, [0])
        first = _statuses()
        assert first["publish"].status == "success", first["publish"].message
        uri = catalog.location("bronze_transactions", settings)
        before = storage.version(uri, settings)
        rows_before = storage.read_table(uri, settings).num_rows

        load_parts(settings, raw, 2, [1])
        filler = fill(disk)
        full = _statuses()
        bronze = full["bronze"]
        assert bronze.status == "failed"
        assert "no space left on the device" in bronze.message
        assert "the Delta commit was not made" in bronze.message
        assert full["silver"].status == "skipped"
        assert storage.version(uri, settings) == before  # no commit
        assert storage.read_table(uri, settings).num_rows == rows_before

        filler.unlink()
        rerun = _statuses()
        assert all(rerun[s].status == "success" for s in ("bronze", "silver", "gold", "publish"))
        assert storage.read_table(uri, settings).num_rows > rows_before
        again = _statuses()
        assert {s: again[s].status for s in ("bronze", "silver", "gold", "publish")} == {
            s: "up_to_date" for s in ("bronze", "silver", "gold", "publish")
        }
