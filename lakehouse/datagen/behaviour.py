"""Normal spending: the legitimate transactions of one chunk of days, as numpy arrays.

The generator calls `normal_rows` once per chunk with the chunk's day range and row count;
every draw is vectorized over the chunk. Clients pick a channel (online, abroad, travel in
another state, or a favourite merchant at home), a card (the first one most often), an amount
around the category's median scaled by their own spending level, and sometimes an error.
The resulting `Rows` go to the fraud overlay and then to the CSV writer.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from lakehouse import formats
from lakehouse.datagen import geography, mcc
from lakehouse.datagen.params import GeneratorParams
from lakehouse.datagen.population import KIND_ABROAD, KIND_US, Population
from lakehouse.datagen.timeline import SECONDS_PER_DAY, Timeline, draw_minutes
from lakehouse.datagen.truth import LEGITIMATE

SWIPE, CHIP, ONLINE = 0, 1, 2


@dataclass
class Rows:
    """Transactions as parallel arrays (merchant and card are positions in the population)."""

    ts: np.ndarray
    client: np.ndarray
    card: np.ndarray
    merchant: np.ndarray
    cents: np.ndarray
    chip: np.ndarray
    errors: np.ndarray  # bit k set = ERROR_VALUES[k]
    mechanism: np.ndarray  # int8 code of lakehouse.datagen.truth; LEGITIMATE (0) = not fraud

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def fraud(self) -> np.ndarray:
        """True where the row is fraud, whatever the mechanism."""
        return self.mechanism != LEGITIMATE

    def take(self, index: np.ndarray) -> Rows:
        """The rows at `index`, every column taken alike.

        Args:
            index: positions (or a boolean mask) into these rows.

        Returns:
            A new `Rows` with the selected rows, in the order of `index`.
        """
        return Rows(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concat(parts: list[Rows]) -> Rows:
        """All rows of `parts`, one after the other.

        Args:
            parts: the chunks to join; their order is kept.

        Returns:
            One `Rows` holding every column concatenated.
        """
        return Rows(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                       for f in fields(Rows)})

    @staticmethod
    def empty() -> Rows:
        """No rows, with each column already of its final dtype.

        Returns:
            A `Rows` of length 0 that concatenates cleanly with real chunks.
        """
        return Rows(*(np.empty(0, dtype=d) for d in (np.int64, np.int64, np.int64, np.int64,
                                                     np.int64, np.int8, np.int16, np.int8)))


def pick_cumulative(rng: np.random.Generator, cum: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Column chosen per row from per-row cumulative probabilities `cum[rows]`.

    Row r's cumulative values are shifted by r, so all rows form one increasing array and a
    single binary search serves every draw (no rows x columns temporary).

    Args:
        rng: the run's random generator.
        cum: one row of increasing cumulative probabilities (ending at 1) per client.
        rows: for each draw, the row of `cum` to draw from (a client index).

    Returns:
        For each draw, the chosen column of `cum` (in `[0, cum.shape[1])`).
    """
    width = cum.shape[1]
    flat = (cum + np.arange(len(cum))[:, None]).ravel()
    u = rng.random(len(rows))
    position = np.searchsorted(flat, rows + u, side="left") - rows * width
    return position.clip(0, width - 1)


def pick_card(rng: np.random.Generator, population: Population, client: np.ndarray) -> np.ndarray:
    """A card of each client; the first card is the everyday one (u**2 favours low ranks).

    Args:
        rng: the run's random generator.
        population: the clients and their cards.
        client: the client index of each row.

    Returns:
        For each row, the position of the chosen card in the population's card arrays.
    """
    count = population.card_count[client]
    rank = np.minimum((count * rng.random(len(client)) ** 2).astype(np.int64), count - 1)
    return population.card_start[client] + rank


def draw_errors(rng: np.random.Generator, rates: tuple[float, ...], online: np.ndarray,
                second_share: float) -> np.ndarray:
    """Error bit masks: independent errors, Bad PIN only in person, a few combinations.

    Args:
        rng: the run's random generator.
        rates: the chance of each error of `formats.ERROR_VALUES`, in that order.
        online: True where the row is an online purchase (no PIN can be wrong).
        second_share: the chance that a row with an error gets a second one.

    Returns:
        One int16 per row, bit k set when `ERROR_VALUES[k]` applies (0 = no error).
    """
    n = len(online)
    bits = np.zeros(n, dtype=np.int16)
    for k, rate in enumerate(rates):
        hit = rng.random(n) < rate
        if formats.ERROR_VALUES[k] == "Bad PIN":
            hit &= ~online
        bits |= hit.astype(np.int16) << k
    combo = (bits != 0) & (rng.random(n) < second_share)
    extra = rng.choice(len(rates), size=int(combo.sum()), p=np.array(rates) / sum(rates))
    bits[combo] |= (1 << extra).astype(np.int16)
    return bits


