"""The three fraud mechanisms of DATA.md, planned once per run and overlaid chunk by chunk.

`plan_fraud` decides every fraud event up front (a few thousand at full scale, so memory stays
small): compromised-card bursts and account takeovers become extra transaction rows with their
own times, merchants and amounts; compromised merchants become breach windows. The generator
then, for each chunk, adds the event rows that fall in the chunk's days and marks a share of the
normal purchases at breached merchants during their windows (`FraudPlan.flag_breaches`).
The fraud budget is `fraud_rate * fraud_multiplier * rows`, split by `fraud_mix`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lakehouse.datagen import geography, mcc
from lakehouse.datagen.behaviour import (
    ONLINE,
    Rows,
    chip_share,
    draw_errors,
    pick_card,
)
from lakehouse.datagen.params import GeneratorParams
from lakehouse.datagen.population import KIND_ABROAD, KIND_ONLINE, KIND_US, Population
from lakehouse.datagen.timeline import SECONDS_PER_DAY, Timeline, draw_minutes
from lakehouse.datagen.truth import (
    ACCOUNT_TAKEOVER,
    BREACHED_MERCHANT,
    CARD_BURST,
    LEGITIMATE,
)

CHANNEL_ONLINE, CHANNEL_ABROAD, CHANNEL_FAR = 0, 1, 2


@dataclass
class FraudPlan:
    """Injected fraud rows (sorted by time) and merchant breach windows."""

    rows: Rows
    breach_start: np.ndarray  # per merchant, seconds; equal to end when never breached
    breach_end: np.ndarray
    breach_share: np.ndarray
    card_events: int
    merchant_events: int
    takeover_events: int

    def rows_between(self, start: int, end: int) -> Rows:
        """Injected rows with `start <= ts < end`.

        Args:
            start: first second of the chunk (inclusive).
            end: end second of the chunk (exclusive).

        Returns:
            The injected card-fraud and takeover rows of that window, in time order.
        """
        lo, hi = np.searchsorted(self.rows.ts, [start, end])
        return self.rows.take(np.arange(lo, hi))

    def flag_breaches(self, rng: np.random.Generator, rows: Rows) -> None:
        """Mark purchases at merchants inside their breach window as fraud (in place).

        Only legitimate purchases (positive amounts) are marked, each with its merchant's
        breach share; their mechanism becomes `BREACHED_MERCHANT`.

        Args:
            rng: the run's random generator.
            rows: a chunk of transactions; its `mechanism` column is changed.
        """
        m = rows.merchant
        inside = (rows.ts >= self.breach_start[m]) & (rows.ts < self.breach_end[m])
        hit = inside & (rows.cents > 0) & (rng.random(len(rows)) < self.breach_share[m])
        rows.mechanism[hit & (rows.mechanism == LEGITIMATE)] = BREACHED_MERCHANT


def _merchant_sampler(population: Population, pool: np.ndarray) -> np.ndarray:
    """Probabilities over `pool` so that categories follow the MCC table's fraud weights."""
    codes = population.merchant_mcc[pool]
    per_code = np.bincount(codes, minlength=len(mcc.CODES))
    w = mcc.FRAUD_WEIGHT[codes] / per_code[codes]
    if w.sum() == 0:
        w = np.ones(len(pool))
    return w / w.sum()


def _pick(rng: np.random.Generator, pool: np.ndarray, p: np.ndarray, size: int) -> np.ndarray:
    return rng.choice(pool, size=size, p=p) if size else np.empty(0, dtype=np.int64)


def _card_weights(population: Population, params: GeneratorParams) -> np.ndarray:
    """Chance of each card being compromised: usage times brand and type factors."""
    client = population.card_client
    count = population.card_count[client]
    rank = np.arange(len(client)) - population.card_start[client]
    usage = np.sqrt((rank + 1) / count) - np.sqrt(rank / count)  # pick_card's u**2 rule
    brand = np.array(params.brand_fraud_factor)[population.card_brand]
    kind = np.array(params.type_fraud_factor)[population.card_type]
    chip = np.where(population.card_has_chip, 1.0, params.no_chip_fraud_factor)
    w = population.rate[client] * usage * brand * kind * chip
    return w / w.sum()


def _event_days(rng: np.random.Generator, timeline: Timeline, intensity: np.ndarray,
                events: int) -> np.ndarray:
    return timeline.first_day + rng.choice(timeline.days, size=events, p=intensity)


def _event_sizes(rng: np.random.Generator, target: int,
                 mean_size: float) -> tuple[int, np.ndarray, np.ndarray]:
    """Split about `target` rows into events of at least two rows averaging `mean_size`:
    the number of events, each event's size, and each row's event index."""
    events = max(1, round(target / mean_size))
    size = 2 + rng.poisson(max(mean_size - 2, 0), events)
    return events, size, np.repeat(np.arange(events), size)


