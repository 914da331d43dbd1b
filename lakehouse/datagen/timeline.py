"""The calendar of a generation run: days covered, chunk boundaries and fraud waves.

`generate` builds one `Timeline` from `start`/`end`; the transaction generator draws days
inside a chunk's day range, and the fraud planner draws event start days with the fraud
intensity (monthly waves around a yearly trend). Times are int64 seconds since 1970-01-01,
at minute resolution.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from lakehouse.datagen.params import GeneratorParams

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class Timeline:
    """Days `[first_day, first_day + days)` as day numbers since the epoch."""

    first_day: int
    days: int

    @classmethod
    def from_dates(cls, start: str, end: str) -> Timeline:
        """The days from `start` to `end`, both included.

        Args:
            start: first day, YYYY-MM-DD.
            end: last day, YYYY-MM-DD.

        Returns:
            The timeline.

        Raises:
            ValueError: `end` is before `start`.
        """
        first = np.datetime64(start, "D")
        last = np.datetime64(end, "D")
        if last < first:
            raise ValueError(f"end date {end} is before start date {start}")
        return cls(int(first.astype(np.int64)), int((last - first).astype(np.int64)) + 1)

    @property
    def end_second(self) -> int:
        """Epoch second just after the last day."""
        return (self.first_day + self.days) * SECONDS_PER_DAY

    @property
    def last_year(self) -> int:
        """The calendar year of the last day."""
        last = np.datetime64(self.first_day + self.days - 1, "D")
        return int(str(last)[:4])

    def chunk_bounds(self, rows: int, chunk_rows: int) -> list[tuple[int, int]]:
        """Day ranges (absolute day numbers) of the chunks, about `chunk_rows` rows each.

        Args:
            rows: transactions to generate in all.
            chunk_rows: the rows wanted per chunk.

        Returns:
            `[start, end)` day pairs covering the timeline.
        """
        chunks = max(1, min(self.days, -(-rows // max(chunk_rows, 1))))
        edges = [self.first_day + self.days * k // chunks for k in range(chunks + 1)]
        return list(itertools.pairwise(edges))

    def day_of(self, date: str) -> int:
        """The day number (since 1970-01-01) of a YYYY-MM-DD date.

        Args:
            date: the date.

        Returns:
            Its day number.
        """
        return int(np.datetime64(date, "D").astype(np.int64))

    def fraud_intensity(self, rng: np.random.Generator, params: GeneratorParams) -> np.ndarray:
        """Relative fraud intensity of every day: monthly waves times a yearly trend.

        Args:
            rng: the generator's random source.
            params: `fraud_time_sigma` and `fraud_time_trend`.

        Returns:
            One weight per day, summing to 1.
        """
        day = np.arange(self.days) + self.first_day
        months = day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        month_index = months - months.min()
        waves = rng.lognormal(0.0, params.fraud_time_sigma, int(month_index.max()) + 1)
        years = (day - day[0]) / 365.25
        intensity = waves[month_index] * np.exp(params.fraud_time_trend * years)
        return intensity / intensity.sum()


def draw_minutes(rng: np.random.Generator, day: np.ndarray, hour_profile: np.ndarray,
                 shift: np.ndarray | int = 0) -> np.ndarray:
    """Timestamps (seconds) on the given days at hours drawn from `hour_profile`.

    Args:
        rng: the generator's random source.
        day: day numbers, one per timestamp wanted.
        hour_profile: 24 relative weights.
        shift: hours added (a client's time zone), per row or for all.

    Returns:
        Epoch seconds, whole minutes.
    """
    p = hour_profile / hour_profile.sum()
    hour = (rng.choice(24, size=len(day), p=p) + shift) % 24
    minute = rng.integers(0, 60, len(day))
    return day.astype(np.int64) * SECONDS_PER_DAY + hour * 3600 + minute * 60
