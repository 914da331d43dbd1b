"""`lakehouse serve all` / `make run` say "ready" only once every health check passes.

Real HTTP servers on loopback stand in for the services: one whose `/health` answers 503
(a scoring API without its models) until it is told it is ready, one always healthy.
"""

from __future__ import annotations

import subprocess
import sys

from fastapi import FastAPI, Response
from testkit import serve_app

from lakehouse.serve import UI_NAME, ready_line, service_urls, wait_until_ready


def _health_app(state: dict[str, bool]) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    def health() -> Response:
        ready = state["ready"]
        return Response("ok" if ready else "no champion", status_code=200 if ready else 503)

    return app


def test_waits_for_every_health_check_then_names_every_url() -> None:
    models = {"ready": False}
    with serve_app(_health_app(models)) as api_ml, serve_app(_health_app({"ready": True})) as api:
        urls = {"api": api, "api-ml": api_ml}
        running = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])]
        try:
            reasons = wait_until_ready(urls, running, timeout=0)
            assert list(reasons) == ["api-ml"] and "503 no champion" in reasons["api-ml"]
            models["ready"] = True
            assert wait_until_ready(urls, running) == {}
        finally:
            running[0].kill()
    line = ready_line(urls)
    assert "\n" not in line
    assert f"api {api}/docs" in line and f"api-ml {api_ml}/docs" in line


def test_a_service_that_exits_ends_the_wait_with_its_reason() -> None:
    with serve_app(_health_app({"ready": False})) as url:
        exited = [subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])]
        exited[0].wait()
        assert "api-ml" in wait_until_ready({"api-ml": url}, exited, timeout=600)


def test_urls_use_the_default_ports_and_the_ui_last() -> None:
    urls = service_urls("127.0.0.1", ports={"sources-api": 18998})
    assert urls == {
        "sources-api": "http://127.0.0.1:18998",
        "api": "http://127.0.0.1:9999",
        "api-ml": "http://127.0.0.1:9997",
        UI_NAME: "http://127.0.0.1:8501",
    }
    assert ready_line(urls).endswith(f"{UI_NAME} http://127.0.0.1:8501")
