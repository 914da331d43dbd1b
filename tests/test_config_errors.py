"""Configuration errors at every entry point: the variable and what is wrong, no secret, no trace.

Issue 14: `LAKEHOUSE_MODE=cloud AWS_SECRET_ACCESS_KEY=... lakehouse serve api` printed a
pydantic traceback whose `input_value` held part of the key. Here real `lakehouse` processes
start with secrets in several variables and a configuration that cannot work; their whole
stdout and stderr must name the wrong variable, hold no piece of any secret and no traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from lakehouse.config import Settings

SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "aws-Secret-9f8e7d6c5b4a3921",
    "LAKEHOUSE_API_KEY": "apiKey-0a1b2c3d4e5f6071",
    "LAKEHOUSE_READ_API_KEY": "readKey-f0e1d2c3b4a59687",
    "LAKEHOUSE_SOURCE_DB_URL": "postgresql://app:dbPass-77a6b5c4d3e2@db.internal:5432/src",
}
COMMANDS = [
    ["serve", "api"],
    ["serve", "sources-api"],
    ["serve", "api-ml"],
    ["serve", "ui"],
    ["sources", "load", "batch.csv"],
    ["pipeline", "run"],
    ["train"],
]
# (extra environment, the variable the message must name, the commands tried)
BROKEN = [
    ({"LAKEHOUSE_MODE": "cloud"}, "LAKEHOUSE_CARD_HASH_KEY", COMMANDS),
    (
        {"LAKEHOUSE_MAX_UPLOAD_MB": "cardHash-5e4d3c2b1a09"},
        "LAKEHOUSE_MAX_UPLOAD_MB",
        [["serve", "sources-api"], ["sources", "load", "batch.csv"]],
    ),
    (
        {"LAKEHOUSE_ANALYTICS_DB_URL": "mysql://u:anPass-1f2e3d4c5b6a@h/db"},
        "LAKEHOUSE_ANALYTICS_DB_URL",
        [["serve", "api"]],
    ),
]


def _pieces(secret: str, size: int = 8) -> set[str]:
    """Every run of `size` characters of a secret (a truncated echo is still a leak)."""
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def _environment(tmp_path: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LAKEHOUSE_", "AWS_")) and k != "MLFLOW_TRACKING_URI"
    }
    env.update(SECRETS, LAKEHOUSE_DATA_DIR=str(tmp_path / "data"), COLUMNS="200", **extra)
    return env


@pytest.mark.parametrize(("extra", "variable", "commands"), BROKEN, ids=[v for _, v, _ in BROKEN])
def test_entry_points_name_the_variable_and_show_no_secret(
    tmp_path: Path, extra: dict[str, str], variable: str, commands: list[list[str]]
) -> None:
    env = _environment(tmp_path, extra)
    secrets = [
        token
        for value in [*SECRETS.values(), *extra.values()]
        for token in re.findall(r"[A-Za-z]+-[0-9a-f]{12,}", value)
    ]
    assert len(secrets) >= len(SECRETS)  # every secret has its recognisable token
    (tmp_path / "batch.csv").write_text("id,date\n")
    # Started together (the machine is small; these are import-bound, not CPU-long).
    running = [
        (
            command,
            subprocess.Popen(
                [sys.executable, "-m", "lakehouse.cli", *command],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            ),
        )
        for command in commands
    ]
    for command, process in running:
        out, err = process.communicate(timeout=180)
        text = out.decode() + err.decode()
        assert process.returncode == 2, (command, text)
        assert variable in text, (command, text)
        assert "Traceback" not in text and "input_value" not in text, (command, text)
        leaked = [piece for secret in secrets for piece in _pieces(secret) if piece in text]
        assert not leaked, (command, leaked)


def test_secrets_are_not_in_the_settings_repr() -> None:
    settings = Settings(
        **{
            "api_key": "k" * 12,
            "read_api_key": "r" * 12,
            "card_hash_key": "c" * 12,
            "aws_secret_access_key": "a" * 12,
            "source_db_url": "postgresql://u:pppppppppppp@h/db",
            "analytics_db_url": "postgresql://u:qqqqqqqqqqqq@h/db",
        }
    )
    shown = repr(settings) + str(settings)
    for letter in "krcapq":
        assert letter * 12 not in shown
    assert isinstance(settings.source_db_url, SecretStr)
