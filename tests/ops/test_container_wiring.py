"""The container settings, exercised with real processes: the platform as docker-compose.yml
wires it, without a Docker engine.

Every part is a separate OS process on a loopback port: a private PostgreSQL instance set up
by the stack's own postgres/initdb.sh + init.sql (roles and databases as in the container), the
S3 server (moto, standing in for MinIO, with the `minio_init` buckets), an `mlflow server`
started with the compose command (PostgreSQL store, artifacts on S3), the machine's Redis for
the `redis` service (a database index of the test's own, claimed with a key and cleaned of the
online store's keys afterwards, never flushed), and `sources_api`,
`lakehouse` (the scheduled pipeline), `api` and `api_ml` started with their images' commands,
then Prometheus scraping every service with prometheus/prometheus.yml. Elasticsearch cannot run
here: its URL points at the suite's fake `_bulk` endpoint (testkit.fake_es).

Each service's environment is read from docker-compose.yml itself — names and values, with
`${VAR:?..}` / `${VAR:-default}` resolved from a generated .env — and only container hostnames
(and the `/data` volume) are translated to loopback ports and temporary folders. A renamed
variable therefore reaches a service under its new name, and the run fails if the code reads
another. The run: load a batch, the pipeline (bronze → publish, train, maintain) on S3, score
with the registered model (its behavioural features from the online store in Redis, where the
scored transaction must then be), query a datamart.
"""

from __future__ import annotations

import csv
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from composekit import (
    COMPOSE,
    REDIS_HOST,
    REDIS_PORT,
    ROOT,
    compose_command,
    compose_env,
    interpolate,
    own_redis_db,
    process_env,
    prometheus_config,
    redis_url,
)
from promkit import prometheus_server, query, wait_for
from serverkit import private_postgres, running, s3_server
from testkit import fake_es, free_port

# Nine processes start before the first request: minutes on a busy 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(1200)]

HTTP_SERVICES = {"sources_api": 9998, "api": 9999, "api_ml": 9997, "lakehouse": 8000}
SECRETS = (
    "POSTGRES_PASSWORD",
    "SOURCE_DB_PASSWORD",
    "PIPELINE_DB_PASSWORD",
    "ANALYTICS_READER_PASSWORD",
    "MLFLOW_DB_PASSWORD",
    "LAKEHOUSE_CARD_HASH_KEY",
    "LAKEHOUSE_API_KEY",
)


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lakehouse.datagen import generate

    out = tmp_path_factory.mktemp("wiring_raw")
    generate(
        out,
        clients=60,
        transactions=30_000,
        seed=5,
        start="2018-01-01",
        end="2018-12-31",
        fraud_multiplier=8.0,
    )
    return out


