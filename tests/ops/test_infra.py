"""The cloud deployment files: Terraform parsed by a real HCL parser, Ansible syntax-checked.

`terraform init` needs provider downloads (not possible offline), so the HCL is read with
python-hcl2 and held to the deployment's promises: SSH only from the given CIDR, only the
user-facing ports public, the instance size a variable, no secret with a default. The
playbook goes through `ansible-playbook --syntax-check` when Ansible is installed (the lint
extra's virtualenv or the PATH); `make lint` adds ansible-lint, checkov and shellcheck.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import hcl2
import yaml
from testkit import LINT_TOOLS, skip_missing

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "srv" / "infra"


def _load(name: str) -> dict:
    with (INFRA / name).open() as handle:
        return hcl2.load(handle)


def _text(value: object) -> str:
    """python-hcl2 keeps the quotes of string literals; compare without them."""
    return str(value).strip('"')


def _resources(kind: str) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for block in _load("main.tf").get("resource", []):
        for resource_type, instances in block.items():
            if resource_type.strip('"') == kind:
                found.update({k.strip('"'): v for k, v in instances.items()})
    return found


def _variables() -> dict[str, dict]:
    blocks = _load("variables.tf")["variable"]
    return {_text(k): v for block in blocks for k, v in block.items()}


def test_network_is_a_vpc_with_a_public_subnet() -> None:
    assert _text(_resources("aws_vpc")["main"]["cidr_block"]) == "${var.vpc_cidr}"
    subnet = _resources("aws_subnet")["public"]
    assert _text(subnet["vpc_id"]) == "${aws_vpc.main.id}"
    assert _resources("aws_internet_gateway") and _resources("aws_route_table_association")
    assert _resources("aws_flow_log"), "VPC flow logs are part of the design"
    default = _resources("aws_default_security_group")["default"]
    assert "ingress" not in default and "egress" not in default, "default SG must stay empty"


def test_only_ssh_from_the_admin_cidr_and_the_public_ports_are_open() -> None:
    ingress = _resources("aws_vpc_security_group_ingress_rule")
    assert set(ingress) == {"ssh", "public"}
    assert _text(ingress["ssh"]["cidr_ipv4"]) == "${var.ssh_allowed_cidr}"
    assert ingress["ssh"]["from_port"] == ingress["ssh"]["to_port"] == 22
    assert "var.public_ports" in ingress["public"]["for_each"]
    variables = _variables()
    assert variables["public_ports"]["default"] == [3000, 8501, 9997, 9999]
    assert "default" not in variables["ssh_allowed_cidr"], "the operator must name the CIDR"
    assert "0.0.0.0/0" in variables["ssh_allowed_cidr"]["validation"][0]["condition"]
    # Nothing else may be opened by an inline rule on the group itself.
    group = _resources("aws_security_group")["lakehouse"]
    assert "ingress" not in group and "egress" not in group


def test_instance_size_is_a_variable_and_the_disk_is_encrypted() -> None:
    instance = _resources("aws_instance")["lakehouse"]
    assert _text(instance["instance_type"]) == "${var.instance_type}"
    assert _variables()["instance_type"]["default"]
    root = instance["root_block_device"][0]
    assert root["encrypted"] is True
    assert _text(instance["metadata_options"][0]["http_tokens"]) == "required"


def test_no_secret_has_a_default_and_outputs_feed_the_inventory() -> None:
    variables = _variables()
    for name in ("ssh_public_key", "ssh_allowed_cidr"):
        assert "default" not in variables[name]
    outputs = {_text(k) for block in _load("outputs.tf")["output"] for k in block}
    assert {"public_ip", "admin_user", "instance_id", "service_urls"} <= outputs
    script = (ROOT / "srv" / "deploy_pipeline.sh").read_text()
    for name in ("public_ip", "admin_user"):
        assert f"output -raw {name}" in script


def test_playbook_installs_docker_starts_the_stack_and_waits_for_health() -> None:
    playbook = yaml.safe_load((ROOT / "srv" / "ansible" / "playbook.yml").read_text())
    assert [r["role"] for r in playbook[0]["roles"]] == ["docker", "lakehouse"]
    roles = ROOT / "srv" / "ansible" / "roles"
    docker = (roles / "docker" / "tasks" / "main.yml").read_text()
    assert "docker-compose-plugin" in (roles / "docker" / "defaults" / "main.yml").read_text()
    assert "ansible.builtin.apt" in docker
    tasks = yaml.safe_load((roles / "lakehouse" / "tasks" / "main.yml").read_text())
    waits = [t for t in tasks if "ansible.builtin.uri" in t]
    assert [t["until"] for t in waits] == ["lakehouse_live.status == 200",
                                           "lakehouse_health.status == 200"]
    defaults = yaml.safe_load((roles / "lakehouse" / "defaults" / "main.yml").read_text())
    urls = [*defaults["lakehouse_live_urls"].values(), *defaults["lakehouse_ready_urls"].values()]
    for port in (9998, 9999, 9997, 8501, 8000, 5000, 9090, 3000, 9200, 9000):
        assert any(f":{port}/" in url for url in urls), f"no health check on {port}"
    assert defaults["lakehouse_ready_urls"] == {"api": "http://127.0.0.1:9999/health",
                                                "api_ml": "http://127.0.0.1:9997/health"}
    bootstrap = yaml.safe_load((roles / "lakehouse" / "tasks" / "bootstrap.yml").read_text())
    commands = " ".join(t["ansible.builtin.command"]["cmd"] for t in bootstrap[1]["block"])
    for step in ("lakehouse generate", "sources load", "pipeline run", "lakehouse train"):
        assert step in commands


def test_playbook_syntax_check() -> None:
    local = ROOT / ".venv-lint" / "bin" / "ansible-playbook"
    binary = str(local) if local.exists() else shutil.which("ansible-playbook")
    if binary is None:
        skip_missing("ansible-playbook", LINT_TOOLS)
    folder = ROOT / "srv" / "ansible"
    result = subprocess.run(
        [binary, "-i", "inventory.example.ini", "--syntax-check", "playbook.yml"],
        cwd=folder, env={"PATH": f"{Path(binary).parent}:/usr/bin:/bin",
                         "ANSIBLE_CONFIG": str(folder / "ansible.cfg"),
                         "ANSIBLE_LOCAL_TEMP": "/tmp", "HOME": "/tmp"},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_script_refuses_to_run_without_what_it_needs(tmp_path: Path) -> None:
    result = subprocess.run(["bash", str(ROOT / "srv" / "deploy_pipeline.sh"), "--bogus"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "unknown option --bogus" in result.stderr
    help_text = subprocess.run(["bash", str(ROOT / "srv" / "deploy_pipeline.sh"), "--help"],
                               capture_output=True, text=True, timeout=30)
    assert help_text.returncode == 0 and "--ssh-cidr" in help_text.stdout
