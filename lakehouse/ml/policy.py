"""The decision policy: approve, review or decline a scored transaction, from money and capacity.

A calibrated score P(fraud) alone decides nothing; what a fraud operation weighs is money:

- approving a transaction risks its **expected loss**, P(fraud) × amount;
- a **review** costs an analyst's time (`LAKEHOUSE_REVIEW_COST` per case) and catches the fraud;
- a **decline** stops the fraud but costs a legitimate customer friction
  (`LAKEHOUSE_DECLINE_FRICTION_COST` per declined legitimate transaction);
- analysts review at most `LAKEHOUSE_REVIEW_CAPACITY_PER_DAY` cases a day.

The policy has two thresholds: decline when P(fraud) ≥ `decline_probability`, otherwise review
when the expected loss ≥ `review_expected_loss`, otherwise approve. Training
(`lakehouse.ml.tracking`) calls `choose_policy` on the validation window's labels, calibrated
scores and amounts: it tries a grid of both thresholds, keeps the pairs whose review volume fits
the capacity, and picks the cheapest. `compare_policies` measures it against the seed's fixed
0.5 threshold and the F-score threshold (both read as "decline what is flagged"). The chosen
policy is stored with the model (`metadata.json`), so it is versioned with it; the scoring API
applies it with `decide`. Everything here is pure numpy: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

Decision = Literal["approve", "review", "decline"]
DECISIONS: tuple[Decision, ...] = ("approve", "review", "decline")
SEED_THRESHOLD = 0.5
# The rule of every approved transaction (it names no value: one string for all of them).
APPROVE_RULE = "approve: below the review and decline thresholds"
# Candidate thresholds sit on the upper tail of the validation distribution, where frauds are:
# quantiles 1 - 10^-5 .. 1 - 10^-0.3 (about the top 50 %), log-spaced.
GRID_POINTS = 60


@dataclass(frozen=True)
class Costs:
    """The money and capacity the policy trades off (all from `lakehouse.config.Settings`)."""

    review_cost: float
    decline_friction_cost: float
    review_capacity_per_day: int


@dataclass(frozen=True)
class Policy:
    """Two thresholds; `math.inf` disables a branch (never review, never decline)."""

    decline_probability: float
    review_expected_loss: float
    name: str = "cost"

    def as_dict(self) -> dict[str, float | str]:
        """The form stored in the model's metadata.

        Returns:
            `{"decline_probability", "review_expected_loss", "name"}`.
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> Policy:
        """The policy `as_dict` stored.

        Args:
            values: the model's `policy` metadata.

        Returns:
            The policy.
        """
        return cls(
            decline_probability=float(values["decline_probability"]),  # type: ignore[arg-type]
            review_expected_loss=float(values["review_expected_loss"]),  # type: ignore[arg-type]
            name=str(values.get("name", "cost")),
        )


def threshold_policy(threshold: float, name: str) -> Policy:
    """A single-threshold policy: decline what the model flags, approve the rest.

    Args:
        threshold: the probability from which a transaction is declined.
        name: how the policy is named in metrics and answers.

    Returns:
        The policy (review disabled).
    """
    return Policy(decline_probability=threshold, review_expected_loss=math.inf, name=name)


def model_policy(stored: dict[str, object] | None, threshold: float) -> Policy:
    """The policy a model decides with.

    The one stored with it, or else its threshold read as "decline what is flagged" (models
    trained before the policy existed).

    Args:
        stored: the model's `policy` metadata (empty or None when it has none).
        threshold: the model's decision threshold.

    Returns:
        The policy.
    """
    if stored:
        return Policy.from_dict(stored)
    return threshold_policy(float(threshold), "threshold")


@dataclass(frozen=True)
class Outcome:
    """A decision for one transaction and the rule that fired, in words."""

    decision: Decision
    rule: str
    expected_loss: float


def expected_loss(probability: float, amount: float) -> float:
    """P(fraud) × amount; a refund (negative amount) puts nothing at risk.

    Args:
        probability: calibrated P(fraud).
        amount: the transaction's amount in dollars.

    Returns:
        The expected loss in dollars.
    """
    return float(probability) * max(float(amount), 0.0)


