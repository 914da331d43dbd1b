"""Real Prometheus and Alertmanager processes for the ops tests (Debian's packages).

`prometheus_server` and `alertmanager_server` start the binaries on loopback ports with their
storage in a temporary folder and stop them afterwards; `query` evaluates one PromQL
expression through the HTTP API; `wait_for` polls a condition (never a fixed sleep).
A missing binary skips the test with the install command (CI installs both, and fails on skips).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import yaml
from serverkit import running
from testkit import APT, skip_missing

ROOT = Path(__file__).resolve().parents[1]


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        skip_missing(f"Debian's `{name}`", f"{APT} {name}")
    return found


def rules_without_for(tmp: Path) -> Path:
    """prometheus/alerts.yml with every `for:` removed, so a true expression fires at once."""
    groups = yaml.safe_load((ROOT / "prometheus" / "alerts.yml").read_text())
    for group in groups["groups"]:
        for rule in group["rules"]:
            rule.pop("for", None)
    path = tmp / "alerts.yml"
    path.write_text(yaml.safe_dump(groups))
    return path


@contextlib.contextmanager
def prometheus_server(config: Path, port: int, tmp: Path) -> Iterator[str]:
    """Prometheus with `config` on 127.0.0.1:`port`; yields its base URL."""
    url = f"http://127.0.0.1:{port}"
    command = [
        _binary("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with running(command, f"{url}/-/ready", tmp / "prometheus.log", "Prometheus"):
        yield url


@contextlib.contextmanager
def alertmanager_server(
    config: Path, port: int, tmp: Path, environment: dict[str, str]
) -> Iterator[str]:
    """Alertmanager started by alertmanager/entrypoint.sh from `config` and `environment`.

    The entrypoint fills the config's placeholders from `environment`, as in the container;
    clustering is off so no gossip port is opened.
    """
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **environment,
        "ALERTMANAGER_CONFIG": str(config),
        "ALERTMANAGER_WORK_DIR": str(tmp / "alertmanager"),
        "ALERTMANAGER_BIN": _binary("prometheus-alertmanager"),
    }
    command = [
        "sh",
        str(ROOT / "alertmanager" / "entrypoint.sh"),
        f"--storage.path={tmp / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    with running(command, f"{url}/-/ready", tmp / "alertmanager.log", "Alertmanager", env):
        yield url


def query(prometheus: str, expression: str) -> list[dict]:
    """The instant vector of `expression` (fails the test on a PromQL error)."""
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expression}, timeout=10)
    body = response.json()
    assert body["status"] == "success", f"{expression!r}: {body.get('error')}"
    return body["data"]["result"]


def wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    """Poll `condition()` until true; fail with its last falsy value after `timeout`."""
    deadline = time.monotonic() + timeout
    while not (outcome := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout:.0f} s: {outcome!r}")
        time.sleep(0.5)
