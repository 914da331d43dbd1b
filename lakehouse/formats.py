"""The five source-file formats of DATA.md, defined once.

Both the data generator (`lakehouse.datagen`, which writes the files), its format checker and
the source system's loader (`sources_api`, which receives `transactions_data.csv` batches) take
column lists, allowed values and the transaction-row rules from here, so "a valid file" means
the same thing everywhere. Data reaches this module as a header (a list of names) or as a pandas
frame read with every column as text (empty string for a missing value); it leaves as a list of
`RowError` values that say exactly which row and column is wrong and why. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TRANSACTIONS_FILE = "transactions_data.csv"
CARDS_FILE = "cards_data.csv"
USERS_FILE = "users_data.csv"
MCC_FILE = "mcc_codes.json"
LABELS_FILE = "train_fraud_labels.json"
REFERENCE_FILES: tuple[str, ...] = (CARDS_FILE, USERS_FILE, MCC_FILE, LABELS_FILE)
ALL_FILES: tuple[str, ...] = (TRANSACTIONS_FILE, *REFERENCE_FILES)

TRANSACTION_COLUMNS: tuple[str, ...] = (
    "id", "date", "client_id", "card_id", "amount", "use_chip", "merchant_id",
    "merchant_city", "merchant_state", "zip", "mcc", "errors",
)
CARD_COLUMNS: tuple[str, ...] = (
    "id", "client_id", "card_brand", "card_type", "card_number", "expires", "cvv", "has_chip",
    "num_cards_issued", "credit_limit", "acct_open_date", "year_pin_last_changed",
    "card_on_dark_web",
)
USER_COLUMNS: tuple[str, ...] = (
    "id", "current_age", "retirement_age", "birth_year", "birth_month", "gender", "address",
    "latitude", "longitude", "per_capita_income", "yearly_income", "total_debt", "credit_score",
    "num_credit_cards",
)

USE_CHIP_VALUES: tuple[str, ...] = ("Swipe Transaction", "Chip Transaction", "Online Transaction")
ERROR_VALUES: tuple[str, ...] = (
    "Insufficient Balance", "Bad PIN", "Technical Glitch", "Bad Card Number", "Bad Expiration",
    "Bad CVV", "Bad Zipcode",
)
CARD_BRANDS: tuple[str, ...] = ("Visa", "Mastercard", "Amex", "Discover")
CARD_TYPES: tuple[str, ...] = ("Debit", "Credit", "Debit (Prepaid)")
GENDERS: tuple[str, ...] = ("Female", "Male")
LABEL_VALUES: tuple[str, ...] = ("Yes", "No")
ONLINE_CITY = "ONLINE"
US_STATES: tuple[str, ...] = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN",
    "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH",
    "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
    "VT", "VA", "WA", "WV", "WI", "WY",
)

# Regexes of the text forms. Ids stay below 19 digits so they fit a BIGINT.
INTEGER_RE = r"\d{1,18}"
DATE_RE = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"
AMOUNT_RE = r"\$-?\d+\.\d{2}"
WHOLE_DOLLARS_RE = r"\$-?\d+"
ZIP_RE = r"\d{1,5}\.0"
MCC_RE = r"\d{4}"
MONTH_YEAR_RE = r"(0[1-9]|1[0-2])/\d{4}"
_ONE_ERROR = "(?:" + "|".join(ERROR_VALUES) + ")"
ERRORS_RE = f"{_ONE_ERROR}(?:,{_ONE_ERROR})*"


@dataclass(frozen=True)
class RowError:
    """One problem in a source file.

    `row` is the 1-based data-row number (the header is not counted; 0 means the header
    itself, or the whole file when `column` is ""); `column` is "" when the problem concerns
    the whole row or file.
    """

    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        if self.row == 0 and not self.column:
            return self.reason  # a whole-file problem
        where = "header" if self.row == 0 else f"row {self.row}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.reason}"


def show(value: str, limit: int = 40) -> str:
    """A value quoted for a message, shortened so one bad row cannot flood a report.

    Args:
        value: the offending text.
        limit: at most this many characters are shown.

    Returns:
        The value's `repr`, cut to `limit` characters with "..." when longer.
    """
    text = value if len(value) <= limit else value[: limit - 3] + "..."
    return repr(text)


def validate_header(
    columns: Sequence[str], expected: Sequence[str], file_name: str
) -> list[RowError]:
    """Compare a file's header with the expected column list: missing, unknown, order.

    Args:
        columns: the header as read.
        expected: the format's column list (e.g. `CARD_COLUMNS`).
        file_name: named in the messages.

    Returns:
        One `RowError` (row 0) per problem; empty when the header is exactly `expected`.
    """
    found = [str(c) for c in columns]
    errors: list[RowError] = []
    seen: set[str] = set()
    for name in found:
        if name in seen:
            errors.append(RowError(0, name, f"column {name!r} appears twice in {file_name}"))
        seen.add(name)
    for name in expected:
        if name not in seen:
            errors.append(RowError(0, name, f"missing column {name!r} in {file_name}"))
    for name in found:
        if name not in expected:
            errors.append(RowError(
                0, name, f"unknown column {name!r} in {file_name} (expected {','.join(expected)})"
            ))
    if not errors and found != list(expected):
        for position, (got, want) in enumerate(zip(found, expected, strict=True), start=1):
            if got != want:
                errors.append(RowError(
                    0, got, f"column {got!r} at position {position}, expected {want!r} "
                    f"(order must be {','.join(expected)})"
                ))
                break
    return errors


def validate_transaction_header(columns: Sequence[str]) -> list[RowError]:
    """Check a transactions_data.csv header against `TRANSACTION_COLUMNS`.

    Args:
        columns: the header as read.

    Returns:
        The problems, as `validate_header` reports them.
    """
    return validate_header(columns, TRANSACTION_COLUMNS, TRANSACTIONS_FILE)


def text_column(frame: pd.DataFrame, name: str) -> pd.Series:
    """Column `name` as strings with missing values as "" (callers may pass NaN or None).

    Args:
        frame: the rows.
        name: the column.

    Returns:
        The column as text.
    """
    column = frame[name]
    if column.isna().any():
        column = column.fillna("")
    return column.astype(str)


class ErrorCollector:
    """Gathers bad-row masks per column, keeping at most `limit` messages of each."""

    def __init__(self, first_row: int, limit: int) -> None:
        self.first_row = first_row
        self.limit = limit
        self.errors: list[RowError] = []

    def add(self, mask: np.ndarray, values: pd.Series, column: str, reason: str) -> None:
        """Record each row where `mask` holds; `reason` may use {value}.

        Args:
            mask: True for the bad rows of the frame.
            values: the column checked (its values appear in the messages).
            column: the column's name.
            reason: the message, with `{value}` standing for the row's value.
        """
        positions = np.flatnonzero(np.asarray(mask, dtype=bool))[: self.limit]
        texts = values.iloc[positions].tolist() if len(positions) else []
        for position, value in zip(positions, texts, strict=True):
            self.errors.append(RowError(
                self.first_row + int(position), column, reason.format(value=show(str(value)))
            ))


def _arrow(values: pd.Series) -> pa.Array:
    """The column as one contiguous Arrow string array (pyarrow's RE2 kernels are fast)."""
    array = pa.array(values, type=pa.large_string(), from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array


def mismatches(values: pd.Series, pattern: str, allow_empty: bool = False) -> np.ndarray:
    """Rows whose text does not match `pattern` entirely (optionally allowing "").

    Args:
        values: a text column (`text_column`).
        pattern: a regular expression (RE2 syntax), matched against the whole value.
        allow_empty: whether "" is accepted too.

    Returns:
        A boolean mask, True where the value does not match.
    """
    anchored = f"^(?:{pattern})$"
    if allow_empty:
        anchored = f"^(?:(?:{pattern})|)$"
    ok = pc.match_substring_regex(_arrow(values), anchored)
    return ~ok.to_numpy(zero_copy_only=False)


def _check_dates(
    values: pd.Series, out: ErrorCollector, window: tuple[str, str] | None = None
) -> None:
    shape_bad = mismatches(values, DATE_RE)
    out.add(shape_bad, values, "date", "{value} is not a date like 2010-01-01 00:01:00")
    # The shape is right but the calendar may not be (2019-02-30, 25:00): parse to be sure.
    # Arrow's strptime rolls 02-30 over to 03-02, so the parsed day must equal the written one.
    text = _arrow(values)
    parsed = pc.strptime(text, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
    written_day = pc.cast(pc.if_else(pa.array(shape_bad), "0",
                                     pc.utf8_slice_codeunits(text, 8, 10)), pa.int64())
    same_day = pc.fill_null(pc.equal(pc.day(parsed), written_day), False)
    not_real = ~same_day.to_numpy(zero_copy_only=False) & ~shape_bad
    out.add(not_real, values, "date", "{value} is not a real date and time")
    if window is not None:
        # ISO text sorts like time, so the bounds compare as strings.
        earliest, latest = window
        outside = (values < earliest) | (values > latest)
        out.add(outside.to_numpy() & ~shape_bad & ~not_real, values, "date",
                f"{{value}} is outside the accepted range {earliest[:10]} .. {latest[:10]}")


def _check_ids(values: pd.Series, out: ErrorCollector) -> None:
    bad = mismatches(values, INTEGER_RE)
    out.add(bad, values, "id", "{value} is not a positive integer id")
    duplicated = values.duplicated(keep="first").to_numpy() & ~bad
    positions = np.flatnonzero(duplicated)[: out.limit]
    if len(positions):
        first_seen = {v: i for i, v in reversed(list(enumerate(values.tolist())))}
        for position in positions:
            value = values.iloc[position]
            out.errors.append(RowError(
                out.first_row + int(position), "id",
                f"duplicate id {show(value)} (first at row {out.first_row + first_seen[value]})",
            ))


def _check_location(frame: pd.DataFrame, out: ErrorCollector) -> None:
    city = text_column(frame, "merchant_city")
    state = text_column(frame, "merchant_state")
    zip_code = text_column(frame, "zip")
    out.add(city == "", city, "merchant_city", "merchant_city is empty (use ONLINE for online)")
    online = (city == ONLINE_CITY).to_numpy()
    out.add(online & (state != "").to_numpy(), state, "merchant_state",
            "{value} must be empty when merchant_city is ONLINE")
    out.add(online & (zip_code != "").to_numpy(), zip_code, "zip",
            "{value} must be empty when merchant_city is ONLINE")
    out.add(mismatches(zip_code, ZIP_RE, allow_empty=True), zip_code, "zip",
            "{value} is not a zip like 58523.0 (or empty)")


def validate_transactions(
    frame: pd.DataFrame,
    first_row: int = 1,
    max_errors: int = 1000,
    date_window: tuple[str, str] | None = None,
) -> list[RowError]:
    """Check every row of a transactions frame read with all columns as text.

    Vectorized: each rule is one pass over a column.

    Args:
        frame: the rows, every column as text ("" for missing: `read_transactions_csv`).
        first_row: the file row number of the frame's first row (for chunked reading).
        max_errors: at most this many errors are returned (and collected per rule).
        date_window: the inclusive ('YYYY-MM-DD HH:MM:SS', same) range a transaction date
            must fall in; None accepts any date.

    Returns:
        The errors sorted by row (header problems first); empty when the frame is valid.
    """
    header = validate_transaction_header(list(frame.columns))
    if header:
        return header[:max_errors]
    out = ErrorCollector(first_row, max_errors)
    _check_ids(text_column(frame, "id"), out)
    _check_dates(text_column(frame, "date"), out, date_window)
    for name in ("client_id", "card_id", "merchant_id"):
        values = text_column(frame, name)
        out.add(mismatches(values, INTEGER_RE), values, name,
                "{value} is not a positive integer id")
    amount = text_column(frame, "amount")
    out.add(mismatches(amount, AMOUNT_RE), amount, "amount",
            "{value} is not a dollar amount like $-77.00")
    use_chip = text_column(frame, "use_chip")
    out.add(~use_chip.isin(USE_CHIP_VALUES), use_chip, "use_chip",
            "{value} is not one of " + ", ".join(USE_CHIP_VALUES))
    _check_location(frame, out)
    mcc = text_column(frame, "mcc")
    out.add(mismatches(mcc, MCC_RE), mcc, "mcc", "{value} is not a 4-digit merchant category code")
    errors = text_column(frame, "errors")
    out.add(mismatches(errors, ERRORS_RE, allow_empty=True), errors, "errors",
            "{value} is not empty or a comma-joined list of " + ", ".join(ERROR_VALUES))
    column_order = {name: i for i, name in enumerate(TRANSACTION_COLUMNS)}
    out.errors.sort(key=lambda e: (e.row, column_order.get(e.column, 99)))
    return out.errors[:max_errors]


def read_transactions_csv(
    source: str | Path | IO[str] | IO[bytes], **kwargs: Any
) -> pd.DataFrame:
    """Read transactions CSV text the way `validate_transactions` expects (all text, "" missing).

    Args:
        source: a path or an open file.
        **kwargs: passed to `pandas.read_csv` (e.g. `chunksize`).

    Returns:
        The rows (with `chunksize`, pandas' reader yielding such frames).
    """
    return pd.read_csv(source, dtype=str, keep_default_na=False, na_filter=False, **kwargs)
