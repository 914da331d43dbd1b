"""The scoring API's online store over real HTTP: velocity per event, idempotence, Redis.

- A burst of card-testing transactions: `card_tx_count_1h` rises by one per scored event and
  stays put when the same `transaction_id` is sent again.
- Re-scoring a transaction older than the state's horizon says so (`within_horizon` false).
- Two api_ml processes on one real Redis (127.0.0.1:6379, this test's own key prefix) see
  each other's events; so do the worker processes of one `LAKEHOUSE_API_ML_WORKERS=2`
  service, and several workers on the in-process store are refused.
- A Redis that dies under a running service: answers keep coming, marked degraded, and
  `api_ml_online_store_errors_total` counts the failures (a private redis-server process is
  started and killed for that, so the shared Redis is never touched).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pyarrow.compute as pc
import pytest
import redis
from api_ml_lake import payload_from_silver
from testkit import REDIS_URL, free_port, wait_http

from api_ml.api.main import create_app
from lakehouse.features.online.redis_store import drop_prefix


def _burst(row: dict, count: int, start_id: int) -> list[dict]:
    """`count` small online purchases on the row's card, one every 20 seconds after it."""
    base = payload_from_silver(row)
    ts = row["ts"] + timedelta(days=1)
    return [
        {
            **base,
            "transaction_id": start_id + i,
            "amount": 1.0 + i,
            "timestamp": (ts + timedelta(seconds=20 * i)).isoformat(),
        }
        for i in range(count)
    ]


def _latest_row(trained_lake) -> dict:  # type: ignore[no-untyped-def]
    silver = trained_lake.silver
    last = pc.max(silver.column("ts")).as_py()
    return silver.filter(pc.equal(silver.column("ts"), last)).to_pylist()[0]


def _count_1h(client: httpx.Client, url: str, payload: dict) -> tuple[float, dict]:
    answer = client.post(f"{url}/predict", params={"include_features": "true"}, json=payload)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return body["features"]["card_tx_count_1h"], body["online"]


def test_burst_counts_each_event_once(api_settings, trained_lake, live_server) -> None:  # type: ignore[no-untyped-def]
    events = _burst(_latest_row(trained_lake), 10, 9_000_000_000)
    with live_server(create_app(api_settings)) as url, httpx.Client(timeout=30) as client:
        counts = [_count_1h(client, url, event)[0] for event in events]
        assert counts == list(range(10))
        again, online = _count_1h(client, url, events[4])  # resent: counted once
        assert again == 4 and online["card_known"] and online["within_horizon"]
        after, _ = _count_1h(
            client,
            url,
            {
                **events[-1],
                "transaction_id": 9_000_000_099,
                "timestamp": events[-1]["timestamp"][:-2] + "59",
            },
        )
        assert after == 10
        info = client.get(f"{url}/model/info").json()["online_state"]
    assert info["backend"] == "memory" and info["events"] > 0 and info["lag_seconds"] >= 0
    assert info["watermark"] and info["exact_from"]


def test_rescoring_beyond_the_horizon_says_so(api_settings, trained_lake, live_server) -> None:  # type: ignore[no-untyped-def]
    silver = trained_lake.silver
    first = pc.min(silver.column("ts")).as_py()
    old = silver.filter(pc.less(silver.column("ts"), first + timedelta(days=5))).to_pylist()[0]
    with live_server(create_app(api_settings)) as url:
        answer = httpx.post(f"{url}/predict", json=payload_from_silver(old), timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["online"]["within_horizon"] is False


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "lakehouse.cli", "serve", "api-ml", "--port", str(port)]
    with log.open("wb") as sink:
        return subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)


@pytest.fixture
def redis_env(api_settings) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    """Environment of an api_ml process on the shared Redis under this test's prefix."""
    prefix = f"test-online-{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "LAKEHOUSE_ONLINE_STORE": "redis",
        "LAKEHOUSE_REDIS_URL": REDIS_URL,
        "LAKEHOUSE_ONLINE_KEY_PREFIX": prefix,
    }
    yield env
    drop_prefix(redis.Redis.from_url(REDIS_URL), prefix)