def expected_losses(probability: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """`expected_loss` of many rows at once, to the same bits (a -0.0 amount kept, as `max`
    keeps it).

    Args:
        probability: calibrated P(fraud) per row.
        amount: amount per row, in dollars.

    Returns:
        The expected loss per row.
    """
    return probability * np.where(amount < 0, 0.0, amount)


def decide(policy: Policy, probability: float, amount: float) -> Outcome:
    """Apply the policy to one scored transaction.

    Args:
        policy: the thresholds stored with the model that scored it.
        probability: calibrated P(fraud).
        amount: transaction amount in dollars.

    Returns:
        The decision, the rule that fired (e.g. "decline: P(fraud) 0.930 >= 0.800") and the
        expected loss.
    """
    loss = expected_loss(probability, amount)
    if probability >= policy.decline_probability:
        rule = f"decline: P(fraud) {probability:.3f} >= {policy.decline_probability:.3f}"
        return Outcome("decline", rule, loss)
    if loss >= policy.review_expected_loss:
        rule = f"review: expected loss ${loss:.2f} >= ${policy.review_expected_loss:.2f}"
        return Outcome("review", rule, loss)
    return Outcome("approve", APPROVE_RULE, loss)


@dataclass(frozen=True)
class PolicyCost:
    """What a policy would have cost on a labelled window, and what it saved."""

    total: float
    fraud_loss: float
    review_cost: float
    friction_cost: float
    reviewed: int
    declined: int
    reviews_per_day: float
    saved: float

    def as_metrics(self, prefix: str) -> dict[str, float]:
        """Every field as an MLflow metric.

        Args:
            prefix: put before each field's name.

        Returns:
            `{"<prefix>_<field>": value}`.
        """
        return {f"{prefix}_{key}": float(value) for key, value in asdict(self).items()}


def _arrays(
    y: np.ndarray, probability: np.ndarray, amount: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype="int64")
    p = np.asarray(probability, dtype="float64")
    money = np.clip(np.nan_to_num(np.asarray(amount, dtype="float64")), 0.0, None)
    return y, p, money


def decision_masks(
    policy: Policy, probability: np.ndarray, amount: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(reviewed, declined) boolean masks of `decide` over many rows at once.

    A row without a known amount (NaN) is never reviewed: its expected loss is unknown.

    Args:
        policy: the thresholds.
        probability: calibrated P(fraud) per row.
        amount: amount per row (NaN when unknown).

    Returns:
        `(reviewed, declined)`, disjoint.
    """
    p = np.asarray(probability, dtype="float64")
    raw = np.asarray(amount, dtype="float64")
    money = np.clip(np.nan_to_num(raw), 0.0, None)
    declined = p >= policy.decline_probability
    reviewed = ~declined & ~np.isnan(raw) & (p * money >= policy.review_expected_loss)
    return reviewed, declined


def policy_cost(
    policy: Policy,
    y: np.ndarray,
    probability: np.ndarray,
    amount: np.ndarray,
    days: int,
    costs: Costs,
) -> PolicyCost:
    """The realised cost of `policy` on labelled rows: missed fraud + reviews + friction.

    Reviewed and declined frauds are stopped; approved frauds lose their amount; declined
    legitimate rows cost friction. `saved` is the cost of approving everything minus this.

    Args:
        policy: the thresholds.
        y: 0/1 labels.
        probability: calibrated P(fraud) per row.
        amount: amount per row.
        days: the window's length (reviews per day against capacity).
        costs: review cost, decline friction and daily review capacity.

    Returns:
        The cost, its parts, the volumes and the saving.
    """
    y, p, money = _arrays(y, probability, amount)
    reviewed, declined = decision_masks(policy, p, money)
    fraud = y == 1
    fraud_loss = float(money[fraud & ~declined & ~reviewed].sum())
    review_cost = costs.review_cost * float(reviewed.sum())
    friction = costs.decline_friction_cost * float((declined & ~fraud).sum())
    total = fraud_loss + review_cost + friction
    return PolicyCost(
        total=total,
        fraud_loss=fraud_loss,
        review_cost=review_cost,
        friction_cost=friction,
        reviewed=int(reviewed.sum()),
        declined=int(declined.sum()),
        reviews_per_day=float(reviewed.sum()) / max(days, 1),
        saved=float(money[fraud].sum()) - total,
    )


def _candidates(ascending: np.ndarray) -> np.ndarray:
    """Upper-tail quantiles of sorted values, plus infinity (the branch switched off).

    Linear interpolation between order statistics (numpy's default quantile method), read off
    the sorted array: a partition per call cost more than the rest of the search together.
    """
    if len(ascending) == 0:
        return np.array([math.inf])
    levels = 1.0 - np.logspace(-5, -0.3, GRID_POINTS)
    position = levels * (len(ascending) - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, len(ascending) - 1)
    low, high = ascending[below], ascending[above]
    quantiles = low + (high - low) * (position - below)
    return np.unique(np.append(quantiles, math.inf))


def choose_policy(
    y: np.ndarray, probability: np.ndarray, amount: np.ndarray, days: int, costs: Costs
) -> Policy:
    """The thresholds with the lowest realised cost whose review volume fits the capacity.

    The rows are sorted by expected loss once; for each decline threshold, the rows it leaves
    keep that order, so every review threshold is a prefix of them, and its volume, the fraud
    amount it stops and its cost come from cumulative sums (no sort per decline threshold: at
    1.8 M validation rows, 60 sorts were most of the search). Ties go to fewer reviews.

    Args:
        y: labels of the validation window (1 = fraud).
        probability: calibrated P(fraud) of the same rows.
        amount: their amounts in dollars.
        days: length of the window in days (the capacity is per day).
        costs: review cost, decline friction cost, review capacity.

    Returns:
        The cheapest feasible policy (declining nothing and reviewing nothing is always
        feasible, so there is one).
    """
    y, p, money = _arrays(y, probability, amount)
    fraud_money = np.where(y == 1, money, 0.0)
    total_fraud = float(fraud_money.sum())
    loss = p * money
    max_reviews = costs.review_capacity_per_day * max(days, 1)
    best = (total_fraud, 0, threshold_policy(math.inf, "cost"))
    # A stable sort: restricted to the rows left by a decline threshold, this is their own
    # stable order by decreasing loss.
    by_loss = np.argsort(-loss, kind="stable")
    p_by_loss, loss_by_loss = p[by_loss], loss[by_loss]
    fraud_by_loss = fraud_money[by_loss]
    legitimate_by_loss = y[by_loss] == 0
    for decline_at in _candidates(np.sort(p)):
        declined = p_by_loss >= decline_at
        friction = costs.decline_friction_cost * float((declined & legitimate_by_loss).sum())
        rest = ~declined
        sorted_loss = loss_by_loss[rest]
        stopped = np.concatenate([[0.0], np.cumsum(fraud_by_loss[rest])])
        review_at = _candidates(sorted_loss[::-1])
        # Rows with loss >= t are the prefix of length count(loss >= t) of the sorted order.
        volume = np.searchsorted(-sorted_loss, -review_at, side="right")
        cost = (
            total_fraud
            - float(fraud_money[p >= decline_at].sum())  # summed in row order, as ever
            - stopped[volume]
            + costs.review_cost * volume
            + friction
        )
        feasible = volume <= max_reviews
        if not feasible.any():
            continue
        i = int(np.flatnonzero(feasible)[np.argmin(cost[feasible])])
        if (cost[i], volume[i]) < best[:2]:
            best = (float(cost[i]), int(volume[i]), Policy(float(decline_at), float(review_at[i])))
    return best[2]


def compare_policies(
    y: np.ndarray,
    probability: np.ndarray,
    amount: np.ndarray,
    days: int,
    costs: Costs,
    f_threshold: float,
) -> tuple[Policy, dict[str, PolicyCost]]:
    """Choose the cost policy and measure it against the seed's 0.5 and the F-score threshold.

    Args:
        y: 0/1 labels of the validation window.
        probability: calibrated P(fraud) per row.
        amount: amount per row.
        days: the window's length.
        costs: review cost, decline friction and daily review capacity.
        f_threshold: the model's F-score threshold.

    Returns:
        The chosen policy, and the cost of each of `cost`, `seed_0.5`, `f_score` on the rows.
    """
    chosen = choose_policy(y, probability, amount, days, costs)
    policies = {
        "cost": chosen,
        "seed_0.5": threshold_policy(SEED_THRESHOLD, "seed_0.5"),
        "f_score": threshold_policy(f_threshold, "f_score"),
    }
    return chosen, {
        name: policy_cost(policy, y, probability, amount, days, costs)
        for name, policy in policies.items()
    }


@dataclass(frozen=True)
class PolicyChoice:
    """The decision policy chosen on the validation window and what each rival would cost."""

    policy: Policy
    costs: dict[str, PolicyCost]

    def metrics(self) -> dict[str, float]:
        """The policy's thresholds and every rival's validation cost, as MLflow metrics.

        Returns:
            `{metric name: value}`.
        """
        out = {f"policy_{k}": float(v) for k, v in self.policy.as_dict().items() if k != "name"}
        for name, cost in self.costs.items():
            out.update(cost.as_metrics(f"val_cost_{name.replace('.', '')}"))
        return out
