"""The synthetic population: clients, their cards, the merchants they shop at, and habits.

Built once per run from the seed (small: thousands of rows), kept in memory as numpy arrays,
read by the transaction and fraud generators, and written out as `users_data.csv` and
`cards_data.csv` in DATA.md's exact text format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lakehouse import formats
from lakehouse.datagen import geography, mcc
from lakehouse.datagen.params import GeneratorParams

KIND_US, KIND_ONLINE, KIND_ABROAD = 0, 1, 2
MERCHANTS_PER_CITY = 4
ABROAD_MERCHANTS_PER_COUNTRY = 6


@dataclass
class Population:
    """Everything about who spends where; arrays are indexed by position (client, card...)."""

    # clients (position == client id)
    home_city: np.ndarray
    rate: np.ndarray  # relative activity, sums to 1
    online_share: np.ndarray
    hour_shift: np.ndarray
    amount_scale: np.ndarray
    users: pd.DataFrame
    # cards, grouped by client
    card_ids: np.ndarray
    card_client: np.ndarray
    card_brand: np.ndarray
    card_type: np.ndarray
    card_has_chip: np.ndarray
    card_start: np.ndarray
    card_count: np.ndarray
    cards: pd.DataFrame
    # merchants
    merchant_ids: np.ndarray
    merchant_kind: np.ndarray
    merchant_mcc: np.ndarray  # index into the MCC table
    merchant_state: np.ndarray  # state code, country name or "" (object array)
    merchant_city: np.ndarray
    merchant_zip: np.ndarray  # "58523.0" or ""
    merchant_country: np.ndarray  # index into COUNTRIES or -1
    # habits: favourite merchants and the cumulative chance of picking each
    favourites: np.ndarray
    favourite_cum: np.ndarray
    online_favourites: np.ndarray
    online_favourite_cum: np.ndarray

    @property
    def clients(self) -> int:
        """The number of clients."""
        return len(self.rate)


def _money(values: np.ndarray) -> list[str]:
    return [f"${int(v)}" for v in values]


def _build_users(rng: np.random.Generator, n: int,
                 ref_year: int) -> tuple[pd.DataFrame, np.ndarray]:
    cities = geography.US_CITIES
    weights = np.array([c[5] for c in cities])
    home = rng.choice(len(cities), size=n, p=weights / weights.sum())
    age = np.clip(np.round(rng.normal(45, 18, n)), 18, 101).astype(int)
    retirement = np.clip(np.round(rng.normal(66, 3.6, n)), 50, 79).astype(int)
    per_capita = np.round(rng.lognormal(np.log(21_000), 0.45, n))
    yearly = np.round(per_capita * rng.lognormal(np.log(1.95), 0.12, n))
    debt = np.round(yearly * rng.lognormal(np.log(1.15), 0.8, n))
    debt[rng.random(n) < 0.1] = 0
    lat = np.array([cities[h][3] for h in home]) + rng.normal(0, 0.08, n)
    lon = np.array([cities[h][4] for h in home]) + rng.normal(0, 0.08, n)
    streets = rng.integers(0, len(geography.STREET_NAMES), n)
    suffixes = rng.integers(0, len(geography.STREET_SUFFIXES), n)
    numbers = rng.integers(1, 9999, n)
    users = pd.DataFrame({
        "id": np.arange(n),
        "current_age": age,
        "retirement_age": retirement,
        "birth_year": ref_year - age,
        "birth_month": rng.integers(1, 13, n),
        "gender": np.where(rng.random(n) < 0.5, "Female", "Male"),
        "address": [f"{num} {geography.STREET_NAMES[s]} {geography.STREET_SUFFIXES[x]}"
                    for num, s, x in zip(numbers, streets, suffixes, strict=True)],
        "latitude": [f"{v:.2f}" for v in lat],
        "longitude": [f"{v:.2f}" for v in lon],
        "per_capita_income": _money(per_capita),
        "yearly_income": _money(yearly),
        "total_debt": _money(debt),
        "credit_score": np.clip(np.round(rng.normal(712, 66, n)), 480, 850).astype(int),
        "num_credit_cards": 0,  # filled once cards exist
    })
    return users, home


def _luhn_numbers(rng: np.random.Generator, brand: np.ndarray) -> list[str]:
    """Luhn-valid card numbers with the brand's prefix and length (Amex 15, others 16)."""
    prefixes = {0: "4", 1: "5", 2: "37", 3: "6011"}
    out = []
    for b, body in zip(brand.tolist(), rng.integers(0, 10, (len(brand), 16)).tolist(),
                       strict=True):
        length = 15 if b == 2 else 16
        digits = [int(c) for c in prefixes[b]]
        if b == 1:
            digits.append(1 + body[0] % 5)  # Mastercard 51-55
        digits += body[len(digits): length - 1]
        total = 0
        for i, d in enumerate(reversed(digits)):
            d2 = d * 2 if i % 2 == 0 else d
            total += d2 - 9 if d2 > 9 else d2
        out.append("".join(map(str, digits)) + str((10 - total % 10) % 10))
    return out


