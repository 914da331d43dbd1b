"""The `lakehouse` command: one entry point for every job of the platform.

Each area owns its sub-commands next to its code (`lakehouse/datagen/cli.py`,
`lakehouse/sources/cli.py`, `lakehouse/pipeline_cli.py`, `lakehouse/ml/cli.py`,
`lakehouse/serve.py`, `lakehouse/demo.py`, `lakehouse/monitoring/cli.py`); this module only
gathers them, so `lakehouse --help` lists everything and heavy libraries load only for the
command that runs.
"""

from __future__ import annotations

import typer

from lakehouse import demo, pipeline_cli, serve
from lakehouse.datagen import cli as datagen_cli
from lakehouse.ml import cli as ml_cli
from lakehouse.monitoring import cli as monitoring_cli
from lakehouse.sources import cli as sources_cli

app = typer.Typer(
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
app.add_typer(serve.app, name="serve")
app.command("demo")(demo.demo)
app.add_typer(monitoring_cli.app, name="monitor")


if __name__ == "__main__":
    app()
