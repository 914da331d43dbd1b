"""docker-compose.yml read as plain processes: each service's environment and command.

`tests/ops/test_container_wiring.py` starts the platform as compose wires it, without a Docker
engine: the variables and commands come from docker-compose.yml itself (with compose's
`${VAR:-default}` / `${VAR:?error}` resolved from a generated .env) and only container
hostnames are mapped to loopback ports. The machine's Redis stands in for the `redis` service,
on a database index the run claims for itself.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import redis
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
_VARIABLE = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")
# The machine's Redis stands in for the `redis` service; the test takes a database of its own.
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_CLAIM = "lakehouse-test:claimed-by"


def interpolate(value: str, dotenv: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}` and `$$`, from `dotenv`."""

    def one(match: re.Match) -> str:
        name, kind, arg = match.groups()
        if kind == "?" and not dotenv.get(name):
            raise AssertionError(f"compose requires {name}: {arg}")
        return dotenv.get(name) or (arg if kind == "-" else "")

    return _VARIABLE.sub(one, value).replace("$$", "$")


def compose_env(service: str, dotenv: dict[str, str], hosts: dict[str, str]) -> dict[str, str]:
    """The service's environment from docker-compose.yml, hostnames mapped to loopback."""
    env = {}
    for name, raw in COMPOSE["services"][service].get("environment", {}).items():
        value = interpolate(str(raw), dotenv)
        for container, local in hosts.items():
            value = value.replace(container, local)
        env[name] = value
    return env


def process_env(extra: dict[str, str]) -> dict[str, str]:
    """This interpreter's environment without any lakehouse setting, plus `extra`."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LAKEHOUSE_", "AWS_", "MLFLOW_", "SPARK_"))
        and k != "ELASTICSEARCH_URL"
    }
    return {**base, **extra}


def compose_command(service: str, dotenv: dict[str, str], hosts: dict[str, str]) -> str:
    """The service's command line from docker-compose.yml, hostnames mapped to loopback."""
    command = COMPOSE["services"][service]["command"]
    text = interpolate(command[-1] if command[0] == "/bin/sh" else " ".join(command), dotenv)
    for container, local in hosts.items():
        text = text.replace(container, local)
    return text


def prometheus_config(folder: Path, ports: dict[str, int], own_port: int) -> Path:
    """prometheus/prometheus.yml scraping the local `ports` every second, written in `folder`."""
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    config.pop("alerting")
    config.pop("rule_files")
    for job in config["scrape_configs"]:
        targets = job["static_configs"][0]["targets"]
        host = targets[0].split(":")[0]
        port = own_port if job["job_name"] == "prometheus" else ports[host]
        job["static_configs"] = [{"targets": [f"127.0.0.1:{port}"]}]
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.contextmanager
def own_redis_db() -> Iterator[redis.Redis]:
    """An empty database index of the machine's Redis, claimed with a key for the test's run.

    Other suites use database 0 under their own key prefixes; this test runs the online store
    with compose's settings (its default prefix), so it takes a whole database instead. On
    exit it deletes the keys it created, under the store's prefix, and its claim: never a flush.
    """
    token = uuid.uuid4().hex
    for index in random.sample(range(1, 16), 15):
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=index)
        if client.dbsize() == 0 and client.set(REDIS_CLAIM, token, nx=True, ex=3600):
            break
    else:
        raise AssertionError("no empty database index left on the Redis at 127.0.0.1:6379")
    try:
        yield client
    finally:
        if client.get(REDIS_CLAIM) == token.encode():
            client.delete(REDIS_CLAIM)


def redis_url(compose_url: str, client: redis.Redis) -> str:
    """Compose's Redis URL, already mapped to loopback, on the test's own database index."""
    base, _, index = compose_url.rpartition("/")
    assert base == f"redis://{REDIS_HOST}:{REDIS_PORT}" and index.isdigit(), compose_url
    return f"{base}/{client.connection_pool.connection_kwargs['db']}"
