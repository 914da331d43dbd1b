"""The decision policy's pure functions: decide, cost, choose under capacity, compare.

Synthetic scored windows with known labels and amounts; no model, no I/O.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lakehouse.ml.policy import (
    Costs,
    Policy,
    choose_policy,
    compare_policies,
    decide,
    expected_loss,
    policy_cost,
    threshold_policy,
)

COSTS = Costs(review_cost=10.0, decline_friction_cost=30.0, review_capacity_per_day=1000)


def _window(n: int = 20_000, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibrated-looking scores: frauds score high, amounts log-normal."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.01).astype("int64")
    p = np.clip(np.where(y == 1, rng.beta(5, 2, n), rng.beta(1, 60, n)), 0, 1)
    amount = rng.lognormal(4, 1, n)
    return y, p, amount


def test_decide_names_the_rule_that_fired() -> None:
    policy = Policy(decline_probability=0.8, review_expected_loss=25.0)
    assert decide(policy, 0.9, 10.0).decision == "decline"
    assert "P(fraud) 0.900 >= 0.800" in decide(policy, 0.9, 10.0).rule
    review = decide(policy, 0.5, 100.0)
    assert (review.decision, review.expected_loss) == ("review", 50.0)
    assert "expected loss $50.00 >= $25.00" in review.rule
    assert decide(policy, 0.1, 100.0).decision == "approve"


def test_a_refund_puts_nothing_at_risk() -> None:
    assert expected_loss(0.9, -50.0) == 0.0
    assert decide(Policy(1.1, 1.0), 0.9, -50.0).decision == "approve"


def test_policy_round_trips_through_its_dict_even_when_a_branch_is_off() -> None:
    policy = threshold_policy(0.5, "seed_0.5")
    assert Policy.from_dict(policy.as_dict()) == policy
    assert math.isinf(Policy.from_dict(policy.as_dict()).review_expected_loss)


def test_cost_counts_missed_fraud_reviews_and_friction() -> None:
    y = np.array([1, 1, 0, 0, 1])
    p = np.array([0.95, 0.4, 0.9, 0.01, 0.05])
    amount = np.array([100.0, 200.0, 50.0, 10.0, 30.0])
    # Declines rows 0 and 2 (row 2 legitimate: friction); reviews row 1 (loss 80 >= 20);
    # approves rows 3 and 4, losing the 30 dollars of fraud 4.
    cost = policy_cost(Policy(0.9, 20.0), y, p, amount, days=1, costs=COSTS)
    assert (cost.declined, cost.reviewed) == (2, 1)
    assert cost.fraud_loss == 30.0
    assert cost.review_cost == 10.0
    assert cost.friction_cost == 30.0
    assert cost.total == 70.0
    assert cost.saved == 330.0 - 70.0


def test_chosen_policy_beats_fixed_thresholds_and_approving_everything() -> None:
    y, p, amount = _window()
    chosen, compared = compare_policies(y, p, amount, days=30, costs=COSTS, f_threshold=0.3)
    assert set(compared) == {"cost", "seed_0.5", "f_score"}
    assert compared["cost"].total <= compared["seed_0.5"].total
    assert compared["cost"].total <= compared["f_score"].total
    assert compared["cost"].saved > 0
    assert compared["cost"].reviews_per_day <= COSTS.review_capacity_per_day
    assert chosen.decline_probability > 0


def test_review_volume_never_exceeds_the_capacity() -> None:
    y, p, amount = _window()
    days = 10
    for capacity in (0, 1, 5, 50):
        costs = Costs(10.0, 30.0, capacity)
        chosen = choose_policy(y, p, amount, days, costs)
        cost = policy_cost(chosen, y, p, amount, days, costs)
        assert cost.reviewed <= capacity * days, (capacity, chosen, cost)


def test_with_free_reviews_and_costly_declines_the_policy_reviews() -> None:
    y, p, amount = _window()
    chosen = choose_policy(y, p, amount, 30, Costs(0.0, 1e6, 10_000))
    cost = policy_cost(chosen, y, p, amount, 30, Costs(0.0, 1e6, 10_000))
    assert cost.reviewed > 0
    assert cost.friction_cost == 0.0


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_windows_still_give_a_policy(n: int) -> None:
    y, p, amount = (np.zeros(n, "int64"), np.full(n, 0.2), np.full(n, 10.0))
    chosen = choose_policy(y, p, amount, 1, COSTS)
    assert decide(chosen, 0.0, 1.0).decision == "approve"