def _build_cards(rng: np.random.Generator, users: pd.DataFrame, params: GeneratorParams,
                 ref_year: int) -> pd.DataFrame:
    n = len(users)
    p = np.array(params.cards_per_client, dtype=float)
    count = rng.choice(np.arange(1, len(p) + 1), size=n, p=p / p.sum())
    client = np.repeat(np.arange(n), count)
    m = len(client)
    brand_p = np.array(params.brand_shares)
    brand = rng.choice(4, size=m, p=brand_p / brand_p.sum())
    type_p = np.array(params.type_shares)
    amex = brand_p[2] / brand_p.sum()
    # Amex is always Credit, so the other brands carry less Credit to keep the overall mix.
    non_amex = np.array([type_p[0], max(type_p[1] - amex, 0.0), type_p[2]])
    card_type = rng.choice(3, size=m, p=non_amex / non_amex.sum())
    card_type[brand == 2] = 1
    income = users["yearly_income"].str.slice(1).astype(float).to_numpy()[client]
    limit = np.where(card_type == 0, income * rng.lognormal(np.log(0.36), 0.35, m),
                     income * rng.lognormal(np.log(0.22), 0.4, m))
    limit = np.where(card_type == 2, np.clip(rng.normal(64, 35, m), 0, 160), limit)
    open_year = rng.integers(ref_year - 28, ref_year, m)
    pin_year = np.minimum(open_year + rng.integers(0, 12, m), ref_year)
    issued = rng.choice([1, 2, 3], size=m, p=[0.5, 0.48, 0.02])
    return pd.DataFrame({
        "id": rng.permutation(m),
        "client_id": client,
        "card_brand": np.array(formats.CARD_BRANDS)[brand],
        "card_type": np.array(formats.CARD_TYPES)[card_type],
        "card_number": _luhn_numbers(rng, brand),
        "expires": [f"{mo:02d}/{y}" for mo, y in zip(rng.integers(1, 13, m),
                                                    rng.integers(ref_year - 2, ref_year + 6, m),
                                                    strict=True)],
        "cvv": rng.integers(1, 1000, m),
        "has_chip": np.where(rng.random(m) < params.has_chip_share, "YES", "NO"),
        "num_cards_issued": issued,
        "credit_limit": _money(np.round(limit)),
        "acct_open_date": [f"{mo:02d}/{y}" for mo, y in zip(rng.integers(1, 13, m), open_year,
                                                           strict=True)],
        "year_pin_last_changed": pin_year,
        "card_on_dark_web": "No",
        "_brand": brand,
        "_type": card_type,
    })


