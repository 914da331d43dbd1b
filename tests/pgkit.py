"""A private PostgreSQL server for fault tests: started, stopped and restarted at will.

The machine's shared server (127.0.0.1:5432) serves everyone's tests and must never be
restarted, so a fault test starts its own: `initdb` into a temporary folder owned by the
`postgres` user (initdb refuses to run as root), `pg_ctl start` on a free loopback port, trust
authentication, fsync off. Import as `from pgkit import private_postgres`.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from testkit import free_port

BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(*command: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True,
                   capture_output=True, timeout=120)  # fmt: skip


@dataclass
class PrivatePostgres:
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        _as_postgres(
            str(BIN / "pg_ctl"), "-D", str(self.root / "data"), "-l", str(self.root / "log"),
            "-o", options, "-w", *extra, action,
        )  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        """Fast shutdown: open sessions are cut, as in a crash-restart or a failover."""
        self._ctl("stop", "-m", "fast")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running private server; stopped and deleted afterwards."""
    root = Path(tempfile.mkdtemp(prefix="lakehouse-pg-"))
    shutil.chown(root, "postgres", "postgres")
    server = PrivatePostgres(root, free_port())
    _as_postgres(str(BIN / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "postgres",
                 "--no-sync")  # fmt: skip
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
