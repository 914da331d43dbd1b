"""`lakehouse cases ...`: provision the analysts who work the case queue.

`lakehouse cases add-user alice --role analyst` asks for the password twice (or reads one
line from stdin with `--password-stdin`, for scripts) and stores its scrypt hash in the
analytics DB at `LAKEHOUSE_ANALYTICS_DB_URL`; adding an existing user replaces the password
and role and revokes their tokens. No user and no password ships with the platform.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from lakehouse.cases import auth
from lakehouse.cases.schema import ensure_schema
from lakehouse.cases.workflow import ROLES
from lakehouse.config import get_settings
from lakehouse.pipeline.publish import analytics_engine

app = typer.Typer(help="The fraud analysts' case queue.", no_args_is_help=True)
console = Console(stderr=True)


@app.command("add-user")
def add_user(
    username: Annotated[str, typer.Argument(help="Login name: lowercase letters, digits, _ . -")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")] = "analyst",
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
    ] = False,
) -> None:
    """Create an analyst or lead (or reset their password and role)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    engine = analytics_engine(get_settings().analytics_db_url or "")
    try:
        ensure_schema(engine)
        auth.add_user(engine, username, role, password)
    except ValueError as error:
        console.print(f"[bold red]Not added:[/] {error}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    console.print(f"[green]{username}[/] can log in to the case queue as {role}.")
