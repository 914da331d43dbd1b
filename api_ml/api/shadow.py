"""Shadow scoring: the registered challenger scores the same live requests, in the background.

The monitor worker (`monitor.py`) hands every scored batch to `ShadowScorer.rows`, never the
request. For the batch's flavour it keeps the model behind the registry alias `challenger`
(checked every `LAKEHOUSE_MODEL_POLL_SECONDS`, or once when polling is off; loaded
single-threaded so it cannot take the scoring threads' cores), scores the very inputs the
champion scored, and returns one `shadow_scores` row per transaction — both scores, both
thresholds, the amount and both models' decision-policy thresholds — which the worker writes
to the monitoring store. A challenger whose inputs
the batch lacks, or of another feature-set version, is skipped and counted. The answer
and its latency never depend on any of this.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from api_ml.api.state import registered_name, single_threaded
from lakehouse.config import Settings
from lakehouse.ml import registry
from lakehouse.ml.features import FEATURE_SET_VERSION
from lakehouse.ml.policy import model_policy

logger = logging.getLogger("lakehouse.api_ml.shadow")


class ShadowScorer:
    """The challengers of each flavour, and the score pairs of the batches they shadow."""

    def __init__(self, settings: Settings, metrics: CollectorRegistry) -> None:
        self.settings = settings
        self.challengers: dict[str, Any] = {}
        self._checked: dict[str, float] = {}
        self.scored = Counter(
            "api_ml_shadow_scored_total",
            "Transactions scored by the challenger in the shadow of the champion, by flavour.",
            ["flavour"],
            registry=metrics,
        )
        self.skipped = Counter(
            "api_ml_shadow_skipped_total",
            "Transactions the challenger could not shadow, by flavour and reason.",
            ["flavour", "reason"],
            registry=metrics,
        )

    def challenger(self, flavour: str) -> Any | None:
        """The flavour's current challenger (None: none registered), reloaded when it changes.

        The registry is asked at most once per `LAKEHOUSE_MODEL_POLL_SECONDS` (once only when
        polling is off); a failed lookup is logged and the last challenger kept.

        Args:
            flavour: `basic` or `full`.

        Returns:
            The challenger, predicting on one thread, or None.
        """
        poll = self.settings.model_poll_seconds
        last = self._checked.get(flavour)
        if last is not None and (poll <= 0 or time.monotonic() - last < poll):
            return self.challengers.get(flavour)
        self._checked[flavour] = time.monotonic()
        name, uri = registered_name(self.settings, flavour), self.settings.mlflow_tracking_uri
        try:
            version = registry.current_version(name, registry.CHALLENGER, tracking_uri=uri)
            loaded = self.challengers.get(flavour)
            if version is None:
                self.challengers.pop(flavour, None)
            elif loaded is None or str(loaded.version) != version:
                model = registry.load_model(name, registry.CHALLENGER, tracking_uri=uri)
                self.challengers[flavour] = single_threaded(model, self.settings.compiled_trees)
                logger.info("shadowing %s with challenger v%s", name, model.version)
        except Exception:  # the registry being away must not stop the other monitors
            logger.exception("looking up the %s challenger failed", name)
        return self.challengers.get(flavour)

    def rows(self, batch: Any) -> list[dict[str, Any]]:
        """`shadow_scores` rows for a scored batch (`monitor.ScoredBatch`), or none.

        None when shadowing is off, no challenger is registered, or the challenger needs
        inputs the batch lacks (those are counted as skipped).

        Args:
            batch: the champion's scored batch.

        Returns:
            One row per transaction: both models' versions, thresholds, policies and scores.
        """
        if not self.settings.shadow_enabled:
            return []
        challenger = self.challenger(batch.flavour)
        if challenger is None:
            return []
        if challenger.feature_set_version != FEATURE_SET_VERSION or any(
            c not in batch.inputs.columns for c in challenger.feature_columns
        ):
            self.skipped.labels(batch.flavour, "inputs").inc(len(batch.scores))
            return []
        scores = challenger.predict_proba(batch.inputs)
        self.scored.labels(batch.flavour).inc(len(scores))
        common = {
            "flavour": batch.flavour,
            "champion_version": str(batch.model.version),
            "challenger_version": str(challenger.version),
            "scored_at": datetime.now(UTC),
            "champion_threshold": float(batch.model.threshold),
            "challenger_threshold": float(challenger.threshold),
            # the decision policy of each model, for the report's alert volume
            **_policy_columns("champion", batch.model),
            **_policy_columns("challenger", challenger),
        }
        return [
            {
                **common,
                "transaction_id": getattr(request, "transaction_id", None),
                "amount": None if request.amount is None else float(request.amount),
                "champion_score": float(champion),
                "challenger_score": float(shadowed),
            }
            for request, champion, shadowed in zip(
                batch.requests, batch.scores, scores, strict=True
            )
        ]


def _policy_columns(who: str, model: Any) -> dict[str, float]:
    policy = model_policy(model.policy, model.threshold)
    return {
        f"{who}_decline_probability": policy.decline_probability,
        f"{who}_review_expected_loss": policy.review_expected_loss,
    }
