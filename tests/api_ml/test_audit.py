"""Predictions are shipped to the `lakehouse-predictions-*` audit index when ES is configured.

Elasticsearch cannot run on this machine; a loopback HTTP server accepting `POST /_bulk`
NDJSON stands in for it and records what arrives. A closed port stands for an
Elasticsearch that is down: predictions must still succeed.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest
from api_ml_lake import seed_payload
from testkit import fake_es

from api_ml.api.main import create_app
from lakehouse.config import get_settings


def test_each_prediction_reaches_the_audit_index(
    api_settings,
    live_server,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    with fake_es() as es:
        monkeypatch.setenv("ELASTICSEARCH_URL", f"http://127.0.0.1:{es.server_address[1]}")
        get_settings.cache_clear()
        with live_server(create_app(get_settings())) as url:
            for amount in (10.0, 20.0, 30.0):
                assert (
                    httpx.post(f"{url}/predict", json=seed_payload(amount=amount)).status_code
                    == 200
                )
            deadline = time.monotonic() + 20
            while len(es.lines) < 6 and time.monotonic() < deadline:
                time.sleep(0.1)
    lines = es.lines
    actions, documents = lines[0::2], lines[1::2]
    assert len(documents) == 3
    assert all(a["index"]["_index"].startswith("lakehouse-predictions-") for a in actions)
    assert sorted(d["request"]["amount"] for d in documents) == [10.0, 20.0, 30.0]
    assert all({"fraud_probability", "is_fraud", "model_version"} <= set(d) for d in documents)


def test_predictions_succeed_when_elasticsearch_is_down(
    api_settings,
    live_server,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    from testkit import free_port

    monkeypatch.setenv("ELASTICSEARCH_URL", f"http://127.0.0.1:{free_port()}")
    get_settings.cache_clear()
    app = create_app(get_settings())
    with live_server(app) as url:
        for _ in range(5):
            assert httpx.post(f"{url}/predict", json=seed_payload()).status_code == 200
        app.state.audit.shipper.flush(timeout=30)
        # Nothing vanishes silently: the lost audit documents are on the service's /metrics.
        metrics = httpx.get(f"{url}/metrics").text
    dropped = re.search(
        r'elasticsearch_documents_dropped_total\{index="lakehouse-predictions"\} (\S+)', metrics
    )
    assert dropped is not None and float(dropped.group(1)) >= 5
