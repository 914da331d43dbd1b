"""Analysts' credentials: scrypt hashes, login, bearer tokens, expiry, password reset."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from lakehouse.cases import auth
from lakehouse.cases.schema import case_users
from lakehouse.cli import app

HOUR = timedelta(hours=1)
PASSWORD = "correct horse battery"


def test_a_password_is_stored_only_as_a_salted_hash() -> None:
    first, second = auth.hash_password(PASSWORD), auth.hash_password(PASSWORD)
    assert first != second and PASSWORD not in first
    assert auth.verify_password(PASSWORD, first)
    assert not auth.verify_password("wrong password!", first)
    assert not auth.verify_password(PASSWORD, "garbage")


def test_login_issues_a_token_that_names_the_analyst(case_engine: sa.Engine) -> None:
    auth.add_user(case_engine, "alice", "analyst", PASSWORD)
    token, actor, _ = auth.login(case_engine, "alice", PASSWORD, HOUR)
    assert auth.actor_for_token(case_engine, token) == actor
    assert actor.role == "analyst"
    with pytest.raises(auth.InvalidCredentials):
        auth.login(case_engine, "alice", "wrong password!", HOUR)
    with pytest.raises(auth.InvalidCredentials):
        auth.login(case_engine, "nobody", PASSWORD, HOUR)
    with pytest.raises(auth.InvalidCredentials):
        auth.actor_for_token(case_engine, token + "x")


def test_expired_tokens_and_reset_passwords_stop_working(case_engine: sa.Engine) -> None:
    auth.add_user(case_engine, "lena", "lead", PASSWORD)
    expired, _, _ = auth.login(case_engine, "lena", PASSWORD, -HOUR)
    with pytest.raises(auth.InvalidCredentials, match="expired"):
        auth.actor_for_token(case_engine, expired)
    token, _, _ = auth.login(case_engine, "lena", PASSWORD, HOUR)
    auth.add_user(case_engine, "lena", "analyst", "a brand new password")
    with pytest.raises(auth.InvalidCredentials):
        auth.actor_for_token(case_engine, token)


@pytest.mark.parametrize(
    ("name", "role", "password"),
    [
        ("Alice", "analyst", PASSWORD),
        ("alice", "admin", PASSWORD),
        ("alice", "lead", "short"),
    ],
)
def test_bad_users_are_refused(case_engine: sa.Engine, name: str, role: str, password: str) -> None:
    with pytest.raises(ValueError):
        auth.add_user(case_engine, name, role, password)


def test_the_cli_provisions_a_user_from_stdin(isolated_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["cases", "add-user", "carol", "--role", "lead", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    refused = runner.invoke(app, ["cases", "add-user", "dave", "--password-stdin"], input="short\n")
    assert refused.exit_code == 1 and "12 characters" in refused.output
    engine = sa.create_engine(f"sqlite:///{isolated_settings / 'analytics.db'}")
    with engine.connect() as connection:
        users = connection.execute(sa.select(case_users.c.username, case_users.c.role)).all()
    engine.dispose()
    assert users == [("carol", "lead")]
