"""Drift: PSI bins stored at training, a live window in api_ml, gauges a real Prometheus reads.

The session's champions were trained by `train_and_register`, which stores the PSI bins of
every input and of the score in the model. Here the basic model's API is served on loopback
with a small drift window, a real Prometheus (Debian's `prometheus`) scrapes it every second
with prometheus/alerts.yml loaded (`for:` cut to zero), and:
  1. traffic like the training period keeps the `amount` PSI below the moderate level;
  2. the same traffic with amounts x5 for one card segment (Visa cards) drives
     `api_ml_drift_psi{feature="amount"}` above 0.25 and the `FeatureDrift` alert fires.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from api_ml_lake import payload_from_silver
from promkit import prometheus_server, query, rules_without_for, wait_for
from testkit import free_port

from api_ml.api.drift import DriftWindow
from api_ml.api.main import create_app
from api_ml.api.schemas import MAX_BATCH, SEED_FIELDS
from lakehouse.config import Settings, get_settings
from lakehouse.ml import psi
from lakehouse.monitoring.store import sampled, sampled_many

pytestmark = pytest.mark.slow
WINDOW = 400


def test_psi_is_zero_on_the_reference_and_large_on_a_shift() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"amount": rng.lognormal(3.3, 0.8, 5000), "flag": rng.random(5000) < 0.1})
    reference = psi.reference(frame, ["amount", "flag"], rng.random(5000))
    stored = psi.Reference.from_dict(reference.as_dict())
    edges, expected = stored.edges["amount"], stored.expected["amount"]
    same = np.bincount(psi.bin_index(edges, frame["amount"].to_numpy()), minlength=len(expected))
    assert psi.psi(expected, same) == pytest.approx(0.0, abs=1e-9)
    shifted = np.bincount(
        psi.bin_index(edges, 5 * frame["amount"].to_numpy()), minlength=len(expected)
    )
    assert psi.psi(expected, shifted) > 1.0
    missing = psi.bin_index(edges, np.array([np.nan]))
    assert missing.tolist() == [len(edges) + 1]


def seed_requests(silver: pd.DataFrame, shift_visa: float = 1.0) -> list[dict]:
    rows = silver.to_dict("records")
    payloads = []
    for row in rows:
        seed = {name: payload_from_silver(row)[name] for name in SEED_FIELDS}
        if row["card_brand"] == "Visa":
            seed["amount"] = round(float(seed["amount"]) * shift_visa, 2)
        payloads.append(seed)
    return payloads


def send(url: str, payloads: list[dict]) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        for start in range(0, len(payloads), MAX_BATCH):
            response = client.post("/predict/batch", json=payloads[start : start + MAX_BATCH])
            assert response.status_code == 200, response.text


def prometheus_config(tmp: Path, api_ml: str, port: int) -> Path:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules_without_for(tmp))],
        "scrape_configs": [
            {
                "job_name": "api_ml",
                "static_configs": [{"targets": [api_ml.removeprefix("http://")]}],
            }
        ],
    }
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def drift_settings(api_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("LAKEHOUSE_DRIFT_WINDOW", str(WINDOW))
    monkeypatch.setenv("LAKEHOUSE_DRIFT_MIN_ROWS", "100")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def amount_psi(prometheus: str) -> float | None:
    found = query(prometheus, 'api_ml_drift_psi{flavour="basic", feature="amount"}')
    return float(found[0]["value"][1]) if found else None


def test_shifted_segment_raises_the_gauge_and_fires_the_alert(
    drift_settings: Settings,
    trained_lake,
    live_server,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    silver = trained_lake.silver.to_pandas()
    recent = silver[silver["ts"] >= silver["ts"].max() - pd.Timedelta(days=30)]
    calm = recent.sample(WINDOW, random_state=1)
    shifted = recent.sample(WINDOW, random_state=2)
    port = free_port()
    with (
        live_server(create_app(drift_settings)) as url,
        prometheus_server(prometheus_config(tmp_path, url, port), port, tmp_path) as prom,
    ):
        send(url, seed_requests(calm))
        wait_for(lambda: (value := amount_psi(prom)) is not None and value >= 0, timeout=30)
        assert amount_psi(prom) < 0.1, "traffic like the training period is not drift"
        assert query(prom, 'api_ml_drift_psi{flavour="basic", feature="fraud_probability"}')

        send(url, seed_requests(shifted, shift_visa=5.0))
        wait_for(lambda: (amount_psi(prom) or 0) > 0.25, timeout=30)

        def firing() -> list[dict]:
            alerts = httpx.get(f"{prom}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
            return [
                a
                for a in alerts
                if a["labels"]["alertname"] == "FeatureDrift"
                and a["labels"]["feature"] == "amount"
                and a["state"] == "firing"
            ]

        wait_for(firing, timeout=30)
        assert firing()[0]["labels"]["flavour"] == "basic"
        # The freshness gauges of the served champions and of the full model's online state.
        trained = query(prom, "api_ml_model_trained_timestamp_seconds")
        assert {s["metric"]["flavour"] for s in trained} == {"basic", "full"}
        newest = query(prom, "api_ml_online_newest_transaction_timestamp_seconds")
        latest = trained_lake.silver.column("ts").to_pandas().max()
        assert float(newest[0]["value"][1]) == latest.tz_localize("UTC").timestamp()


def test_window_counts_only_its_last_rows() -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"amount": rng.lognormal(3.3, 0.8, 900), "flag": rng.random(900) < 0.1})
    scores = rng.random(900)
    reference = psi.reference(frame, ["amount", "flag"], scores)
    window = DriftWindow(reference, "1", rows=250, seconds=3600)
    for start in range(0, 900, 70):  # batches that each push older rows out
        window.add(frame[start : start + 70], scores[start : start + 70], now=1.0)
    last = DriftWindow(reference, "1", rows=250, seconds=3600)
    last.add(frame[-250:], scores[-250:], now=1.0)
    assert window.size == 250
    assert (window.counts == last.counts).all()
    window.evict(now=3602.0)  # every row now older than the window's age
    assert window.size == 0 and not window.counts.any()


def test_window_evicts_as_a_row_by_row_window_would() -> None:
    """Batches of random sizes and ages: after each, the window holds exactly the rows a
    row-by-row window keeps (the last `rows`, none older than `seconds`), counts included."""
    rng = np.random.default_rng(8)
    frame = pd.DataFrame({"amount": rng.lognormal(3.3, 0.8, 3000)})
    scores = rng.random(3000)
    reference = psi.reference(frame, ["amount"], scores)
    window = DriftWindow(reference, "1", rows=400, seconds=50.0)
    kept: list[tuple[float, int]] = []  # (time, row) a row-by-row window keeps
    start, now = 0, 0.0
    while start < 2800:
        size = int(rng.integers(1, 300))
        now += float(rng.choice([1.0, 20.0, 60.0]))
        window.add(frame[start : start + size], scores[start : start + size], now=now)
        kept += [(now, row) for row in range(start, min(start + size, 3000))]
        kept = [(t, row) for t, row in kept[-400:] if t >= now - 50.0]
        start += size
        rows = [row for _, row in kept]
        expected = DriftWindow(reference, "1", rows=400, seconds=50.0)
        if rows:
            expected.add(frame.iloc[rows], scores[rows], now=now)
        assert window.size == len(rows)
        assert (window.counts == expected.counts).all()


def test_many_ids_are_sampled_as_each_one_is() -> None:
    rng = np.random.default_rng(3)
    edges = [0, 1, 2**32 - 1, 2**32, 10**12, 2**53 - 1]  # 2**53 - 1: the schema's largest id
    ids = np.concatenate([rng.integers(0, 2**40, 5000), edges])
    for rate in (0.0, 0.01, 0.5, 1.0):
        assert sampled_many(ids, rate).tolist() == [sampled(int(i), rate) for i in ids]
