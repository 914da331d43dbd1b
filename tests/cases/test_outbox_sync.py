"""`LAKEHOUSE_CASE_OUTBOX_SYNC`: what a put survives, when the WAL reaches the file, where the
scoring API makes the write, bad values.

Real parts: a child process that puts a case and is killed with SIGKILL (its file then read
back by a fresh `Outbox`), the outbox worker's thread, the scoring API's `CaseDesk` on its
SQLite files, and `lakehouse serve api-ml` started with a wrong value. A power loss cannot be
staged here: that `normal` loses what a power loss catches before the checkpoint is the
documented price (docs/cases.md), not a tested promise.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from promkit import wait_for
from pydantic import ValidationError

from api_ml.api.casework import CaseDesk
from lakehouse.cases.outbox import Outbox, OutboxWorker
from lakehouse.config import Settings

ROOT = Path(__file__).resolve().parents[2]
CASE = {"case_id": "kept", "fraud_probability": 0.91, "scored_at": "2026-12-01T05:00:00"}
# Puts one case, says so, then waits (for the SIGKILL) without closing anything.
WRITER = f"""
import sys
from pathlib import Path
from lakehouse.cases.outbox import Outbox
Outbox(Path(sys.argv[1]), sync=sys.argv[2]).put([{CASE!r}])
print("put", flush=True)
sys.stdin.read()
"""


def _child_env() -> dict[str, str]:
    """The environment of a child Python: this checkout's code, not the installed one."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _main_file_keys(path: Path, tmp_path: Path) -> set[str]:
    """The keys in the outbox's main file alone, without its WAL (what a checkpoint wrote)."""
    alone = tmp_path / "main-file-alone.sqlite"
    shutil.copyfile(path, alone)
    with contextlib.closing(sqlite3.connect(alone)) as connection:
        try:
            return {row[0] for row in connection.execute("SELECT record_key FROM outbox")}
        except sqlite3.OperationalError:  # not even the table is checkpointed yet
            return set()


@pytest.mark.parametrize("sync", ["full", "normal"])
def test_a_put_survives_a_sigkill_of_the_process_that_wrote_it(tmp_path: Path, sync: str) -> None:
    path = tmp_path / "cases.sqlite"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), sync],
        env=_child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "put\n"  # put returned: the answer would leave now
        writer.send_signal(signal.SIGKILL)
        assert writer.wait(timeout=60) == -signal.SIGKILL
    finally:
        writer.kill()
    assert _main_file_keys(path, tmp_path) == set()  # only in the WAL: no checkpoint ran
    assert Outbox(path).peek() == [CASE]


def test_the_worker_checkpoints_what_waits_for_a_store_that_is_down(tmp_path: Path) -> None:
    path = tmp_path / "cases.sqlite"
    outbox = Outbox(path, sync="normal")

    def store_down(records: list[dict]) -> int:
        raise ConnectionError("case store unreachable")

    worker = OutboxWorker(outbox, store_down, max_retry_seconds=0.2)
    worker.start()
    try:
        outbox.put([CASE])
        worker.wake()
        wait_for(lambda: worker.failures > 0 and _main_file_keys(path, tmp_path) == {"kept"})
    finally:
        worker.stop()
    assert outbox.pending() == 1


@pytest.mark.parametrize(
    ("sync", "workers", "on_loop"), [("normal", 1, True), ("full", 1, False), ("normal", 2, False)]
)
def test_the_case_write_stays_on_the_event_loop_only_when_it_cannot_wait(
    tmp_path: Path, sync: str, workers: int, on_loop: bool
) -> None:
    # An fsync, or SQLite's busy wait on a file another worker process writes, would stall
    # every request on the loop; the labels outbox is synced whatever the setting.
    settings = Settings(data_dir=tmp_path, case_outbox_sync=sync, api_ml_workers=workers)  # type: ignore[arg-type]
    desk = CaseDesk(settings)
    try:
        assert desk.persist_on_loop is on_loop
        assert (desk.outbox.sync, desk.labels.sync) == (sync, "full")
    finally:
        desk.outbox.close()
        desk.labels.close()
        desk.engine.dispose()


def test_a_wrong_sync_value_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"case_outbox_sync|LAKEHOUSE_CASE_OUTBOX_SYNC"):
        Settings(case_outbox_sync="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"full.*normal"):
        Outbox(Path("unused.sqlite"), sync="fast")


def test_the_scoring_api_does_not_start_with_a_wrong_sync_value(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lakehouse.cli", "serve", "api-ml", "--port", "9"],
        env={
            **_child_env(),
            "LAKEHOUSE_DATA_DIR": str(tmp_path / "data"),
            "LAKEHOUSE_CASE_OUTBOX_SYNC": "fast",
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "LAKEHOUSE_CASE_OUTBOX_SYNC" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
