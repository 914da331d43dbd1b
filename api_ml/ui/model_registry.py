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

from lakehouse.config import get_settings
from lakehouse.datagen.truth import MECHANISM_NAMES
from lakehouse.ml.mechanisms import CARD_TOP_K
from lakehouse.ml.registry import (
    CHALLENGER,
    CHAMPION,
    mlflow_client,
    model_names,
    version_by_alias,
)

PLOTS = {"roc_curve.png": "ROC curve", "pr_curve.png": "Precision-recall curve",
         "feature_importance.png": "Feature importance",
         "score_distribution.png": "Score distribution"}


# Per-mechanism metric (suffix of `test_<mechanism>_<metric>`) -> column title on the page.
MECHANISM_COLUMNS = {
    "frauds": "frauds in test window",
    "recall_at_1pct_fpr": "recall at 1 % FPR",
    "average_precision": "average precision",
    f"card_precision_at_{CARD_TOP_K}": f"card precision@{CARD_TOP_K}",
    "recall_at_threshold": "recall at threshold",
}
MECHANISM_PREFIXES = (*(f"{name}_" for name in MECHANISM_NAMES.values()), "breach_")


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
        """`test_*` metrics without the prefix: the model's figures on the test window.

        The per-mechanism ones are left out (`mechanism_metrics`).

        Returns:
            `{metric: value}`.
        """
        return {k: v for k, v in self._test_metrics().items()
                if not k.startswith(MECHANISM_PREFIXES)}

    def mechanism_metrics(self) -> dict[str, float]:
        """The test window's metrics per fraud mechanism (empty on the real dataset).

        Returns:
            `{"<mechanism>_<metric>": value}`.
        """
        return {k: v for k, v in self._test_metrics().items() if k.startswith(MECHANISM_PREFIXES)}

    def _test_metrics(self) -> dict[str, float]:
        return {k.removeprefix("test_"): v for k, v in self.metrics.items()
                if k.startswith("test_")}

    def baseline_metrics(self) -> dict[str, float]:
        """The logistic baseline's test metrics, without their prefix.

        Returns:
            `{metric: value}`.
        """
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

    Args:
        tracking_uri: the MLflow store.
        with_plots: also download each run's plots.

    Returns:
        The versions with their metrics, params, promotion reason and plots.

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
            for name in model_names(get_settings()):
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
    """One row per metric, one column per `name vX (alias)`, plus the logistic baseline.

    Args:
        versions: what `registered_versions` returned.

    Returns:
        The table's rows.
    """
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


def mechanism_rows(version: RegisteredVersion) -> list[dict[str, object]]:
    """One row per fraud mechanism the generator knows, one column per metric.

    Args:
        version: one registered version.

    Returns:
        Rows `{"mechanism": name, <MECHANISM_COLUMNS titles>: value or None}`; empty when the
        run logged no per-mechanism metrics (trained on data without the generator's truth).
    """
    metrics = version.mechanism_metrics()
    rows = []
    for name in MECHANISM_NAMES.values():
        if f"{name}_frauds" not in metrics:
            continue
        rows.append({"mechanism": name.replace("_", " "),
                     **{title: metrics.get(f"{name}_{key}")
                        for key, title in MECHANISM_COLUMNS.items()}})
    return rows


def breach_delay_text(version: RegisteredVersion) -> str | None:
    """One sentence on how fast breached merchants' fraud gets flagged, if it was measured.

    Args:
        version: one registered version.

    Returns:
        The sentence, or None when the run measured no breach.
    """
    metrics = version.mechanism_metrics()
    merchants = metrics.get("breach_merchants")
    if not merchants:
        return None
    detected = int(metrics.get("breach_detected", 0))
    text = (f"Breached merchants: {detected} of {int(merchants)} had most of their later fraud "
            "flagged")
    median = metrics.get("breach_days_to_detect_median")
    if median is not None:
        text += f", a median {median:.0f} day(s) after their first fraud became known"
    return text + "."
