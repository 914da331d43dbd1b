"""The window aggregates of the declarations, evaluated on sorted columns instead of in SQL.

The generated SQL (`batch_sql.features_sql`) computes every `rows="all"` aggregate as a RANGE
window function; DuckDB evaluates each distinct frame with its own pass over the partition,
and at the full 13.3 M rows those windows were most of the gold stage. Here the same numbers
come from one sort per entity: the rows are ordered by (entity keys, `ts_s`), every window
`[t - window, t - 1]` becomes two binary searches on that order, and counts, sums and
standard deviations are differences of prefix sums. Sums are taken over exact integers (the
summed columns are whole cents or whole numbers, checked), so they are the exact values the
SQL approximates in floating point; a column that is not whole cents makes `window_columns`
return None and the caller keeps the SQL windows. Every aggregate is read from
`declarations.AGGREGATES`, so a declaration has one home whichever way it is evaluated.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.features.declarations import AGGREGATES, DAY, ENTITIES, Aggregate

# The column an entity key is partitioned by where it differs: the raw (not coded) merchant
# state, for `client_state` windows.
PARTITION_COLUMNS = {"merchant_state": "merchant_state_raw"}
# Money columns hold whole cents: summed exactly as integers of this many units per unit.
_CENTS = 100
_TIME = "ts_s"


def window_aggregates() -> tuple[Aggregate, ...]:
    """The aggregates over every earlier row of an entity (the SQL's window functions).

    Returns:
        `AGGREGATES` with `rows == "all"`, in declaration order.
    """
    return tuple(a for a in AGGREGATES if a.rows == "all")


def window_columns(tx: pa.Table) -> pa.Table | None:
    """`tx` with one column per window aggregate appended, as the SQL windows compute them.

    Args:
        tx: the feature SQL's `tx` rows (`batch_sql.tx_sql`): `ts_s`, the entity keys and the
            aggregated columns, in any order.

    Returns:
        The table with the aggregate columns (counts BIGINT, sums of money and deviations
        DOUBLE, sums of whole numbers and last-seen BIGINT, NULL where the SQL gives NULL),
        or None when a summed column is not in whole cents (or a deviation's sums would not
        fit in int64), so exact sums cannot be promised.
    """
    aggregates = window_aggregates()
    units = {a.column: _integer_units(tx.column(a.column))
             for a in aggregates if a.kind in ("sum", "std")}
    if any(u is None for u in units.values()):
        return None
    times = tx.column(_TIME).to_numpy().astype(np.int64)
    columns = {}
    for entity in dict.fromkeys(a.entity for a in aggregates):
        sorted_rows = _EntityOrder(tx, entity, times)
        for aggregate in (a for a in aggregates if a.entity == entity):
            try:
                columns[aggregate.name] = sorted_rows.evaluate(aggregate, units)
            except OverflowError:
                return None
    for name, column in columns.items():
        tx = tx.append_column(name, column)
    return tx


def _integer_units(column: pa.ChunkedArray) -> tuple[np.ndarray, int] | None:
    """The column as exact int64 units and the units per value (1, or 100 for cents)."""
    if pa.types.is_integer(column.type) or pa.types.is_boolean(column.type):
        if column.null_count:
            return None
        return column.to_numpy(zero_copy_only=False).astype(np.int64), 1
    values = column.to_numpy(zero_copy_only=False).astype(np.float64)
    if column.null_count or not np.all(np.isfinite(values)):
        return None
    cents = np.rint(values * _CENTS)
    if not np.array_equal(cents / _CENTS, values) or np.abs(cents).max(initial=0) >= 2**31:
        return None
    return cents.astype(np.int64), _CENTS


class _EntityOrder:
    """The rows of `tx` sorted by one entity's keys then time, with each row's window bounds."""

    def __init__(self, tx: pa.Table, entity: str, times: np.ndarray) -> None:
        codes = [_codes(tx.column(PARTITION_COLUMNS.get(k, k))) for k in ENTITIES[entity]]
        self.order = np.lexsort((times, *reversed(codes)))
        group_start = np.zeros(len(times), dtype=bool)
        group_start[:1] = True
        for code in codes:
            ordered = code[self.order]
            group_start[1:] |= ordered[1:] != ordered[:-1]
        group = np.cumsum(group_start, dtype=np.int64)
        self.times = times[self.order]
        # One sortable int64 per row: the group, then the time from an origin that leaves
        # room for the longest window before the first row.
        self._shift = int(max(a.window or 0 for a in window_aggregates())) + 1
        self._origin = int(self.times.min(initial=0)) - self._shift
        span = int(self.times.max(initial=0)) - self._origin + 1
        if span >= 2**32 or len(times) >= 2**31:
            raise ValueError("rows span more than 2**32 seconds or 2**31 rows")
        self._group = group << 32
        self._keys = self._group | (self.times - self._origin)
        self._bounds: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def bounds(self, window: int) -> tuple[np.ndarray, np.ndarray]:
        """[low, high) positions in sorted order of the rows in [t - window, t - 1] of each
        sorted row's group (RANGE BETWEEN window PRECEDING AND 1 PRECEDING)."""
        if window not in self._bounds:
            relative = self.times - self._origin
            low = np.searchsorted(self._keys, self._group | (relative - window), "left")
            high = np.searchsorted(self._keys, self._keys, "left")
            self._bounds[window] = (low, high)
        return self._bounds[window]

    def evaluate(self, aggregate: Aggregate, units: dict) -> pa.Array:
        """One aggregate for every row of `tx`, in `tx`'s order."""
        low, high = self.bounds(int(aggregate.window))
        count = high - low
        if aggregate.kind == "count":
            return pa.array(self._unsorted(count))
        if aggregate.kind == "last_seen":
            last = self.times[np.maximum(high - 1, 0)]
            return pa.array(self._unsorted(last), mask=self._unsorted(count == 0))
        values, per_unit = units[aggregate.column]
        values = values[self.order]
        total = _window_total(values, low, high)
        if aggregate.kind == "sum":  # whole numbers stay integers, cents become DOUBLE
            return pa.array(self._unsorted(total if per_unit == 1 else total / per_unit))
        largest = int(np.abs(values).max(initial=0))
        if (int(count.max(initial=0)) * largest) ** 2 >= 2**62:  # n·Σx² and (Σx)² bound
            raise OverflowError(f"{aggregate.name}: window too large for exact int64 sums")
        squares = _window_total(values * values, low, high)
        spread = count * squares - total * total  # n² times the sample variance (n-1)/n
        with np.errstate(divide="ignore", invalid="ignore"):
            std = np.sqrt(spread.astype(np.float64) / (count * (count - 1))) / per_unit
        return pa.array(self._unsorted(std), mask=self._unsorted(count < 2))

    def _unsorted(self, values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[self.order] = values
        return out


def _window_total(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Sums of values[low:high] row by row, exact: int64 prefix sums (a wrapped prefix still
    gives the right difference, since every window's sum fits in int64)."""
    prefix = _prefix(values)
    return prefix[high] - prefix[low]


def _codes(column: pa.ChunkedArray) -> np.ndarray:
    """Dense int codes of a key column, NULL its own code (as SQL's PARTITION BY groups it)."""
    encoded = pc.dictionary_encode(column.combine_chunks(), null_encoding="encode")
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)


def label_tallies(tx: pa.Table, summary: pa.Table) -> dict[str, pa.Table]:
    """The known-label tallies of each labeled entity (merchant, MCC, global) on the days of `tx`.

    The same numbers as the SQL's `<entity>_known` relations (`batch_sql.KNOWN_RELATIONS`) on
    the (key, day) pairs of `tx`, which are the only ones the feature rows join: the labels
    known by day D (known day <= D) and, for each windowed `labeled_known` declaration, those
    whose known day is in the last `window` days up to D. Integer prefix sums over the tallies
    sorted by (key, day), two binary searches per pair.

    Args:
        tx: rows with `day_n` and the entities' key columns (`merchant_id`, `mcc_code`).
        summary: known-label tallies (`LABEL_SUMMARY_COLUMNS`, e.g. `fold_labels_sql`'s).

    Returns:
        {entity: its keys, `day_n`, `fraud_known`, `labeled_known` and the windowed tallies
        by declaration name (BIGINT)}, one row per (key, day) of `tx`.
    """
    known = [a for a in AGGREGATES if a.rows == "labeled_known"]
    return {
        entity: _entity_tallies(tx, summary, entity, [a for a in known if a.entity == entity])
        for entity in dict.fromkeys(a.entity for a in known)
    }


def _entity_tallies(
    tx: pa.Table, summary: pa.Table, entity: str, aggregates: list[Aggregate]
) -> pa.Table:
    keys = ENTITIES[entity]
    days = {"tx": tx.column("day_n").to_numpy().astype(np.int64),
            "summary": summary.column("day_n").to_numpy().astype(np.int64)}
    code = {"tx": np.zeros(tx.num_rows, np.int64), "summary": np.zeros(summary.num_rows, np.int64)}
    for key in keys:  # one code per key value, the same in both tables
        both = _codes(pa.chunked_array([*tx.column(key).chunks,
                                        *summary.column(key).cast(tx.schema.field(key).type).chunks]))
        code = {"tx": code["tx"] * (both.max(initial=0) + 1) + both[: tx.num_rows],
                "summary": code["summary"] * (both.max(initial=0) + 1) + both[tx.num_rows:]}
    longest = max((a.window // DAY for a in aggregates if a.window), default=0)
    origin = int(min(days["tx"].min(initial=0), days["summary"].min(initial=0))) - longest - 1
    tx_keys = (code["tx"] << 32) | (days["tx"] - origin)
    pairs, first = np.unique(tx_keys, return_index=True)
    order = np.argsort((code["summary"] << 32) | (days["summary"] - origin), kind="stable")
    sorted_keys = ((code["summary"] << 32) | (days["summary"] - origin))[order]
    prefix = {column: _prefix(summary.column(column).to_numpy().astype(np.int64)[order])
              for column in ("fraud_n", "labeled_n")}
    upto = np.searchsorted(sorted_keys, pairs, "right")
    start = np.searchsorted(sorted_keys, (pairs >> 32) << 32, "left")
    columns = {key: tx.column(key).take(first) for key in keys}
    columns["day_n"] = pa.array(days["tx"][first])
    columns["fraud_known"] = pa.array(prefix["fraud_n"][upto] - prefix["fraud_n"][start])
    columns["labeled_known"] = pa.array(prefix["labeled_n"][upto] - prefix["labeled_n"][start])
    for aggregate in aggregates:
        if aggregate.window:
            since = np.searchsorted(sorted_keys, pairs - aggregate.window // DAY, "right")
            tally = prefix["fraud_n" if aggregate.kind == "known_fraud" else "labeled_n"]
            columns[aggregate.name] = pa.array(tally[upto] - tally[since])
    return pa.table(columns)


def _prefix(values: np.ndarray) -> np.ndarray:
    """0 then the running int64 sums of `values`."""
    prefix = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(values, out=prefix[1:])
    return prefix