def test_two_processes_share_one_card_through_redis(trained_lake, redis_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ports = [free_port(), free_port()]
    logs = [tmp_path / f"api_ml_{port}.log" for port in ports]
    processes = [_serve(redis_env, port, log) for port, log in zip(ports, logs, strict=True)]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, log in zip(urls, logs, strict=True):
            try:
                health = wait_http(f"{url}/health", timeout=400)
            except httpx.HTTPError:
                pytest.fail(f"api_ml did not start: {log.read_text()[-3000:]}")
            assert health.status_code == 200, health.text
        events = _burst(_latest_row(trained_lake), 6, 9_100_000_000)
        with httpx.Client(timeout=30) as client:
            try:
                counts = [_count_1h(client, urls[i % 2], e)[0] for i, e in enumerate(events)]
            except AssertionError as failed:
                logs = "\n".join(log.read_text()[-4000:] for log in logs)
                pytest.fail(f"{failed}\n{logs}")
            info = [client.get(f"{url}/model/info").json()["online_state"] for url in urls]
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
    assert counts == list(range(6))  # each process saw the other's events
    assert {i["backend"] for i in info} == {"redis"} and info[0]["events"] == info[1]["events"]


def test_workers_share_the_redis_state(trained_lake, redis_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`LAKEHOUSE_API_ML_WORKERS=2`: two worker processes on one port, one shared state."""
    port, log = free_port(), tmp_path / "api_ml_workers.log"
    process = _serve({**redis_env, "LAKEHOUSE_API_ML_WORKERS": "2"}, port, log)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            health = wait_http(f"{url}/health", timeout=400)
        except httpx.HTTPError:
            pytest.fail(f"api_ml did not start: {log.read_text()[-3000:]}")
        assert health.status_code == 200, health.text
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        events = _burst(_latest_row(trained_lake), 6, 9_200_000_000)
        counts = []
        for event in events:  # a new connection each: the kernel may hand it to either worker
            with httpx.Client(timeout=30) as client:
                counts.append(_count_1h(client, url, event)[0])
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert len(children) >= 2, log.read_text()[-3000:]
    assert counts == list(range(6))


def test_several_workers_refuse_the_in_process_store(api_settings) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "LAKEHOUSE_API_ML_WORKERS": "2", "LAKEHOUSE_ONLINE_STORE": "memory"}
    command = [sys.executable, "-m", "lakehouse.cli", "serve", "api-ml", "--port", "1"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "LAKEHOUSE_ONLINE_STORE=redis" in done.stdout + done.stderr


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """A redis-server of this test only, so it can be killed."""
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            subprocess.run(["sleep", "0.05"], check=True)
    yield process, url
    process.kill()
    process.wait(timeout=10)


def test_redis_outage_degrades_but_answers(
    api_settings,
    trained_lake,
    live_server,  # type: ignore[no-untyped-def]
    private_redis,
) -> None:
    process, url_redis = private_redis
    settings = api_settings.model_copy(update={"online_store": "redis", "redis_url": url_redis})
    events = _burst(_latest_row(trained_lake), 3, 9_200_000_000)
    with live_server(create_app(settings)) as url, httpx.Client(timeout=30) as client:
        _, online = _count_1h(client, url, events[0])
        assert online["degraded"] is False
        process.kill()
        process.wait(timeout=10)
        for event in events[1:]:
            _, online = _count_1h(client, url, event)
            assert online["degraded"] is True
        metrics = client.get(f"{url}/metrics").text
        info = client.get(f"{url}/model/info")
    assert 'api_ml_online_store_errors_total{operation="read"} 2.0' in metrics
    assert info.status_code == 200 and info.json()["online_state"]["available"] is False


def test_a_label_counts_from_the_first_day_after_it_is_known(  # type: ignore[no-untyped-def]
    api_settings, trained_lake, live_server
) -> None:
    event, same_day, next_day, later = _burst(_latest_row(trained_lake), 4, 9_300_000_000)
    start = datetime.fromisoformat(event["timestamp"])
    same_day["timestamp"] = start.isoformat()
    next_day["timestamp"] = (start + timedelta(days=1, seconds=1)).isoformat()
    later["timestamp"] = (start + timedelta(days=1, seconds=2)).isoformat()
    label = {"transaction_id": event["transaction_id"], "label": 1, "known_at": event["timestamp"]}

    def labels_known(client: httpx.Client, url: str, body: dict) -> float:
        answer = client.post(f"{url}/predict", params={"include_features": "true"}, json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()["features"]["merchant_labels_known"]

    with live_server(create_app(api_settings)) as url, httpx.Client(timeout=30) as client:
        before = labels_known(client, url, event)
        recorded = client.post(f"{url}/online/labels", json=label)
        assert recorded.status_code == 200, recorded.text
        assert recorded.json()["counted"] is True
        assert labels_known(client, url, same_day) == before  # usable from the next day only
        assert labels_known(client, url, next_day) == before + 1
        assert client.post(f"{url}/online/labels", json=label).status_code == 200  # resent
        assert labels_known(client, url, later) == before + 1
        bad = client.post(f"{url}/online/labels", json={**label, "label": 2})
    assert bad.status_code == 422
