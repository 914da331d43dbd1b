"""Promoting a shadowed challenger: replay evidence, the decision and its record.

Training registers a model that beats the champion as `challenger` instead of `champion`
when `LAKEHOUSE_SHADOW_DAYS` > 0 (`lakehouse.ml.champion`). `decide` then applies the same
rule, `decide_promotion` (strictly better average precision), to evidence from the traffic both
models saw:
- live shadow (`shadow.live_evidence`): only once the challenger has been shadowing for
  `LAKEHOUSE_SHADOW_DAYS` and labeled frauds are among the shadowed transactions;
- replay (`replay_evidence`, `--replay-days N`): the last N days of gold scored by both now,
  the operator's way not to wait for live traffic.
The decision and the evidence (JSON) are written on the challenger's registry version (tags
`shadow_promotion` and `shadow_evidence`) and logged; a promotion moves the `champion` alias
to the challenger, which the scoring API picks up at its next poll.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.engines.duckdb import session
from lakehouse.ml import registry
from lakehouse.ml.champion import decide_promotion
from lakehouse.ml.policy import model_policy
from lakehouse.monitoring import shadow

logger = logging.getLogger("lakehouse.monitoring.promotion")


@dataclass(frozen=True)
class PromotionDecision:
    """What `decide` concluded for one flavour, and on which evidence."""

    flavour: str
    challenger_version: str | None
    promoted: bool
    reason: str
    evidence: shadow.ShadowEvidence | None


def _gold_window(settings: Settings, columns: list[str], days: int) -> pd.DataFrame:
    uri = catalog.location("ml_features", settings)
    select = ", ".join(dict.fromkeys(["transaction_id", "ts", "label", *columns]))
    with session({"ml_features": storage.read_dataset(uri, settings)}, settings) as connection:
        return connection.execute(
            f"SELECT {select} FROM ml_features "
            f"WHERE ts > (SELECT MAX(ts) FROM ml_features) - INTERVAL {int(days)} DAY "
            "ORDER BY ts, transaction_id"
        ).df()


def replay_evidence(settings: Settings, flavour: str, days: int) -> shadow.ShadowEvidence:
    """Score the last `days` days of gold with the champion and the challenger, and compare.

    Args:
        settings: where the lake and the model registry are.
        flavour: the model flavour whose champion and challenger are compared.
        days: how many days back from the newest `ml_features` row to score.

    Returns:
        The "replay" evidence: both models' metrics and the score correlation.

    Raises:
        registry.ModelNotFoundError: no champion or no challenger is registered.
    """
    name, uri = registry.model_name(settings, flavour), settings.mlflow_tracking_uri
    champion = registry.load_model(name, registry.CHAMPION, uri)
    challenger = registry.load_model(name, registry.CHALLENGER, uri)
    # the amount too: the policy's review threshold is on P(fraud) x amount
    columns = sorted({"amount", *champion.feature_columns, *challenger.feature_columns})
    gold = _gold_window(settings, columns, days)
    frame = pd.DataFrame(
        {
            "label": gold["label"].astype("float64"),
            "scored_at": gold["ts"],
            "amount": gold["amount"].astype("float64"),
            "champion_score": champion.predict_proba(gold),
            "challenger_score": challenger.predict_proba(gold),
        }
    )
    return shadow.compare(
        frame,
        flavour,
        "replay",
        (champion.version, challenger.version),
        (champion.threshold, challenger.threshold),
        (
            model_policy(champion.policy, champion.threshold),
            model_policy(challenger.policy, challenger.threshold),
        ),
    )


def _shadowed_days(evidence: shadow.ShadowEvidence, now: datetime) -> float:
    first = pd.Timestamp(evidence.first_scored)
    first = first.tz_localize(UTC) if first.tzinfo is None else first  # SQLite drops the zone
    return (pd.Timestamp(now) - first).total_seconds() / 86400


def _judge(
    settings: Settings, evidence: shadow.ShadowEvidence | None, now: datetime
) -> tuple[bool, str]:
    if evidence is None:
        return False, "kept as challenger: no shadowed traffic logged yet"
    if evidence.mode == "live" and _shadowed_days(evidence, now) < settings.shadow_days:
        return False, (
            f"kept as challenger: shadowed {_shadowed_days(evidence, now):.1f} of "
            f"the {settings.shadow_days:g} days LAKEHOUSE_SHADOW_DAYS requires"
        )
    old, new = evidence.champion.average_precision, evidence.challenger.average_precision
    if old is None or new is None:
        return False, (
            f"kept as challenger: the {evidence.labeled} labeled transactions among "
            f"{evidence.rows} {evidence.mode} ones hold no fraud yet to compare on"
        )
    where = f"on {evidence.labeled} labeled {evidence.mode} transactions ({evidence.frauds} frauds)"
    return decide_promotion(new, old, f"champion v{evidence.champion.version}", where)


def decide(
    settings: Settings,
    flavour: str,
    *,
    replay_days: int | None = None,
    now: datetime | None = None,
) -> PromotionDecision:
    """Decide on the flavour's challenger, record the decision, promote it if it won.

    Args:
        settings: where the registry, the lake and the monitoring store are.
        flavour: "full" or "basic".
        replay_days: decide on a replay of the last N days of gold instead of the live shadow.
        now: the decision time (tests); defaults to the current time.

    Returns:
        The decision with its reason and evidence.
    """
    now = now or datetime.now(UTC)
    client, _ = registry.mlflow_client(settings.mlflow_tracking_uri)
    name = registry.model_name(settings, flavour)
    found = registry.version_by_alias(client, name, registry.CHALLENGER)
    if found is None:
        return PromotionDecision(flavour, None, False, f"no challenger registered for {name}", None)
    version = str(found.version)
    evidence = (
        replay_evidence(settings, flavour, replay_days)
        if replay_days
        else shadow.live_evidence(settings, flavour, version, now)
    )
    promoted, reason = _judge(settings, evidence, now)
    client.set_model_version_tag(name, version, "shadow_promotion", reason)
    if evidence is not None:
        client.set_model_version_tag(
            name, version, "shadow_evidence", json.dumps(evidence.as_dict(), default=_plain)
        )
    if promoted:
        client.set_registered_model_alias(name, registry.CHAMPION, version)
        client.delete_registered_model_alias(name, registry.CHALLENGER)
    logger.info(
        "%s v%s: %s",
        name,
        version,
        reason,
        extra={"evidence": evidence.as_dict() if evidence else None},
    )
    return PromotionDecision(flavour, version, promoted, reason, evidence)


def _plain(value: object) -> object:
    return float(value) if isinstance(value, np.floating) else str(value)
