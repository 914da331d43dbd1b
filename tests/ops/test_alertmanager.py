"""Alerts reach someone: real Prometheus -> real Alertmanager -> a webhook on loopback.

Prometheus (Debian's `prometheus`) loads prometheus/alerts.yml with every `for:` cut to zero
and scrapes an `api_ml` target where nothing listens, so the real `ServiceDown` rule fires
within seconds. Alertmanager (Debian's `prometheus-alertmanager`) is started through
alertmanager/entrypoint.sh exactly as the container starts it, from alertmanager/alertmanager.yml
with its waits cut to one second; the webhook of the environment is a loopback HTTP server
that records what it receives. The SMTP relay is a closed loopback port: mail cannot be
delivered here, so the test checks that the critical alert was routed to the email receiver
too (Alertmanager's own API lists the receivers of each alert).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml
from promkit import ROOT, alertmanager_server, prometheus_server, rules_without_for, wait_for
from testkit import APT, free_port, skip_missing

pytestmark = pytest.mark.slow
SMTP_PASSWORD = "not-a-real-smtp-password"


class Webhook(ThreadingHTTPServer):
    """A loopback receiver recording every JSON notification Alertmanager posts."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        super().__init__(("127.0.0.1", 0), _WebhookHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/alerts"


class _WebhookHandler(BaseHTTPRequestHandler):
    server: Webhook

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = Webhook()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def environment(webhook_url: str) -> dict[str, str]:
    """What .env gives the alertmanager service; the relay is a port nobody listens on."""
    return {
        "SMTP_SMARTHOST": f"127.0.0.1:{free_port()}",
        "SMTP_FROM": "alerts@example.org",
        "SMTP_USERNAME": "alerts@example.org",
        "SMTP_PASSWORD": SMTP_PASSWORD,
        "ALERT_EMAIL_TO": "oncall@example.org",
        "ALERT_WEBHOOK_URL": webhook_url,
    }


def fast_alertmanager_config(tmp: Path) -> Path:
    config = yaml.safe_load((ROOT / "alertmanager" / "alertmanager.yml").read_text())
    config["route"].update(group_wait="1s", group_interval="1s")
    path = tmp / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def fast_prometheus_config(tmp: Path, prometheus_port: int, alertmanager_port: int) -> Path:
    """prometheus.yml with 1 s cycles, the rules without `for:`, api_ml on a dead port."""
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(rules_without_for(tmp))]
    config["alerting"]["alertmanagers"][0]["static_configs"] = [
        {"targets": [f"127.0.0.1:{alertmanager_port}"]}
    ]
    config["scrape_configs"] = [
        {"job_name": "api_ml", "static_configs": [{"targets": [f"127.0.0.1:{free_port()}"]}]},
        {
            "job_name": "prometheus",
            "static_configs": [{"targets": [f"127.0.0.1:{prometheus_port}"]}],
        },
    ]
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_firing_rule_reaches_the_webhook_and_the_email_route(
    tmp_path: Path, webhook: Webhook
) -> None:
    am_port, prom_port = free_port(), free_port()
    env = environment(webhook.url)
    with (
        alertmanager_server(fast_alertmanager_config(tmp_path), am_port, tmp_path, env) as am,
        prometheus_server(
            fast_prometheus_config(tmp_path, prom_port, am_port), prom_port, tmp_path
        ),
    ):

        def service_down_notified() -> list[dict]:
            return [
                alert
                for message in webhook.received
                for alert in message["alerts"]
                if alert["labels"]["alertname"] == "ServiceDown" and alert["status"] == "firing"
            ]

        wait_for(service_down_notified, timeout=60)
        alert = service_down_notified()[0]
        assert alert["labels"]["job"] == "api_ml"
        assert alert["labels"]["severity"] == "critical"
        assert "docker compose logs api_ml" in alert["annotations"]["description"]
        routed = httpx.get(f"{am}/api/v2/alerts", timeout=10).json()
        receivers = {
            r["name"]
            for a in routed
            if a["labels"]["alertname"] == "ServiceDown"
            for r in a["receivers"]
        }
        assert receivers == {"email-and-webhook"}
    rendered = (tmp_path / "alertmanager" / "alertmanager.yml").read_text()
    assert SMTP_PASSWORD not in rendered, "the password must only be in the password file"


def test_rendered_config_is_valid_and_repository_holds_no_address(tmp_path: Path) -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        skip_missing("amtool", f"{APT} prometheus-alertmanager")
    env = {
        **environment("https://hooks.example.org/alerts?a=1&b=2"),
        "ALERTMANAGER_CONFIG": str(ROOT / "alertmanager" / "alertmanager.yml"),
        "ALERTMANAGER_WORK_DIR": str(tmp_path),
        # Render only: `true` stands in for the binary the script execs at the end.
        "ALERTMANAGER_BIN": str(shutil.which("true")),
    }
    subprocess.run(
        ["sh", str(ROOT / "alertmanager" / "entrypoint.sh")], env=env, check=True, timeout=30
    )
    rendered = tmp_path / "alertmanager.yml"
    assert "https://hooks.example.org/alerts?a=1&b=2" in rendered.read_text()
    check = subprocess.run(
        [amtool, "check-config", str(rendered)], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert (tmp_path / "smtp_password").read_text() == SMTP_PASSWORD
    source = (ROOT / "alertmanager" / "alertmanager.yml").read_text()
    assert "@" not in source and "smtp_auth_password:" not in source
