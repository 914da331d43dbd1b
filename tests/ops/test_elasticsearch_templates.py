"""Elasticsearch index templates and their installer, against a recording HTTP server.

No Elasticsearch runs here, so a loopback server stands in for its `_index_template` API:
`elasticsearch/install_templates.sh` (what the `elasticsearch_init` container runs) must
PUT every template, as valid JSON, under its file name. The templates must cover the index
names the code actually writes: `lakehouse-logs-YYYY.MM.DD` (the log shipper) and
`lakehouse-predictions-YYYY.MM.DD` (the scoring API's audit trail).
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from testkit import APT, skip_missing

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "elasticsearch" / "templates"


class _Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.command, self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"acknowledged":true}')

    def log_message(self, *args: object) -> None:  # keep the test output quiet
        return None


@pytest.fixture
def fake_elasticsearch() -> Iterator[tuple[str, list]]:
    _Recorder.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.received
    finally:
        server.shutdown()


def test_installer_puts_every_template(fake_elasticsearch: tuple[str, list]) -> None:
    if shutil.which("curl") is None:
        skip_missing("curl", f"{APT} curl")
    url, received = fake_elasticsearch
    result = subprocess.run(["sh", str(ROOT / "elasticsearch" / "install_templates.sh")],
                            env={"ELASTICSEARCH_URL": url, "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    names = sorted(p.stem for p in TEMPLATES.glob("*.json"))
    assert sorted(path.rsplit("/", 1)[1] for _, path, _ in received) == names
    for method, path, body in received:
        assert method == "PUT" and path.startswith("/_index_template/")
        template = TEMPLATES / f"{path.rsplit('/', 1)[1]}.json"
        assert json.loads(body) == json.loads(template.read_text())


def test_installer_without_url_says_what_to_set() -> None:
    result = subprocess.run(["sh", str(ROOT / "elasticsearch" / "install_templates.sh")],
                            env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode != 0 and "ELASTICSEARCH_URL" in result.stderr


@pytest.mark.parametrize(("index", "template"), [
    ("lakehouse-logs-2026.11.27", "lakehouse-logs"),
    ("lakehouse-predictions-2026.11.27", "lakehouse-predictions"),
])
def test_templates_match_the_indices_the_code_writes(index: str, template: str) -> None:
    from api_ml.api.audit import INDEX_PREFIX as PREDICTIONS_PREFIX
    from lakehouse.observability.elasticsearch import INDEX_PREFIX as LOGS_PREFIX

    assert index.startswith((LOGS_PREFIX, PREDICTIONS_PREFIX))
    body = json.loads((TEMPLATES / f"{template}.json").read_text())
    assert any(fnmatch.fnmatch(index, pattern) for pattern in body["index_patterns"])
    properties = body["template"]["mappings"]["properties"]
    assert properties["@timestamp"]["type"] == "date"


def test_prediction_mapping_covers_the_audited_answer() -> None:
    from api_ml.api.schemas import PredictionResponse

    properties = json.loads((TEMPLATES / "lakehouse-predictions.json").read_text())[
        "template"]["mappings"]["properties"]
    audited = set(PredictionResponse.model_fields) - {"features"}
    assert audited <= set(properties), f"unmapped: {sorted(audited - set(properties))}"
    assert {"request", "event"} <= set(properties)
