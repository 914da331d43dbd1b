"""Hot reload: a newly promoted champion is served without failing a single request."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from api_ml_lake import promote_copy, seed_payload

from api_ml.api.main import create_app
from lakehouse.config import get_settings


def _hammer(url: str, stop: threading.Event, statuses: list[int], versions: list[str]) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            response = client.post("/predict", json=seed_payload())
            statuses.append(response.status_code)
            if response.status_code == 200:
                versions.append(response.json()["model_version"])


def _wait_for(predicate, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_polling_swaps_champion_while_serving(
    api_settings,
    trained_lake,
    live_server,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("LAKEHOUSE_MODEL_POLL_SECONDS", "0.3")
    get_settings.cache_clear()
    statuses: list[int] = []
    versions: list[str] = []
    stop = threading.Event()
    with live_server(create_app(get_settings())) as url:
        before = httpx.get(f"{url}/model/info").json()["models"]["basic"]["version"]
        thread = threading.Thread(target=_hammer, args=(url, stop, statuses, versions))
        thread.start()
        try:
            assert _wait_for(lambda: len(statuses) >= 20)
            new = promote_copy(trained_lake.tracking_uri, "fraud-detector-basic")
            assert new != before
            assert _wait_for(lambda: bool(versions) and versions[-1] == new)
            count = len(statuses)
            assert _wait_for(lambda: len(statuses) >= count + 20)
        finally:
            stop.set()
            thread.join(timeout=30)
        info = httpx.get(f"{url}/model/info").json()["models"]["basic"]
    assert set(statuses) == {200}, f"failed requests during the swap: {set(statuses)}"
    assert versions[0] == before and versions[-1] == new
    assert info["version"] == new


def test_reload_endpoint_needs_the_api_key_when_set(
    api_settings,
    trained_lake,
    live_server,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("LAKEHOUSE_API_KEY", "test-key")
    get_settings.cache_clear()
    with live_server(create_app(get_settings())) as url:
        assert httpx.post(f"{url}/model/reload").status_code == 401
        assert httpx.post(f"{url}/model/reload", headers={"X-API-Key": "nope"}).status_code == 403
        new = promote_copy(trained_lake.tracking_uri, "fraud-detector")
        response = httpx.post(f"{url}/model/reload", headers={"X-API-Key": "test-key"}, timeout=60)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["changed"] is True and body["models"]["full"] == new
        again = httpx.post(f"{url}/model/reload", headers={"X-API-Key": "test-key"}, timeout=60)
        assert again.json()["changed"] is False


def test_reload_picks_up_a_newer_lake_for_the_same_model(
    trained_lake,
    live_server,
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    import shutil

    from lakehouse import catalog, storage

    data_dir = tmp_path / "data"
    shutil.copytree(trained_lake.data_dir / "lake", data_dir / "lake")
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_lake.tracking_uri)
    monkeypatch.setenv("LAKEHOUSE_MODEL_POLL_SECONDS", "0")
    get_settings.cache_clear()
    settings = get_settings()
    with live_server(create_app(settings)) as url:
        before = httpx.get(f"{url}/model/info").json()["online_state"]
        uri = catalog.location("silver_transactions", settings)
        last = trained_lake.silver.slice(trained_lake.silver.num_rows - 1, 1)
        storage.write(
            uri,
            last.set_column(0, "transaction_id", [[99_999_999]]),
            mode="append",
            settings=settings,
        )
        response = httpx.post(f"{url}/model/reload", timeout=60)
        after = httpx.get(f"{url}/model/info").json()["online_state"]
    assert response.json()["changed"] is True
    assert after["lake_version"] == before["lake_version"] + 1
    assert after["events"] == before["events"] + 1
