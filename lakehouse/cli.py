"""The `lakehouse` command: one entry point for every job of the platform.

Each area owns its sub-commands next to its code (`lakehouse/datagen/cli.py`,
`lakehouse/sources/cli.py`, `lakehouse/pipeline_cli.py`, `lakehouse/ml/cli.py`,
`lakehouse/features/cli.py`, `lakehouse/serve.py`, `lakehouse/demo.py`,
`lakehouse/monitoring/cli.py`, `lakehouse/cases/cli.py`); this module only gathers them, so
`lakehouse --help` lists everything and heavy libraries load only for the command that runs.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from lakehouse import demo, pipeline_cli, serve
from lakehouse.cases import cli as cases_cli
from lakehouse.config import ConfigurationError
from lakehouse.datagen import cli as datagen_cli
from lakehouse.features import cli as features_cli
from lakehouse.ml import cli as ml_cli
from lakehouse.monitoring import cli as monitoring_cli
from lakehouse.sources import cli as sources_cli


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
)

app.command("generate")(datagen_cli.generate)
app.add_typer(sources_cli.app, name="sources")
app.add_typer(pipeline_cli.app, name="pipeline")
app.command("train")(ml_cli.train)
app.add_typer(features_cli.app, name="features")
app.add_typer(serve.app, name="serve")
app.command("demo")(demo.demo)
app.add_typer(monitoring_cli.app, name="monitor")
app.add_typer(cases_cli.app, name="cases")


if __name__ == "__main__":
    app()
