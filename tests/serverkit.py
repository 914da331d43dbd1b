"""Real server processes for the integration tests: an S3-compatible object store (moto's
server), a standalone Spark cluster (master + workers from the pyspark wheel), and `running`
for any other server binary (Prometheus and Alertmanager in tests/promkit.py).

Each one is a separate OS process on a free loopback port, started and stopped by a context
manager, so a test exercises the platform over the network as the containers do. moto's S3
server must run as its own process, never in the test's: delta-rs keeps the GIL during some
calls (the commit history), so an in-process server thread cannot answer and both wait forever.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
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
    command: list[str], ready_url: str, log_path: Path, what: str,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen]:
    """`command` as a process (output to `log_path`) once `ready_url` answers; stopped after."""
    log = log_path.open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        _wait(ready_url, process, what)
        yield process
    finally:
        _stop(process)
        log.close()


@contextlib.contextmanager
def s3_server(log_dir: Path) -> Iterator[S3Server]:
    """moto's S3 server as a process on a free loopback port (stands in for MinIO)."""
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with running(command, f"http://127.0.0.1:{port}/moto-api/", log_dir / "moto.log",
                 "moto's S3 server"):
        yield S3Server(f"http://127.0.0.1:{port}")


def _spark_class(java_home: str, *args: str, log: Path, env: dict[str, str]) -> subprocess.Popen:
    """`java -cp <pyspark jars> <class> args` — what the wheel's `spark-class` script runs."""
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    command = [str(Path(java_home) / "bin" / "java"), "-Xmx256m", "-cp", f"{jars}/*", *args]
    return subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)


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

    The classes come from the pyspark wheel's own jars (org.apache.spark.deploy.master.Master
    and worker.Worker), so the cluster runs the same Spark build as the driver.
    """
    from lakehouse.engines.spark import ensure_java

    java = ensure_java(os.environ.get("LAKEHOUSE_SPARK_JAVA", "auto")).path
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOCAL_DIRS": str(work_dir)}
    port, ui_port = free_port(), free_port()
    processes = [
        _spark_class(
            java,
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
        _wait(ui, processes[0], "the Spark master")
        for index in range(workers):
            folder = work_dir / f"worker-{index}"
            folder.mkdir(parents=True, exist_ok=True)
            processes.append(
                _spark_class(
                    java,
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
    ui: str, workers: int, processes: list[subprocess.Popen], timeout: float = 90.0
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
