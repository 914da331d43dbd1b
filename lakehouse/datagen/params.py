"""The generator's knobs (`GeneratorParams`) and what a run reports (`GenerationSummary`).

Every behavioural and fraud figure the generator uses lives here with its meaning, so the
README can list them and `generate(..., **params)` can override any of them by name. The
defaults aim at the published statistics of the real dataset (DATA.md calibration table).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class GeneratorParams:
    """Documented knobs of the synthetic population, its behaviour and its fraud."""

    # --- population -------------------------------------------------------------------
    cards_per_client: tuple[float, ...] = (416, 388, 449, 376, 206, 105, 40, 17, 3)
    """Relative frequency of clients with 1..9 cards (real dataset counts)."""
    brand_shares: tuple[float, float, float, float] = (0.379, 0.522, 0.065, 0.034)
    """Visa, Mastercard, Amex, Discover. Amex cards are always Credit."""
    type_shares: tuple[float, float, float] = (0.571, 0.335, 0.094)
    """Debit, Credit, Debit (Prepaid)."""
    has_chip_share: float = 0.895
    """Share of cards with a chip (the others can only swipe)."""
    favourite_merchants: int = 24
    """In-person merchants each client returns to (in its home state, mostly home town)."""
    favourite_online_merchants: int = 8
    """Online merchants each client returns to."""

    # --- normal behaviour -----------------------------------------------------------------
    client_rate_sigma: float = 0.7
    """Log-normal spread of how active clients are (transactions per day)."""
    online_share: float = 0.117
    """Average share of a client's transactions made online (varies per client)."""
    abroad_share: float = 0.0042
    """Share of legitimate in-person transactions made abroad (travel)."""
    home_state_share: float = 0.95
    """Share of in-person US spending at home-state favourites; the rest is travel."""
    chip_start: str = "2014-10-01"
    """Day chip-capable terminals start; before it every in-person row is a swipe."""
    chip_adoption_days: int = 365
    """Days for chip use to ramp from 0 to `chip_final_share` of in-person chip-card rows."""
    chip_final_share: float = 0.97
    refund_share: float = 0.05
    """Share of rows that are refunds (negative amount)."""
    amount_sigma: float = 0.65
    """Log-normal spread of an amount around its merchant category's median."""
    amount_scale: float = 0.92
    """Global factor on the category medians of the MCC table (legit median ~ $29)."""
    error_rates: tuple[float, ...] = (0.0098, 0.0024, 0.0020, 0.00058, 0.00046, 0.00045, 0.0001)
    """Per-row probability of each error of ERROR_VALUES (Insufficient Balance first)."""
    second_error_share: float = 0.04
    """Share of rows with an error that carry a second one (CSV-quoted combination)."""

    # --- fraud --------------------------------------------------------------------------
    fraud_rate: float = 0.0015
    """Target share of fraudulent rows (labels are a random subset, so also of labeled rows)."""
    fraud_multiplier: float = 1.0
    """Multiplies `fraud_rate`; tests raise it to get enough cases at small scale."""
    fraud_mix: tuple[float, float, float] = (0.8, 0.08, 0.12)
    """Share of fraud from compromised cards, compromised merchants, account takeovers."""
    card_burst_size: float = 7.0
    """Mean number of fraudulent rows in one compromised-card burst (at least 2)."""
    card_burst_days: float = 1.0
    """Mean length of a burst in days (hours to a few days)."""
    card_burst_channels: tuple[float, float, float] = (0.74, 0.22, 0.04)
    """Where a stolen card is used: online, abroad, in person far from home (US)."""
    fraud_countries: tuple[str, ...] = ("Italy", "Haiti")
    """Countries where almost all abroad fraud happens."""
    fraud_country_share: float = 0.92
    """Share of abroad card fraud in `fraud_countries`."""
    test_purchase_share: float = 0.3
    """Share of bursts that start with one or two tiny test purchases ($0.50-$5)."""
    fraud_amount_median: float = 70.0
    fraud_amount_sigma: float = 1.0
    fraud_chip_share: float = 1.0
    """Share of in-person fraud on chip cards, after the chip start, written as Chip."""
    no_chip_fraud_factor: float = 0.3
    """Relative chance a card without a chip gets compromised (fraud follows chip cards, so
    Chip rows carry a higher fraud rate than Swipe rows, as in the real dataset)."""
    fraud_error_rates: tuple[float, ...] = (0.012, 0.015, 0.003, 0.007, 0.012, 0.012, 0.002)
    """Per-row probability of each error on fraudulent rows (Bad CVV, Bad Card Number...)."""
    brand_fraud_factor: tuple[float, float, float, float] = (1.0, 1.0, 1.07, 1.4)
    """Relative chance a Visa, Mastercard, Amex, Discover card gets compromised."""
    type_fraud_factor: tuple[float, float, float] = (1.0, 1.15, 1.6)
    """Relative chance a Debit, Credit, Prepaid card gets compromised."""
    merchant_breach_days: tuple[int, int] = (10, 45)
    """Range of the length, in days, of a compromised merchant's breach."""
    merchant_breach_share: tuple[float, float] = (0.15, 0.45)
    """Range of the share of a breached merchant's purchases that are fraud."""
    takeover_days: tuple[int, int] = (2, 12)
    """Range of the length, in days, of an account takeover."""
    takeover_size: float = 6.0
    """Mean number of fraudulent rows in one account takeover."""
    takeover_online_share: float = 0.7
    """Share of takeover rows made online (the rest at the client's usual merchants)."""
    takeover_amount_factor: tuple[float, float] = (5.0, 20.0)
    """Range of the factor on the client's usual amount during a takeover."""
    fraud_time_sigma: float = 1.1
    """Log-normal spread of fraud intensity between months (fraud comes in waves)."""
    fraud_time_trend: float = 0.22
    """Yearly growth of fraud intensity (log scale): more fraud in the chip era."""
    fraud_hours: tuple[float, ...] = (
        0.5, 0.4, 0.35, 0.35, 0.4, 0.7, 1.5, 3.0, 6.0, 9.0, 12.0, 13.0,
        13.0, 12.0, 9.0, 6.0, 4.0, 2.5, 1.4, 0.6, 0.12, 0.07, 0.07, 0.15,
    )
    """Relative hour-of-day profile of fraudulent card use (peaks late morning)."""

    # --- labels and output ----------------------------------------------------------------
    label_share: float = 0.67
    """Share of transaction ids present in train_fraud_labels.json (random, flat in time)."""
    first_id: int = 7475327
    """Id of the first transaction; ids grow with time by random gaps of 1..3."""
    chunk_rows: int = 400_000
    """Rows generated and written at once (memory is proportional to this, not to the total)."""
    hours: tuple[float, ...] = field(default=(
        1.0, 0.8, 0.7, 0.7, 0.8, 1.2, 2.2, 3.5, 4.5, 5.0, 5.2, 5.3,
        5.3, 5.2, 5.1, 5.0, 4.9, 4.7, 4.2, 3.4, 2.6, 2.0, 1.5, 1.2,
    ))
    """Relative hour-of-day profile of legitimate spending (daytime-heavy)."""

    def with_overrides(self, **overrides: object) -> GeneratorParams:
        """A copy with `overrides` applied; unknown names raise a ValueError listing them.

        Args:
            **overrides: field name -> new value.

        Returns:
            A new `GeneratorParams`; this one is unchanged.

        Raises:
            ValueError: a name is not a field of `GeneratorParams`.
        """
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown generator parameter(s) {unknown}; known: {sorted(known)}")
        return dataclasses.replace(self, **overrides)  # type: ignore[arg-type]


@dataclass
class GenerationSummary:
    """What one `generate` call wrote."""

    out_dir: Path
    rows: int
    frauds: int
    labeled: int
    labeled_frauds: int
    clients: int
    cards: int
    merchants: int
    files: dict[str, int]
    """File name -> size in bytes."""
    seconds: float

    @property
    def rows_per_second(self) -> float:
        """Transactions written per second of the run (infinite for a zero duration)."""
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    @property
    def labeled_fraud_rate(self) -> float:
        """Share of fraud among the labeled transactions (0.0 without labels)."""
        return self.labeled_frauds / self.labeled if self.labeled else 0.0