def _card_bursts(rng: np.random.Generator, population: Population, params: GeneratorParams,
                 timeline: Timeline, intensity: np.ndarray, target: int) -> tuple[Rows, int]:
    if target <= 0:
        return Rows.empty(), 0
    events, size, event = _event_sizes(rng, target, params.card_burst_size)
    n = len(event)
    weights = _card_weights(population, params)
    card = rng.choice(len(population.card_ids), size=events, p=weights)[event]
    start = _event_days(rng, timeline, intensity, events)[event]
    gap = rng.exponential((params.card_burst_days / size)[event])
    offset = np.floor(_cumsum_by_group(gap, event)).astype(np.int64)
    day = np.minimum(start + offset, timeline.first_day + timeline.days - 1)
    ts = draw_minutes(rng, day, np.array(params.fraud_hours))
    channel = rng.choice(3, size=events, p=np.array(params.card_burst_channels))[event]
    merchant = _burst_merchants(rng, population, params, channel)
    cents = np.round(rng.lognormal(np.log(params.fraud_amount_median),
                                   params.fraud_amount_sigma, n) * 100)
    # Test purchases: the first one or two rows of some bursts are tiny amounts.
    rank = np.arange(n) - np.repeat(np.cumsum(size) - size, size)
    tester = (rng.random(events) < params.test_purchase_share)[event]
    small = tester & (rank < rng.integers(1, 3, n))
    cents = np.where(small, rng.integers(50, 500, n), cents)
    online = channel == CHANNEL_ONLINE
    rows = Rows(ts=ts, client=population.card_client[card], card=card, merchant=merchant,
                cents=cents.astype(np.int64), chip=_fraud_chip(rng, population, params, timeline,
                                                               card, online, ts),
                errors=draw_errors(rng, params.fraud_error_rates, online, 0.1),
                mechanism=np.full(n, CARD_BURST, dtype=np.int8))
    return rows, events