def _build_merchants(rng: np.random.Generator, home: np.ndarray, params: GeneratorParams
                     ) -> dict[str, np.ndarray]:
    cities = geography.US_CITIES
    residents = np.bincount(home, minlength=len(cities))
    per_city = MERCHANTS_PER_CITY + np.ceil(residents * params.favourite_merchants * 0.5)
    city_of = np.repeat(np.arange(len(cities)), per_city.astype(int))
    n_us = len(city_of)
    # Categories are drawn with sqrt-weights and chosen by clients with sqrt-weights again,
    # so the product lands on the MCC table's shares.
    w = np.sqrt(mcc.IN_PERSON_WEIGHT)
    us_mcc = rng.choice(len(w), size=n_us, p=w / w.sum())
    zips = np.array([cities[c][2] for c in city_of]) + rng.integers(0, 30, n_us)
    us_zip = np.array([f"{z}.0" for z in np.minimum(zips, 99999)], dtype=object)
    us_zip[rng.random(n_us) < 0.01] = ""
    n_online = max(150, len(home) // 2)
    wo = np.sqrt(mcc.ONLINE_WEIGHT)
    online_mcc = rng.choice(len(wo), size=n_online, p=wo / wo.sum())
    countries = geography.COUNTRIES
    country_of = np.repeat(np.arange(len(countries)), ABROAD_MERCHANTS_PER_COUNTRY)
    wa = mcc.IN_PERSON_WEIGHT + mcc.FRAUD_WEIGHT
    abroad_mcc = rng.choice(len(wa), size=len(country_of), p=wa / wa.sum())
    n_all = n_us + n_online + len(country_of)
    return {
        "kind": np.concatenate([np.full(n_us, KIND_US), np.full(n_online, KIND_ONLINE),
                                np.full(len(country_of), KIND_ABROAD)]).astype(np.int8),
        "mcc": np.concatenate([us_mcc, online_mcc, abroad_mcc]).astype(np.int32),
        "city_of": np.concatenate([city_of, np.full(n_all - n_us, -1)]),
        "state": np.array([cities[c][1] for c in city_of] + [""] * n_online
                          + [countries[c][0] for c in country_of], dtype=object),
        "city": np.array([cities[c][0] for c in city_of] + [formats.ONLINE_CITY] * n_online
                         + [countries[c][1] for c in country_of], dtype=object),
        "zip": np.concatenate([us_zip, np.full(n_all - n_us, "", dtype=object)]),
        "country": np.concatenate([np.full(n_us + n_online, -1), country_of]),
        "ids": rng.choice(np.arange(1, max(100_000, 2 * n_all)), size=n_all, replace=False),
    }


def _favourites(rng: np.random.Generator, home: np.ndarray, merchants: dict[str, np.ndarray],
                params: GeneratorParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    cities = geography.US_CITIES
    n, f = len(home), params.favourite_merchants
    city_of = merchants["city_of"]
    by_city = {c: np.flatnonzero(city_of == c) for c in np.unique(home)}
    state_of_city = np.array([c[1] for c in cities])
    merchant_state = np.where(city_of >= 0, state_of_city[city_of.clip(0)], "")
    by_state = {s: np.flatnonzero(merchant_state == s) for s in np.unique(state_of_city[home])}
    favourites = np.empty((n, f), dtype=np.int64)
    for client, city in enumerate(home.tolist()):
        local = rng.random(f) < 0.85
        favourites[client] = np.where(local, rng.choice(by_city[city], f),
                                      rng.choice(by_state[state_of_city[city]], f))
    weights = np.sqrt(mcc.IN_PERSON_WEIGHT)[merchants["mcc"][favourites]]
    weights = weights * rng.lognormal(0, 0.6, weights.shape)
    cum = np.cumsum(weights, axis=1)
    online_pool = np.flatnonzero(merchants["kind"] == KIND_ONLINE)
    online = rng.choice(online_pool, size=(n, params.favourite_online_merchants))
    ow = np.sqrt(mcc.ONLINE_WEIGHT)[merchants["mcc"][online]] * rng.lognormal(0, 0.6, online.shape)
    ocum = np.cumsum(ow, axis=1)
    return favourites, cum / cum[:, -1:], online, ocum / ocum[:, -1:]


def build_population(rng: np.random.Generator, clients: int, params: GeneratorParams,
                     ref_year: int) -> Population:
    """Draw clients, cards, merchants and habits for `clients` clients.

    Args:
        rng: the run's random generator.
        clients: the number of clients (users) to draw.
        params: the generator's parameters (merchants, favourites, spending spread).
        ref_year: the year ages and card dates are counted from.

    Returns:
        The population: the users and cards tables as written to CSV, and per-client,
        per-card and per-merchant arrays the transaction draws index into.
    """
    users, home = _build_users(rng, clients, ref_year)
    cards = _build_cards(rng, users, params, ref_year)
    counts = np.bincount(cards["client_id"].to_numpy(), minlength=clients)
    users["num_credit_cards"] = counts
    merchants = _build_merchants(rng, home, params)
    fav, fav_cum, online, online_cum = _favourites(rng, home, merchants, params)
    rate = rng.lognormal(0, params.client_rate_sigma, clients)
    income = users["yearly_income"].str.slice(1).astype(float).to_numpy()
    return Population(
        home_city=home,
        rate=rate / rate.sum(),
        online_share=np.clip(rng.beta(2, 15, clients) * params.online_share / (2 / 17), 0, 0.9),
        hour_shift=rng.integers(-1, 2, clients),
        amount_scale=rng.lognormal(0, 0.25, clients) * (income / 46_000) ** 0.25,
        users=users,
        card_ids=cards["id"].to_numpy(),
        card_client=cards["client_id"].to_numpy(),
        card_brand=cards["_brand"].to_numpy(),
        card_type=cards["_type"].to_numpy(),
        card_has_chip=(cards["has_chip"] == "YES").to_numpy(),
        card_start=np.concatenate([[0], np.cumsum(counts)[:-1]]),
        card_count=counts,
        cards=cards.drop(columns=["_brand", "_type"]),
        merchant_ids=merchants["ids"],
        merchant_kind=merchants["kind"],
        merchant_mcc=merchants["mcc"],
        merchant_state=merchants["state"],
        merchant_city=merchants["city"],
        merchant_zip=merchants["zip"],
        merchant_country=merchants["country"],
        favourites=fav,
        favourite_cum=fav_cum,
        online_favourites=online,
        online_favourite_cum=online_cum,
    )


def write_reference_csvs(population: Population, out_dir: Path, rng: np.random.Generator,
                         suffix: str = "") -> None:
    """Write users_data.csv and cards_data.csv (rows in a shuffled order, like the source).

    Args:
        population: the users and cards to write.
        out_dir: the folder of the source files.
        rng: the run's random generator, for the shuffles.
        suffix: appended to the file names (the generator renames them when all is done).
    """
    users = population.users.iloc[rng.permutation(len(population.users))]
    users.to_csv(out_dir / (formats.USERS_FILE + suffix), index=False, lineterminator="\n")
    cards = population.cards.iloc[rng.permutation(len(population.cards))]
    cards.to_csv(out_dir / (formats.CARDS_FILE + suffix), index=False, lineterminator="\n")