def _run(command: list[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{what} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def platform(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("wiring")
    dotenv = {name: secrets.token_hex(12) for name in SECRETS}
    dotenv.update(
        MINIO_ROOT_USER="lakehouse",
        MINIO_ROOT_PASSWORD=secrets.token_hex(12),
        LAKEHOUSE_PIPELINE_INTERVAL="3600",
    )
    ports = {name: free_port() for name in (*HTTP_SERVICES, "mlflow")}
    with ExitStack() as stack:
        pg_port = stack.enter_context(private_postgres())
        s3 = stack.enter_context(s3_server(tmp))
        es = stack.enter_context(fake_es())
        online = stack.enter_context(own_redis_db())
        hosts = {
            "postgres:5432": f"127.0.0.1:{pg_port}",
            "redis:6379": f"{REDIS_HOST}:{REDIS_PORT}",
            "http://minio:9000": s3.endpoint,
            "http://elasticsearch:9200": f"http://127.0.0.1:{es.server_address[1]}",
            **{
                f"{name}:{port}": f"127.0.0.1:{ports[name]}"
                for name, port in (*HTTP_SERVICES.items(), ("mlflow", 5000))
            },
        }
        # postgres: the image runs initdb.sh on an empty data directory.
        _run(
            ["bash", str(ROOT / "postgres" / "initdb.sh")],
            process_env(
                {
                    **compose_env("postgres", dotenv, hosts),
                    "PGHOST": "127.0.0.1",
                    "PGPORT": str(pg_port),
                    "LAKEHOUSE_INIT_SQL": str(ROOT / "postgres" / "init.sql"),
                }
            ),
            "postgres/initdb.sh",
        )
        # minio_init: the lake and MLflow buckets.
        for bucket in (dotenv.get("LAKEHOUSE_LAKE_BUCKET", "lakehouse"), "mlflow"):
            s3.client().create_bucket(Bucket=bucket)
        envs = {
            name: process_env(
                {
                    **compose_env(name, dotenv, hosts),
                    "LAKEHOUSE_DATA_DIR": str(tmp / name),
                    "LAKEHOUSE_RAW_DIR": str(raw),
                }
            )
            for name in HTTP_SERVICES
        }
        envs["lakehouse"]["LAKEHOUSE_PIPELINE_METRICS_PORT"] = str(ports["lakehouse"])
        envs["api_ml"]["LAKEHOUSE_REDIS_URL"] = redis_url(
            envs["api_ml"]["LAKEHOUSE_REDIS_URL"], online
        )
        from lakehouse.config import Settings
        from lakehouse.features.online.redis_store import drop_prefix

        prefix = envs["api_ml"].get(
            "LAKEHOUSE_ONLINE_KEY_PREFIX", Settings.model_fields["online_key_prefix"].default
        )
        stack.callback(drop_prefix, online, prefix)  # after the services stop
        envs["api_ml"]["LAKEHOUSE_MODEL_POLL_SECONDS"] = "1"
        mlflow_env = process_env(compose_env("mlflow", dotenv, hosts))
        # The platform uses no MLflow server jobs; their worker pool would only take CPU here.
        mlflow_env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        stack.enter_context(
            running(
                [
                    "/bin/sh",
                    "-c",
                    compose_command("mlflow", dotenv, hosts).replace(
                        # One worker, not the default four: this machine's 2 cores are shared.
                        "--host 0.0.0.0 --port 5000",
                        f"--host 127.0.0.1 --port {ports['mlflow']} --workers 1",
                    ),
                ],
                f"http://127.0.0.1:{ports['mlflow']}/health",
                tmp / "mlflow.log",
                "mlflow server",
                {**mlflow_env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
                timeout=300,
            )
        )
        lakehouse = [sys.executable, "-m", "lakehouse.cli"]
        serve = {
            name: [
                *lakehouse,
                "serve",
                name.replace("_", "-"),
                "--host",
                "127.0.0.1",
                "--port",
                str(ports[name]),
            ]
            for name in ("sources_api", "api", "api_ml")
        }
        stack.enter_context(
            running(
                serve["sources_api"],
                f"http://127.0.0.1:{ports['sources_api']}/metrics",
                tmp / "sources_api.log",
                "sources_api",
                envs["sources_api"],
            )
        )
        yield {
            "tmp": tmp,
            "ports": ports,
            "envs": envs,
            "stack": stack,
            "serve": serve,
            "lakehouse": lakehouse,
            "dotenv": dotenv,
            "raw": raw,
            "s3": s3,
            "redis": online,
            "online_prefix": prefix,
        }


def test_the_platform_runs_as_docker_compose_wires_it(platform: dict) -> None:
    tmp, ports, envs, stack = (
        platform["tmp"],
        platform["ports"],
        platform["envs"],
        platform["stack"],
    )
    lakehouse, key = platform["lakehouse"], platform["dotenv"]["LAKEHOUSE_API_KEY"]
    # Load a batch into the source DB, as `docker compose exec sources_api lakehouse sources load`.
    _run(
        [*lakehouse, "sources", "load", str(platform["raw"] / "transactions_data.csv")],
        envs["sources_api"],
        "lakehouse sources load",
    )
    # The scheduled pipeline (its image's command): bronze → publish, train, maintain.
    command = [*lakehouse, *COMPOSE["services"]["lakehouse"]["command"][1:]]
    command = [interpolate(part, platform["dotenv"]) for part in command]
    stack.enter_context(
        running(
            command,
            f"http://127.0.0.1:{ports['lakehouse']}/metrics",
            tmp / "lakehouse.log",
            "the scheduled pipeline",
            envs["lakehouse"],
        )
    )
    metrics = f"http://127.0.0.1:{ports['lakehouse']}/metrics"
    wait_for(lambda: 'stage="maintain"' in httpx.get(metrics).text, timeout=900)
    text = httpx.get(metrics).text
    statuses = {
        s: set(re.findall(rf'pipeline_stage_status_total{{stage="{s}",status="(\w+)"}}', text))
        for s in ("publish", "train", "maintain")
    }
    assert statuses["publish"] == statuses["train"] == {"success"}, (
        statuses,
        (tmp / "lakehouse.log").read_text()[-3000:],
    )
    assert statuses["maintain"] <= {"success", "up_to_date"}, statuses

    # The lake is on S3 and the model's artifacts in the MLflow bucket.
    s3 = platform["s3"].client()
    lake = s3.list_objects_v2(Bucket="lakehouse", Prefix="lake/gold/ml_features/_delta_log/")
    assert lake.get("KeyCount", 0) > 0
    assert s3.list_objects_v2(Bucket="mlflow", Prefix="artifacts/").get("KeyCount", 0) > 0
    for name in ("api", "api_ml"):
        stack.enter_context(
            running(
                platform["serve"][name],
                f"http://127.0.0.1:{ports[name]}/metrics",
                tmp / f"{name}.log",
                name,
                envs[name],
            )
        )
    headers = {"X-API-Key": key}
    api_ml = f"http://127.0.0.1:{ports['api_ml']}"
    wait_for(lambda: httpx.get(f"{api_ml}/health", headers=headers).status_code == 200, timeout=300)
    from api_ml.api.schemas import SEED_EXAMPLE

    scored = httpx.post(f"{api_ml}/predict", json=SEED_EXAMPLE, headers=headers, timeout=60)
    assert scored.status_code == 200, scored.text
    assert 0.0 <= scored.json()["fraud_probability"] <= 1.0
    _scored_through_redis(platform, api_ml, headers)
    api = f"http://127.0.0.1:{ports['api']}"
    marts = httpx.get(f"{api}/mcc_risk", headers=headers, timeout=30)
    assert marts.status_code == 200, marts.text
    assert marts.json()["count"] > 0

    # Prometheus with the stack's scrape configuration sees every service up.
    prom_port = free_port()
    config = prometheus_config(tmp, {**ports, "sources_api": ports["sources_api"]}, prom_port)
    with prometheus_server(config, prom_port, tmp) as prometheus:
        wait_for(lambda: len(query(prometheus, "up == 1")) == len(HTTP_SERVICES) + 1)


def _full_model_payload(raw: Path, transaction_id: int) -> dict:
    """A new transaction an hour after the last generated one, on that row's card."""
    from api_ml.api.schemas import SEED_EXAMPLE

    with (raw / "transactions_data.csv").open(newline="") as handle:
        *_, last = csv.DictReader(handle)
    when = datetime.fromisoformat(last["date"]) + timedelta(hours=1)
    return {
        **SEED_EXAMPLE,
        "transaction_id": transaction_id,
        "card_id": int(last["card_id"]),
        "client_id": int(last["client_id"]),
        "merchant_id": int(last["merchant_id"]),
        "mcc": int(last["mcc"]),
        "timestamp": when.isoformat(),
    }


def _scored_through_redis(platform: dict, api_ml: str, headers: dict[str, str]) -> None:
    """api_ml serves its online state from Redis, and a scored transaction lands there."""
    from lakehouse.features.online.redis_store import RedisStore

    info = httpx.get(f"{api_ml}/model/info", headers=headers, timeout=30).json()
    assert info["online_state"]["backend"] == "redis", info["online_state"]
    transaction_id = 9_100_000_000 + secrets.randbelow(1_000_000)
    payload = _full_model_payload(platform["raw"], transaction_id)
    answer = httpx.post(f"{api_ml}/predict", json=payload, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["online"]["card_known"], answer.json()["online"]
    assert not answer.json()["online"]["degraded"], answer.json()["online"]
    store = RedisStore.current(platform["redis"], platform["online_prefix"])
    assert store is not None, "no online state generation in Redis"
    event = store.event(transaction_id)
    assert event is not None, "the scored transaction is not in Redis"
    assert event.card_id == payload["card_id"]
