"""Real server processes for the integration tests: an S3-compatible object store (moto's
server), a standalone Spark cluster (master + workers from the pyspark wheel), a private
PostgreSQL instance, and `running` for any other server (Prometheus and Alertmanager in
tests/promkit.py, the platform's services in tests/ops/test_container_wiring.py).

Each one is a separate OS process on a free loopback port, started and stopped by a context
manager, so a test exercises the platform over the network as the containers do. moto's S3
server must run as its own process, never in the test's: delta-rs keeps the GIL during some
calls (the commit history), so an in-process server thread cannot answer and both wait forever.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from testkit import free_port

S3_KEY = "lakehouse-test"  # moto accepts any credentials; these are not secrets


@dataclass(frozen=True)
class S3Server:
    """An S3 endpoint on loopback and the credentials it accepts."""

    endpoint: str
    access_key: str = S3_KEY
    secret_key: str = S3_KEY

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def new_bucket(self, prefix: str = "lake") -> str:
        """A fresh bucket with a random suffix (tests share the server, never a bucket)."""
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.client().create_bucket(Bucket=name)
        return name

    def lake_env(self, bucket: str) -> dict[str, str]:
        """The environment that puts the lake in `bucket` (as docker-compose.yml does)."""
        return {
            "LAKEHOUSE_LAKE_URI": f"s3://{bucket}/lakehouse",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }


def _wait(url: str, process: subprocess.Popen, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=2.0)
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not answer at {url} within {timeout:.0f} s")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running(
    command: list[str],
    ready_url: str,
    log_path: Path,
    what: str,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Iterator[subprocess.Popen]:
    """`command` as a process (output to `log_path`) once `ready_url` answers; stopped after.

    It leads its own process group, and the whole group is stopped: servers that fork
    workers (mlflow, uvicorn) leave none behind.
    """
    log = log_path.open("wb")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    try:
        _wait(ready_url, process, what, timeout)
        yield process
    finally:
        _stop_group(process)
        log.close()


def _stop_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def s3_server(log_dir: Path) -> Iterator[S3Server]:
    """moto's S3 server as a process on a free loopback port (stands in for MinIO)."""
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with running(
        command, f"http://127.0.0.1:{port}/moto-api/", log_dir / "moto.log", "moto's S3 server"
    ):
        yield S3Server(f"http://127.0.0.1:{port}")


def _spark_class(*args: str, log: Path, env: dict[str, str]) -> subprocess.Popen:
    """The pyspark wheel's own `bin/spark-class <class> args` (what `spark-class` runs in the
    Spark image), with SPARK_HOME at the wheel so workers find its jars for executors."""
    import pyspark

    home = Path(pyspark.__file__).parent
    return subprocess.Popen(
        [str(home / "bin" / "spark-class"), *args],
        env={**env, "SPARK_HOME": str(home)},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


@dataclass(frozen=True)
class SparkCluster:
    """A standalone master and its workers; `master` is the URL for SPARK_MASTER."""

    master: str
    ui: str


@contextlib.contextmanager
def spark_cluster(
    work_dir: Path, workers: int = 2, cores: int = 1, memory: str = "768m"
) -> Iterator[SparkCluster]:
    """A standalone Spark master and `workers` workers as processes on loopback.

    `spark-class org.apache.spark.deploy.master.Master` / `...worker.Worker` from the pyspark
    wheel itself, so the cluster runs the same Spark build as the driver.
    """
    from lakehouse.engines.spark_runtime import ensure_java

    ensure_java(os.environ.get("LAKEHOUSE_SPARK_JAVA", "auto"))  # JAVA_HOME for spark-class
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_DIRS": str(work_dir),
        "SPARK_DAEMON_MEMORY": "256m",  # master and worker JVMs; executors have their own
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
    }  # its fixed port 6066
    port, ui_port = free_port(), free_port()
    processes = [
        _spark_class(
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui_port),
            log=work_dir / "master.log",
            env=env,
        )
    ]
    master = f"spark://127.0.0.1:{port}"
    ui = f"http://127.0.0.1:{ui_port}"
    try:
        _wait(ui, processes[0], "the Spark master", timeout=300)
        for index in range(workers):
            folder = work_dir / f"worker-{index}"
            folder.mkdir(parents=True, exist_ok=True)
            processes.append(
                _spark_class(
                    "org.apache.spark.deploy.worker.Worker",
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    str(cores),
                    "--memory",
                    memory,
                    "--work-dir",
                    str(folder),
                    "--webui-port",
                    str(free_port()),
                    master,
                    log=work_dir / f"worker-{index}.log",
                    env=env,
                )
            )
        _wait_for_workers(ui, workers, processes)
        yield SparkCluster(master, ui)
    finally:
        for process in reversed(processes):
            _stop(process)


def _wait_for_workers(
    ui: str, workers: int, processes: list[subprocess.Popen], timeout: float = 300.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"a Spark process exited with code {process.returncode}")
        with contextlib.suppress(httpx.HTTPError, ValueError):
            alive = [
                w
                for w in httpx.get(f"{ui}/json/", timeout=2.0).json().get("workers", [])
                if w.get("state") == "ALIVE"
            ]
            if len(alive) >= workers:
                return
        time.sleep(0.5)
    raise TimeoutError(f"{workers} Spark workers did not register within {timeout:.0f} s")


# Debian's server binaries (initdb, pg_ctl are not on PATH); the newest installed major.
PG_BIN = max(
    Path("/usr/lib/postgresql").glob("*/bin"),
    default=Path("/usr/lib/postgresql/15/bin"),
    key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
)


@contextlib.contextmanager
def private_postgres() -> Iterator[int]:
    """A PostgreSQL instance of its own (initdb + pg_ctl) on a free loopback port.

    Superuser `postgres`, trust authentication on loopback; its folder is a fresh one under
    the system temp dir (as root, the server runs as the `postgres` system user, which
    PostgreSQL requires and which cannot enter pytest's root-only folders).
    """
    folder = Path(tempfile.mkdtemp(prefix="lakehouse-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()
    try:
        _quiet(
            [
                *as_postgres,
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ]
        )
        _quiet(
            [
                *as_postgres,
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(folder / "pg.log"),
                "-w",
                "-o",
                f"-p {port} -h 127.0.0.1 -k {folder} -F",
                "start",
            ]
        )
        yield port
    finally:
        subprocess.run(
            [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


def _quiet(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{command[-1]} failed: {done.stdout[-1500:]} {done.stderr[-1500:]}")
