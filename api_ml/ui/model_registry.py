"""What the Model page shows about the registered models, read from MLflow.

Training (`lakehouse.ml.tracking`) logs each model's run with its test metrics, the metrics of
a logistic-regression baseline, and four plots (`plots/roc_curve.png`, `pr_curve.png`,
`feature_importance.png`, `score_distribution.png`), then registers it under
`fraud-detector` / `fraud-detector-basic` with the alias `champion` or `challenger` and a
`promotion` tag saying why. This module reads those back from the MLflow store named by
`Settings.mlflow_tracking_uri` — the version behind each alias, its run's metrics and tags, and
the plot files (downloaded to a temporary folder, returned as bytes) — so the page can put the
champion and the challenger side by side.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lakehouse.ml.registry import (
    BASIC_MODEL_NAME,
    CHALLENGER,
    CHAMPION,
    FULL_MODEL_NAME,
    mlflow_client,
    version_by_alias,
)

MODEL_NAMES = (FULL_MODEL_NAME, BASIC_MODEL_NAME)
PLOTS = {"roc_curve.png": "ROC curve", "pr_curve.png": "Precision-recall curve",
         "feature_importance.png": "Feature importance",
         "score_distribution.png": "Score distribution"}


class RegistryUnavailable(RuntimeError):
    """The MLflow store cannot be read (the message names the URI and what to do)."""


@dataclass
class RegisteredVersion:
    """One registered version behind an alias, with its run's figures and plots."""

    name: str
    alias: str
    version: str
    run_id: str
    promotion: str
    metrics: dict[str, float]
    params: dict[str, str]
    plots: dict[str, bytes] = field(default_factory=dict)

    def test_metrics(self) -> dict[str, float]:
        """`test_*` metrics without the prefix (the model's figures on the test window)."""
        return {k.removeprefix("test_"): v for k, v in self.metrics.items()
                if k.startswith("test_")}

    def baseline_metrics(self) -> dict[str, float]:
        return {k.removeprefix("baseline_test_"): v for k, v in self.metrics.items()
                if k.startswith("baseline_test_")}


def _plots(client: object, run_id: str) -> dict[str, bytes]:
    from mlflow.exceptions import MlflowException

    found: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="lakehouse-ui-plots-") as tmp:
        for name in PLOTS:
            try:
                local = client.download_artifacts(run_id, f"plots/{name}", tmp)  # type: ignore[attr-defined]
            except (MlflowException, OSError):
                continue  # an older run without this plot: show the others
            found[name] = Path(local).read_bytes()
    return found


def registered_versions(tracking_uri: str, with_plots: bool = True) -> list[RegisteredVersion]:
    """Champion and challenger of each model name that has them (champions first).

    Raises:
        RegistryUnavailable: the store cannot be opened or queried.
    """
    from mlflow.exceptions import MlflowException

    # Opening a missing SQLite store would create an empty one: say there is nothing instead.
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri[10:]).is_file():
        return []
    try:
        client, _ = mlflow_client(tracking_uri)
        out: list[RegisteredVersion] = []
        for alias in (CHAMPION, CHALLENGER):
            for name in MODEL_NAMES:
                version = version_by_alias(client, name, alias)
                if version is None:
                    continue  # no such model or alias: nothing to show for it
                run = client.get_run(version.run_id)
                out.append(RegisteredVersion(
                    name=name, alias=alias, version=str(version.version),
                    run_id=str(version.run_id),
                    promotion=str((version.tags or {}).get("promotion", "")),
                    metrics=dict(run.data.metrics), params=dict(run.data.params),
                    plots=_plots(client, version.run_id) if with_plots else {},
                ))
        return out
    except MlflowException as exc:
        raise RegistryUnavailable(
            f"the MLflow store at {tracking_uri} cannot be read ({exc.__class__.__name__}: "
            f"{str(exc)[:200]}); check MLFLOW_TRACKING_URI"
        ) from exc


def comparison_rows(versions: list[RegisteredVersion]) -> list[dict[str, object]]:
    """One row per metric, one column per `name vX (alias)`, plus the logistic baseline."""
    metric_names: list[str] = []
    for version in versions:
        metric_names += [m for m in version.test_metrics() if m not in metric_names]
    rows = []
    for metric in metric_names:
        row: dict[str, object] = {"metric": metric}
        for version in versions:
            column = f"{version.name} v{version.version} ({version.alias})"
            row[column] = version.test_metrics().get(metric)
        if versions:
            row["logistic baseline"] = versions[0].baseline_metrics().get(metric)
        rows.append(row)
    return rows