def chip_share(params: GeneratorParams, timeline: Timeline, ts: np.ndarray) -> np.ndarray:
    """Share of in-person chip-card rows written as Chip Transaction at each time.

    The share is 0 before `params.chip_start` and rises linearly to `params.chip_final_share`
    over `params.chip_adoption_days`.

    Args:
        params: the generator's parameters (chip start, adoption length, final share).
        timeline: the run's days, to place `chip_start` in seconds.
        ts: the rows' times, in seconds since the timeline's start.

    Returns:
        The chip share at each row's time, in `[0, chip_final_share]`.
    """
    start = timeline.day_of(params.chip_start) * SECONDS_PER_DAY
    ramp = np.clip((ts - start) / (params.chip_adoption_days * SECONDS_PER_DAY), 0.0, 1.0)
    return params.chip_final_share * ramp


def draw_chip(rng: np.random.Generator, population: Population, card: np.ndarray,
              online: np.ndarray, share: np.ndarray) -> np.ndarray:
    """The `use_chip` code of each row: Online, or Chip/Swipe for in-person purchases.

    Args:
        rng: the run's random generator.
        population: the cards, to know which have a chip.
        card: the card position of each row.
        online: True where the row is an online purchase.
        share: the chance, per row, that a chip card is used as a chip (see `chip_share`).

    Returns:
        One int8 per row: `ONLINE`, `CHIP` or `SWIPE`.
    """
    chip = np.where(population.card_has_chip[card] & (rng.random(len(card)) < share), CHIP, SWIPE)
    return np.where(online, ONLINE, chip).astype(np.int8)


def country_weights(population: Population, pool: np.ndarray) -> np.ndarray:
    """Chance of each abroad merchant for legitimate travel (per-country shares).

    Each country's share of `geography.COUNTRIES` is split evenly among its merchants.

    Args:
        population: the merchants, with their country.
        pool: positions of the abroad merchants to weigh.

    Returns:
        A probability per merchant of `pool`, summing to 1.
    """
    share = np.array([c[2] for c in geography.COUNTRIES])
    country = population.merchant_country[pool]
    per_country = np.bincount(country, minlength=len(share))
    w = share[country] / per_country[country]
    return w / w.sum()


def normal_rows(rng: np.random.Generator, population: Population, params: GeneratorParams,
                timeline: Timeline, rows: int, days: tuple[int, int]) -> Rows:
    """`rows` legitimate transactions on days `[days[0], days[1])`, unsorted.

    Args:
        rng: the run's random generator.
        population: the clients, cards, merchants and habits to draw from.
        params: the generator's parameters (channels, amounts, refunds, errors).
        timeline: the run's days, for the chip adoption ramp.
        rows: how many transactions to draw.
        days: the half-open range of day numbers of this chunk.

    Returns:
        The transactions as `Rows`, every mechanism `LEGITIMATE`.
    """
    client = rng.choice(population.clients, size=rows, p=population.rate)
    day = rng.integers(days[0], days[1], rows)
    ts = draw_minutes(rng, day, np.array(params.hours), population.hour_shift[client])
    online = rng.random(rows) < population.online_share[client]
    abroad = ~online & (rng.random(rows) < params.abroad_share)
    travel = ~online & ~abroad & (rng.random(rows) >= params.home_state_share)
    home = ~(online | abroad | travel)
    merchant = np.empty(rows, dtype=np.int64)
    merchant[home] = population.favourites[
        client[home], pick_cumulative(rng, population.favourite_cum, client[home])]
    merchant[online] = population.online_favourites[
        client[online], pick_cumulative(rng, population.online_favourite_cum, client[online])]
    us_pool = np.flatnonzero(population.merchant_kind == KIND_US)
    merchant[travel] = rng.choice(us_pool, size=int(travel.sum()))
    abroad_pool = np.flatnonzero(population.merchant_kind == KIND_ABROAD)
    merchant[abroad] = rng.choice(abroad_pool, size=int(abroad.sum()),
                                  p=country_weights(population, abroad_pool))
    card = pick_card(rng, population, client)
    median = (mcc.MEDIAN_AMOUNT[population.merchant_mcc[merchant]] * params.amount_scale
              * population.amount_scale[client])
    cents = np.maximum(np.round(rng.lognormal(np.log(median), params.amount_sigma) * 100), 1)
    refund = rng.random(rows) < params.refund_share
    return Rows(
        ts=ts,
        client=client,
        card=card,
        merchant=merchant,
        cents=np.where(refund, -cents, cents).astype(np.int64),
        chip=draw_chip(rng, population, card, online, chip_share(params, timeline, ts)),
        errors=draw_errors(rng, params.error_rates, online, params.second_error_share),
        mechanism=np.full(rows, LEGITIMATE, dtype=np.int8),
    )
