"""Registering a trained flavour and the champion/challenger promotion rule.

`lakehouse.ml.tracking` logs each flavour's MLflow run, then hands it here: the current
champion is re-scored on the *same* new test window, the run's model becomes a new version of
`fraud-detector` / `fraud-detector-basic`, and the version becomes `champion` only if its
average precision is strictly better; otherwise it gets the alias `challenger`. With a shadow
period (`LAKEHOUSE_SHADOW_DAYS` > 0) even a better model starts as `challenger`, and
`lakehouse monitor promote` decides later with the same rule. The reason is written to the
version's tags, the run's tags and the log.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sklearn.metrics import average_precision_score

from lakehouse.config import Settings
from lakehouse.ml.features import FEATURE_SET_VERSION
from lakehouse.ml.policy import PolicyChoice
from lakehouse.ml.registry import CHALLENGER, CHAMPION, ModelNotFoundError, load_model, model_name

if TYPE_CHECKING:  # types only: `lakehouse monitor promote` applies the rule without training
    from lakehouse.ml.train import FlavourResult
    from lakehouse.ml.training_data import Windows

log = logging.getLogger(__name__)


@dataclass
class FlavourOutcome:
    """What happened to one flavour: its registered version and the promotion decision."""

    flavour: str
    model_name: str
    version: str
    run_id: str
    promoted: bool
    reason: str
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    champion_ap: float | None
    threshold: float
    policy: dict[str, Any] = field(default_factory=dict)
    policy_costs: dict[str, dict[str, float]] = field(default_factory=dict)


def _champion_ap(name: str, settings: Settings, windows: Windows) -> tuple[float | None, str]:
    """Average precision of the current champion on the new test window (None: no rival)."""
    try:
        champion = load_model(name, CHAMPION, settings.mlflow_tracking_uri)
    except ModelNotFoundError:
        return None, "first registered version"
    missing = [c for c in champion.feature_columns if c not in windows.test.columns]
    if champion.feature_set_version != FEATURE_SET_VERSION or missing:
        return None, (
            f"champion v{champion.version} uses feature set {champion.feature_set_version}, "
            f"not computed any more ({FEATURE_SET_VERSION}); replaced"
        )
    probability = champion.predict_proba(windows.test)
    ap = float(average_precision_score(windows.test["label"].to_numpy("int64"), probability))
    return ap, f"champion v{champion.version}"


def decide_promotion(
    new_ap: float, champion_ap: float | None, rival: str, where: str = "on the same test window"
) -> tuple[bool, str]:
    """The rule: promote only a strictly better average precision on the same rows.

    Training applies it on the new test window; `lakehouse monitor promote` on shadowed or
    replayed traffic (`lakehouse.monitoring.promotion`).

    Args:
        new_ap: the new version's average precision on the rows both models scored.
        champion_ap: the champion's on the same rows (None: no comparable champion).
        rival: how the champion is named in the reason.
        where: which rows, as the reason says it.

    Returns:
        `(promote?, the reason, as logged and tagged)`.
    """
    if champion_ap is None:
        return True, f"promoted: {rival}"
    if new_ap > champion_ap:
        return True, (
            f"promoted: average precision {new_ap:.4f} beats {rival} at {champion_ap:.4f} {where}"
        )
    return False, (
        f"kept as challenger: average precision {new_ap:.4f} does not beat {rival} at "
        f"{champion_ap:.4f} {where}"
    )


def _register(client: Any, name: str, source: str, run_id: str) -> str:
    from mlflow.exceptions import MlflowException

    # Already registered is fine: a new version is added below.
    with contextlib.suppress(MlflowException):
        client.create_registered_model(
            name, description="Fraud scoring model of the lakehouse (see README, ML section)."
        )
    return str(client.create_model_version(name, source, run_id=run_id).version)


def register_and_promote(
    client: Any, result: FlavourResult, windows: Windows, settings: Settings,
    run_id: str, source: str, choice: PolicyChoice,
) -> FlavourOutcome:
    """Register the run's model as a new version, apply the promotion rule, tag the decision.

    Args:
        client: the MLflow client of the registry.
        result: the fitted flavour (its test metrics, threshold).
        windows: the new test window, on which the current champion is re-scored.
        settings: the model name and the shadow period.
        run_id: the MLflow run that logged the model.
        source: the model's URI in that run.
        choice: the decision policy chosen for the model.

    Returns:
        The registered version and the promotion decision.
    """
    name = model_name(settings, result.flavour)
    # Re-score the champion before registering, so "the champion" is never this new version.
    champion_ap, rival = _champion_ap(name, settings, windows)
    version = _register(client, name, source, run_id)
    new_ap = result.test_metrics["average_precision"]
    promoted, reason = decide_promotion(new_ap, champion_ap, rival)
    if promoted and champion_ap is not None and settings.shadow_days > 0:
        # Better on the test window; live traffic decides after the shadow period.
        promoted = False
        reason = (f"challenger: {reason.removeprefix('promoted: ')}; shadowing live traffic "
                  f"for {settings.shadow_days:g} days (LAKEHOUSE_SHADOW_DAYS) before "
                  "`lakehouse monitor promote` decides")
    client.set_registered_model_alias(name, CHAMPION if promoted else CHALLENGER, version)
    client.set_model_version_tag(name, version, "promotion", reason)
    client.set_model_version_tag(name, version, "feature_set_version", FEATURE_SET_VERSION)
    tags = {"promotion": reason, "promoted": str(promoted).lower(),
            "registered_model": name, "registered_version": version}
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    if champion_ap is not None:
        client.log_metric(run_id, "champion_test_average_precision", champion_ap)
    log.info("%s v%s: %s", name, version, reason)
    return FlavourOutcome(
        flavour=result.flavour, model_name=name, version=version, run_id=run_id,
        promoted=promoted, reason=reason, metrics=result.test_metrics,
        baseline_metrics=result.baseline_metrics, champion_ap=champion_ap,
        threshold=result.threshold, policy=choice.policy.as_dict(),
        policy_costs={rival: cost.__dict__ for rival, cost in choice.costs.items()},
    )
