"""Fixtures of the UI tests: the whole platform, small, running on loopback.

`ui_stack` builds once per session what an analyst's browser talks to, with the project's
own code: generated raw files (`ui_raw_dir`, fraud made denser) loaded into the source DB as monthly
batches (`lakehouse.demo.load_monthly_batches`), sources_api serving them, the pipeline run
(bronze → silver → gold → publish), both model flavours trained and registered into a
temporary MLflow store (a second training run of the same data registers a challenger), and
the datamarts API and the scoring API serving the result — each a real uvicorn server on a
free loopback port. `ui_env` points a test's environment at that stack.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lakehouse.config import Settings, get_settings
from lakehouse.ml.training_data import TrainConfig


def _suite_helpers():  # type: ignore[no-untyped-def]
    # `from conftest import ...` here would find this very file (pytest puts tests/ui first on
    # sys.path for it), so the suite's helpers (`serve_app`, `free_port`) are loaded by path.
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("lakehouse_suite_helpers", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


suite = _suite_helpers()
serve_app = suite.serve_app
free_port = suite.free_port

# Small data, small model: both flavours train in seconds (as in tests/api_ml).
SMALL_TRAINING = TrainConfig(min_frauds_per_window=3, num_boost_round=60,
                             early_stopping_rounds=20, num_leaves=8, min_child_samples=5)
# The training tests' proportions (tests/ml): enough labeled frauds in each time window.
UI_CLIENTS = 90
UI_TRANSACTIONS = 60_000
FRAUD_MULTIPLIER = 8.0


@dataclass
class UiStack:
    settings: Settings
    env: dict[str, str]  # what the UI process needs to find every part of the stack


def _pipeline_and_models(settings: Settings) -> None:
    from lakehouse.ml.tracking import report_as_dict, train_and_register
    from lakehouse.orchestrator import run_pipeline

    results = run_pipeline(settings, skip=("train",))
    failed = [r for r in results if r.status == "failed"]
    assert not failed, [(r.stage, r.message) for r in failed]
    first = train_and_register(settings, SMALL_TRAINING)
    assert all(o.promoted for o in first.outcomes), report_as_dict(first)
    # The same data again cannot beat the champion: it stays registered as the challenger.
    train_and_register(settings, SMALL_TRAINING, flavours=("basic",))


@pytest.fixture(scope="session")
def ui_raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated raw files with fraud made denser, so every training window holds frauds."""
    from lakehouse.datagen import generate

    out = tmp_path_factory.mktemp("ui_raw")
    generate(out, clients=UI_CLIENTS, transactions=UI_TRANSACTIONS, seed=7,
             start="2018-01-01", end="2018-12-31", fraud_multiplier=FRAUD_MULTIPLIER)
    return out


@pytest.fixture(scope="session")
def ui_stack(ui_raw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiStack]:
    """sources_api, datamarts API and scoring API over a freshly built small platform.

    The environment points at the stack only while it is built; each server keeps the
    settings it was built with, so the tests that run after these in the same process see
    their own environment (`ui_env` points a test at the stack).
    """
    from lakehouse.demo import load_monthly_batches

    root = tmp_path_factory.mktemp("ui_stack")
    env = {"LAKEHOUSE_DATA_DIR": str(root / "data"), "LAKEHOUSE_RAW_DIR": str(ui_raw_dir),
           "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
           "LAKEHOUSE_MODEL_POLL_SECONDS": "0"}
    with contextlib.ExitStack() as servers:
        with pytest.MonkeyPatch.context() as patch:
            for name in list(os.environ):
                if name.startswith("LAKEHOUSE_") or name == "MLFLOW_TRACKING_URI":
                    patch.delenv(name)
            for name, value in env.items():
                patch.setenv(name, value)
            get_settings.cache_clear()
            load_monthly_batches(get_settings())
            from sources_api.api import create_app as sources_app

            sources, source_settings = sources_app(), get_settings()
            # Its routes read `get_settings()` at each request: they keep this stack's.
            sources.dependency_overrides[get_settings] = lambda: source_settings
            env["LAKEHOUSE_SOURCES_API_URL"] = servers.enter_context(serve_app(sources))
            patch.setenv("LAKEHOUSE_SOURCES_API_URL", env["LAKEHOUSE_SOURCES_API_URL"])
            get_settings.cache_clear()
            settings = get_settings()
            _pipeline_and_models(settings)

            from api.fastapi_app import create_app as api_app
            from api_ml.api.main import create_app as api_ml_app

            env["LAKEHOUSE_API_URL"] = servers.enter_context(serve_app(api_app(settings)))
            env["LAKEHOUSE_API_ML_URL"] = servers.enter_context(serve_app(api_ml_app(settings)))
        get_settings.cache_clear()
        yield UiStack(settings, env)
    get_settings.cache_clear()


@pytest.fixture
def ui_env(ui_stack: UiStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[UiStack]:
    """This test's environment (and `get_settings()`) pointing at the running stack."""
    for name in list(os.environ):
        if name.startswith("LAKEHOUSE_") or name == "MLFLOW_TRACKING_URI":
            monkeypatch.delenv(name)
    for name, value in ui_stack.env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield ui_stack
    get_settings.cache_clear()


@pytest.fixture
def down_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every service URL pointing at a closed loopback port; an empty data folder."""
    for name in list(os.environ):
        if name.startswith("LAKEHOUSE_") or name == "MLFLOW_TRACKING_URI":
            monkeypatch.delenv(name)
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path / "data"))
    for name in ("LAKEHOUSE_API_URL", "LAKEHOUSE_API_ML_URL", "LAKEHOUSE_SOURCES_API_URL"):
        monkeypatch.setenv(name, closed)
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def ui_server(ui_stack: UiStack) -> Iterator[str]:
    """`streamlit run` of the app in a subprocess (as `lakehouse serve ui` starts it)."""
    import subprocess

    from lakehouse.serve import ui_command

    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LAKEHOUSE_") and k != "MLFLOW_TRACKING_URI"}
    env.update(ui_stack.env)
    log = ui_stack.settings.data_dir / "streamlit.log"
    with log.open("wb") as out:
        process = subprocess.Popen(ui_command("127.0.0.1", port), env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        suite.wait_http(f"{url}/_stcore/health", timeout=60)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
