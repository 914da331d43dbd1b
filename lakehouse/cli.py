"""The `lakehouse` command: one entry point for every job of the platform.

Each area owns its sub-commands next to its code (`lakehouse/datagen/cli.py`,
`lakehouse/sources/cli.py`, `lakehouse/pipeline_cli.py`, `lakehouse/ml/cli.py`,
`lakehouse/features/cli.py`, `lakehouse/serve.py`, `lakehouse/demo.py`,
`lakehouse/monitoring/cli.py`, `lakehouse/cases/cli.py`); this module only gathers them, so
`lakehouse --help` lists everything and heavy libraries load only for the command that runs.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click
import typer
from typer.core import TyperGroup

from lakehouse.config import ConfigurationError

# Every sub-command: its name -> "module:attribute", a Typer app (a group of commands) or a
# function (one command). A command's module is imported only when that command runs (or
# when `--help` lists them all): `lakehouse pipeline run`, the daily job, does not pay for
# the UI, the APIs, the model libraries or the demo.
COMMANDS: dict[str, str] = {
    "generate": "lakehouse.datagen.cli:generate",
    "sources": "lakehouse.sources.cli:app",
    "pipeline": "lakehouse.pipeline_cli:app",
    "train": "lakehouse.ml.cli:train",
    "features": "lakehouse.features.cli:app",
    "serve": "lakehouse.serve:app",
    "demo": "lakehouse.demo:demo",
    "monitor": "lakehouse.monitoring.cli:app",
    "cases": "lakehouse.cases.cli:app",
}


def _command(name: str) -> click.Command:
    """The click command `name` of `COMMANDS`, its module imported now."""
    module, attribute = COMMANDS[name].split(":")
    target = getattr(importlib.import_module(module), attribute)
    # Registered as `app.add_typer(...)` / `app.command(...)` would, on a group of its own.
    holder = typer.Typer(add_completion=False)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    return typer.main.get_group(holder).commands[name]


class _Commands(TyperGroup):
    """The sub-commands of `COMMANDS`, each loaded on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return _command(cmd_name) if cmd_name in COMMANDS else None


class _Lakehouse(typer.Typer):
    """The command, with one rule on top: a configuration error is a message, not a trace.

    The message names each wrong variable and what is wrong (`ConfigurationError` never
    carries a value, since a value may be a secret); the exit code is 2, like a usage error.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ConfigurationError as exc:
            print(
                f"lakehouse: configuration error\n{exc}\nFix the variable(s) above "
                "(see .env.example) and run the command again.",
                file=sys.stderr,
            )
            raise SystemExit(2) from None


app = _Lakehouse(
    name="lakehouse",
    help="Fraud-detection lakehouse: generate data, load the source system, run the "
    "pipeline, train the model and serve the APIs and the UI.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    cls=_Commands,
)


@app.callback()
def _main() -> None:
    """The sub-commands of `COMMANDS` (a group needs a callback to exist without them)."""


if __name__ == "__main__":
    app()
