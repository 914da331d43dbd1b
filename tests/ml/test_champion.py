"""The promotion rule: only a strictly better average precision on the same rows promotes."""

from __future__ import annotations

from lakehouse.ml.champion import decide_promotion


def test_without_a_comparable_champion_the_new_version_is_promoted() -> None:
    assert decide_promotion(0.2, None, "first registered version") == (
        True, "promoted: first registered version"
    )


def test_a_strictly_better_average_precision_is_promoted() -> None:
    promoted, reason = decide_promotion(0.81, 0.80, "champion v3")
    assert promoted
    assert reason == (
        "promoted: average precision 0.8100 beats champion v3 at 0.8000 on the same test window"
    )


def test_a_tie_keeps_the_champion_and_names_the_rows() -> None:
    promoted, reason = decide_promotion(0.5, 0.5, "champion v1", "on 40 labeled live transactions")
    assert not promoted
    assert reason == (
        "kept as challenger: average precision 0.5000 does not beat champion v1 at 0.5000 "
        "on 40 labeled live transactions"
    )