def _cumsum_by_group(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running sum of `values` restarting at each new `group` (groups are contiguous);
    the first value of a group counts as 0 so every burst starts on its start day."""
    total = np.cumsum(values)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    base = np.repeat(total[starts], np.diff(np.r_[starts, len(values)]))
    return total - base


def _burst_merchants(rng: np.random.Generator, population: Population, params: GeneratorParams,
                     channel: np.ndarray) -> np.ndarray:
    merchant = np.empty(len(channel), dtype=np.int64)
    for code, kind in ((CHANNEL_ONLINE, KIND_ONLINE), (CHANNEL_FAR, KIND_US)):
        pool = np.flatnonzero(population.merchant_kind == kind)
        mask = channel == code
        merchant[mask] = _pick(rng, pool, _merchant_sampler(population, pool), int(mask.sum()))
    abroad = np.flatnonzero(channel == CHANNEL_ABROAD)
    pool = np.flatnonzero(population.merchant_kind == KIND_ABROAD)
    names = np.array([c[0] for c in geography.COUNTRIES])
    hot = np.isin(names[population.merchant_country[pool]], params.fraud_countries)
    in_hot = rng.random(len(abroad)) < params.fraud_country_share
    for mask, sub in ((in_hot, pool[hot]), (~in_hot, pool[~hot])):
        if len(sub) == 0:
            sub = pool
        merchant[abroad[mask]] = _pick(rng, sub, _merchant_sampler(population, sub),
                                       int(mask.sum()))
    return merchant


def _fraud_chip(rng: np.random.Generator, population: Population, params: GeneratorParams,
                timeline: Timeline, card: np.ndarray, online: np.ndarray,
                ts: np.ndarray) -> np.ndarray:
    chip_era = chip_share(params, timeline, ts) > 0
    use_chip = population.card_has_chip[card] & chip_era & (rng.random(len(card)) <
                                                            params.fraud_chip_share)
    return np.where(online, ONLINE, use_chip.astype(np.int8)).astype(np.int8)


def _takeovers(rng: np.random.Generator, population: Population, params: GeneratorParams,
               timeline: Timeline, intensity: np.ndarray, target: int) -> tuple[Rows, int]:
    if target <= 0:
        return Rows.empty(), 0
    events, _, event = _event_sizes(rng, target, params.takeover_size)
    n = len(event)
    client = rng.choice(population.clients, size=events, p=population.rate)[event]
    lo, hi = params.takeover_days
    length = rng.integers(lo, hi + 1, events)[event]
    day = np.minimum(_event_days(rng, timeline, intensity, events)[event]
                     + (rng.random(n) * length).astype(np.int64),
                     timeline.first_day + timeline.days - 1)
    ts = draw_minutes(rng, day, np.array(params.fraud_hours))
    online = rng.random(n) < params.takeover_online_share
    pool = np.flatnonzero(population.merchant_kind == KIND_ONLINE)
    # In person, the thief shops at the client's usual merchants, preferring risky categories
    # (never tolls or utilities, which carry no fraud in the real dataset).
    choices = population.favourites[client]
    weight = mcc.FRAUD_WEIGHT[population.merchant_mcc[choices]] + 1e-9
    cum = np.cumsum(weight, axis=1)
    pick = (cum / cum[:, -1:] < rng.random(n)[:, None]).sum(axis=1).clip(max=choices.shape[1] - 1)
    merchant = choices[np.arange(n), pick]
    merchant[online] = _pick(rng, pool, _merchant_sampler(population, pool), int(online.sum()))
    usual = 30.0 * params.amount_scale * population.amount_scale[client]
    factor = rng.uniform(*params.takeover_amount_factor, n) * rng.lognormal(0, 0.3, n)
    card = pick_card(rng, population, client)
    rows = Rows(ts=ts, client=client, card=card, merchant=merchant,
                cents=np.round(usual * factor * 100).astype(np.int64),
                chip=_fraud_chip(rng, population, params, timeline, card, online, ts),
                errors=draw_errors(rng, params.error_rates, online, 0.05),
                mechanism=np.full(n, ACCOUNT_TAKEOVER, dtype=np.int8))
    return rows, events


def _breaches(rng: np.random.Generator, population: Population, params: GeneratorParams,
              timeline: Timeline, intensity: np.ndarray, rows: int, target: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    merchants = len(population.merchant_ids)
    start = np.zeros(merchants, dtype=np.int64)
    end = np.zeros(merchants, dtype=np.int64)
    share = np.zeros(merchants)
    # Expected purchases per day at each merchant, from the clients' favourite habits.
    pick = np.diff(population.favourite_cum, axis=1, prepend=0.0)
    home = (population.rate * (1 - population.online_share) * params.home_state_share)[:, None]
    volume = np.zeros(merchants)
    np.add.at(volume, population.favourites, home * pick * rows / timeline.days)
    skimmable = np.isin(mcc.CODES[population.merchant_mcc], mcc.SKIMMABLE_CODES)
    candidates = np.flatnonzero(skimmable & (volume > 0))
    expected, events = 0.0, 0
    if target <= 0 or len(candidates) == 0:
        return start, end, share, 0
    order = rng.choice(candidates, size=len(candidates), replace=False,
                       p=volume[candidates] / volume[candidates].sum())
    for merchant in order.tolist():
        if expected >= target:
            break
        days = int(rng.integers(params.merchant_breach_days[0], params.merchant_breach_days[1] + 1))
        days = min(days, timeline.days)
        first = int(_event_days(rng, timeline, intensity, 1)[0])
        first = min(first, timeline.first_day + timeline.days - days)
        start[merchant] = first * SECONDS_PER_DAY
        end[merchant] = (first + days) * SECONDS_PER_DAY
        share[merchant] = rng.uniform(*params.merchant_breach_share)
        expected += volume[merchant] * days * share[merchant] * (1 - params.refund_share)
        events += 1
    return start, end, share, events


def plan_fraud(rng: np.random.Generator, population: Population, params: GeneratorParams,
               timeline: Timeline, rows: int) -> FraudPlan:
    """Decide every fraud event of a run of `rows` transactions.

    The fraud budget (`fraud_rate * fraud_multiplier` of the rows) is split by `fraud_mix`
    between card bursts, breached merchants and account takeovers. Injected rows are capped
    at a tenth of the run.

    Args:
        rng: the run's random generator.
        population: the clients, cards and merchants fraud is drawn on.
        params: the generator's parameters (fraud rate, mix, multiplier).
        timeline: the run's days, with the fraud intensity over time.
        rows: the total number of transactions of the run.

    Returns:
        The plan: the injected rows sorted by time, each merchant's breach window and share,
        and the number of events of each kind.
    """
    total = rows * params.fraud_rate * params.fraud_multiplier
    mix = np.array(params.fraud_mix) / sum(params.fraud_mix)
    card_target, merchant_target, takeover_target = (total * mix).round().astype(int)
    intensity = timeline.fraud_intensity(rng, params)
    cards, card_events = _card_bursts(rng, population, params, timeline, intensity, card_target)
    takeovers, takeover_events = _takeovers(rng, population, params, timeline, intensity,
                                            takeover_target)
    injected = Rows.concat([cards, takeovers])
    # Never inject more than a tenth of the rows, whatever the multiplier says.
    keep = np.sort(rng.permutation(len(injected))[: rows // 10])
    injected = injected.take(keep)
    injected = injected.take(np.argsort(injected.ts, kind="stable"))
    start, end, share, merchant_events = _breaches(rng, population, params, timeline, intensity,
                                                   rows - len(injected), merchant_target)
    return FraudPlan(rows=injected, breach_start=start, breach_end=end, breach_share=share,
                     card_events=card_events, merchant_events=merchant_events,
                     takeover_events=takeover_events)

