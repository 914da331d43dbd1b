"""Format checker for a raw folder: are these the five files of DATA.md, byte-format exact?

Used by the tests (on generated data and on deliberately broken copies) and by anyone who
drops the real dataset into the raw folder. It reads each file from disk (transactions in
chunks, so memory stays bounded), applies the rules of `lakehouse.formats` plus the per-file
rules below and the cross-file ones (cards and clients exist, MCC codes are known, labels name
real transactions), and returns precise problems; it never modifies anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse import formats
from lakehouse.formats import ErrorCollector, RowError, mismatches, text_column

CHUNK_ROWS = 500_000
_FIELDS_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


@dataclass(frozen=True)
class FormatError:
    """A problem in one file of a raw folder."""

    file: str
    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        if self.row == 0 and self.column and not self.reason.startswith(
                ("missing column", "unknown column", "column ")):
            return f"{self.file}, column {self.column}: {self.reason}"  # about the whole file
        return f"{self.file}: {RowError(self.row, self.column, self.reason)}"


@dataclass
class TransactionFacts:
    """What later checks need to know about the transactions file."""

    ids: np.ndarray
    client_ids: np.ndarray
    card_ids: np.ndarray
    mcc_codes: np.ndarray


def _parse_error(exc: Exception) -> RowError:
    match = _FIELDS_RE.search(str(exc))
    if match:
        expected, line, saw = (int(g) for g in match.groups())
        row = line - 1  # the parser counts file lines; line 1 is the header
        return RowError(row, "", f"has {saw} fields, expected {expected} (unquoted comma?)")
    return RowError(0, "", f"is not readable CSV: {exc}")


def _chunks(path: Path) -> Iterator[tuple[int, pd.DataFrame]]:
    first = 1
    for frame in formats.read_transactions_csv(path, chunksize=CHUNK_ROWS):
        yield first, frame
        first += len(frame)


def _scan_transactions(path: Path, max_errors: int
                       ) -> tuple[list[RowError], TransactionFacts | None]:
    errors: list[RowError] = []
    ids, clients, cards, codes = [], [], [], []
    last_date, first = "", 1
    try:
        for first, frame in _chunks(path):
            found = formats.validate_transactions(frame, first, max_errors - len(errors))
            errors += found
            if len(errors) >= max_errors or any(e.row == 0 for e in found):
                return errors, None
            dates = text_column(frame, "date")
            unsorted = np.flatnonzero(dates.to_numpy()[1:] < dates.to_numpy()[:-1])
            if len(dates) and dates.iloc[0] < last_date:
                errors.append(RowError(first, "date", "file is not sorted by date"))
            elif len(unsorted):
                errors.append(RowError(first + int(unsorted[0]) + 1, "date",
                                       "file is not sorted by date"))
            last_date = dates.iloc[-1] if len(dates) else last_date
            if not found:
                ids.append(frame["id"].astype(np.int64).to_numpy())
                clients.append(np.unique(frame["client_id"].astype(np.int64)))
                cards.append(np.unique(frame["card_id"].astype(np.int64)))
                codes.append(np.unique(frame["mcc"].astype(np.int64)))
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        return [*errors, _parse_error(exc)], None
    except pd.errors.EmptyDataError:
        return [RowError(0, "", "file is empty (no header)")], None
    if errors:
        return errors[:max_errors], None
    all_ids = np.concatenate(ids) if ids else np.empty(0, np.int64)
    unique, counts = np.unique(all_ids, return_counts=True)
    if (counts > 1).any():
        duplicate = int(unique[counts > 1][0])
        row = int(np.flatnonzero(all_ids == duplicate)[1]) + 1
        return [RowError(row, "id", f"duplicate id {duplicate} (ids must be unique)")], None
    facts = TransactionFacts(all_ids, *(np.unique(np.concatenate(p)) if p else np.empty(0)
                                        for p in (clients, cards, codes)))
    return [], facts


def check_transactions_csv(path: Path, max_errors: int = 100) -> list[RowError]:
    """All format problems of a transactions_data.csv (header, rows, order, unique ids).

    Args:
        path: the file.
        max_errors: at most this many problems are reported.

    Returns:
        The problems (empty: the file is valid).
    """
    return _scan_transactions(Path(path), max_errors)[0]


def _read_text_csv(path: Path, expected: tuple[str, ...]) -> tuple[pd.DataFrame | None,
                                                                  list[RowError]]:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        return None, [_parse_error(exc)]
    except pd.errors.EmptyDataError:
        return None, [RowError(0, "", "file is empty (no header)")]
    header = formats.validate_header(list(frame.columns), expected, Path(path).name)
    return (None, header) if header else (frame, [])


def _check_rules(frame: pd.DataFrame, rules: dict[str, tuple[str, str]],
                 max_errors: int) -> list[RowError]:
    out = ErrorCollector(1, max_errors)
    for column, (pattern, meaning) in rules.items():
        values = text_column(frame, column)
        out.add(mismatches(values, pattern), values, column, "{value} is not " + meaning)
    ids = text_column(frame, "id")
    out.add(ids.duplicated().to_numpy(), ids, "id", "duplicate id {value}")
    return sorted(out.errors, key=lambda e: e.row)[:max_errors]


def _choice(values: tuple[str, ...]) -> str:
    return "|".join(re.escape(v) for v in values)


CARD_RULES: dict[str, tuple[str, str]] = {
    "id": (formats.INTEGER_RE, "an integer id"),
    "client_id": (formats.INTEGER_RE, "an integer id"),
    "card_brand": (_choice(formats.CARD_BRANDS), "one of " + ", ".join(formats.CARD_BRANDS)),
    "card_type": (_choice(formats.CARD_TYPES), "one of " + ", ".join(formats.CARD_TYPES)),
    "card_number": (r"\d{12,19}", "a card number of 12 to 19 digits"),
    "expires": (formats.MONTH_YEAR_RE, "a month like 12/2022"),
    "cvv": (r"\d{1,4}", "a CVV of 1 to 4 digits"),
    "has_chip": ("YES|NO", "YES or NO"),
    "num_cards_issued": (r"\d{1,2}", "a small integer"),
    "credit_limit": (formats.WHOLE_DOLLARS_RE, "a whole-dollar amount like $24295"),
    "acct_open_date": (formats.MONTH_YEAR_RE, "a month like 09/2002"),
    "year_pin_last_changed": (r"\d{4}", "a year like 2008"),
    "card_on_dark_web": ("Yes|No", "Yes or No"),
}
USER_RULES: dict[str, tuple[str, str]] = {
    "id": (formats.INTEGER_RE, "an integer id"),
    "current_age": (r"\d{1,3}", "an age in years"),
    "retirement_age": (r"\d{1,3}", "an age in years"),
    "birth_year": (r"\d{4}", "a year like 1966"),
    "birth_month": (r"[1-9]|1[0-2]", "a month number 1-12"),
    "gender": (_choice(formats.GENDERS), "Female or Male"),
    "address": (r".+", "a non-empty address"),
    "latitude": (r"-?\d{1,2}(\.\d+)?", "a latitude like 34.15"),
    "longitude": (r"-?\d{1,3}(\.\d+)?", "a longitude like -117.76"),
    "per_capita_income": (formats.WHOLE_DOLLARS_RE, "a whole-dollar amount like $29278"),
    "yearly_income": (formats.WHOLE_DOLLARS_RE, "a whole-dollar amount like $59696"),
    "total_debt": (formats.WHOLE_DOLLARS_RE, "a whole-dollar amount like $127613"),
    "credit_score": (r"[3-7]\d\d|8[0-4]\d|850", "a credit score 300-850"),
    "num_credit_cards": (r"\d{1,2}", "a small integer"),
}


def check_cards_csv(path: Path, max_errors: int = 100) -> list[RowError]:
    """Format problems of a cards_data.csv.

    Args:
        path: the file.
        max_errors: at most this many problems are reported.

    Returns:
        The problems (empty: the file is valid).
    """
    frame, errors = _read_text_csv(Path(path), formats.CARD_COLUMNS)
    return errors if frame is None else _check_rules(frame, CARD_RULES, max_errors)


def check_users_csv(path: Path, max_errors: int = 100) -> list[RowError]:
    """Format problems of a users_data.csv.

    Args:
        path: the file.
        max_errors: at most this many problems are reported.

    Returns:
        The problems (empty: the file is valid).
    """
    frame, errors = _read_text_csv(Path(path), formats.USER_COLUMNS)
    return errors if frame is None else _check_rules(frame, USER_RULES, max_errors)


def _load_json(path: Path) -> tuple[object, list[RowError]]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8")), []
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, [RowError(0, "", f"is not valid JSON: {exc}")]


def check_mcc_json(path: Path) -> list[RowError]:
    """mcc_codes.json must map 3-4 digit codes (as text) to non-empty descriptions.

    Args:
        path: the file.

    Returns:
        The problems (empty: the file is valid).
    """
    data, errors = _load_json(path)
    if errors:
        return errors
    if not isinstance(data, dict) or not data:
        return [RowError(0, "", 'must be a non-empty JSON object like {"5812": "Eating ..."}')]
    return [RowError(i, "", f"entry {key!r}: {value!r} is not code -> description")
            for i, (key, value) in enumerate(data.items(), start=1)
            if not re.fullmatch(r"\d{3,4}", str(key)) or not isinstance(value, str) or not value]


LABELS_PREFIX = '{"target": {'
_LABEL_ENTRY_RE = r'^"(?P<key>[^"]*)": "(?P<value>[^"]*)"$'


def _label_entries_fast(text: str) -> tuple[pd.Series, pd.Series] | None:
    """Keys and values of a one-line labels file, split by Arrow without building a dict.

    The real file and the generator's are one line, `{"target": {"1": "No", "2": "Yes"}}`;
    9 M entries as a Python dict would take gigabytes. Anything else returns None and goes
    through the JSON parser.
    """
    if not (text.startswith(LABELS_PREFIX) and text.endswith("}}")):
        return None
    inner = text[len(LABELS_PREFIX):-2]
    if not inner:
        return pd.Series([], dtype=str), pd.Series([], dtype=str)
    entries = pc.split_pattern(pa.array([inner], pa.large_string()), pattern=", ").flatten()
    parts = pc.extract_regex(entries, _LABEL_ENTRY_RE)
    if parts.null_count:
        return None
    return (pd.Series(parts.field("key").to_pandas(), dtype=str),
            pd.Series(parts.field("value").to_pandas(), dtype=str))


def _label_entries(path: Path) -> tuple[tuple[pd.Series, pd.Series] | None, list[RowError]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [RowError(0, "", f"is not valid UTF-8 JSON: {exc}")]
    fast = _label_entries_fast(text)
    if fast is not None:
        return fast, []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [RowError(0, "", f"is not valid JSON: {exc}")]
    target = data.get("target") if isinstance(data, dict) else None
    if not isinstance(target, dict) or set(data) != {"target"}:
        return None, [RowError(0, "", 'must be a JSON object {"target": {"<id>": "Yes"|"No"}}')]
    return (pd.Series(list(target.keys()), dtype=str),
            pd.Series(list(target.values()), dtype=object).astype(str)), []


def check_labels_json(path: Path, transaction_ids: np.ndarray | None = None,
                      max_errors: int = 100) -> list[RowError]:
    """train_fraud_labels.json: {"target": {id: "Yes"|"No"}} naming existing transactions.

    Args:
        path: the file.
        transaction_ids: the ids of transactions_data.csv (None: not cross-checked).
        max_errors: at most this many problems are reported.

    Returns:
        The problems (empty: the file is valid).
    """
    entries, errors = _label_entries(path)
    if entries is None:
        return errors
    keys, values = entries
    out = ErrorCollector(1, max_errors)
    bad_key = mismatches(keys, formats.INTEGER_RE)
    out.add(bad_key, keys, "id", "label key {value} is not a transaction id")
    out.add(~values.isin(formats.LABEL_VALUES).to_numpy(), values, "target",
            "label {value} is not Yes or No")
    out.add(keys.duplicated().to_numpy(), keys, "id", "label id {value} appears twice")
    if transaction_ids is not None and not bad_key.any():
        unknown = ~np.isin(keys.astype(np.int64).to_numpy(), transaction_ids)
        out.add(unknown, keys, "id", "label for id {value}, which is not in the transactions")
    return sorted(out.errors, key=lambda e: e.row)[:max_errors]


def _cross_checks(raw: Path, facts: TransactionFacts) -> list[FormatError]:
    problems: list[FormatError] = []
    name = formats.TRANSACTIONS_FILE
    cards = pd.read_csv(raw / formats.CARDS_FILE, dtype=str, keep_default_na=False)
    users = pd.read_csv(raw / formats.USERS_FILE, dtype=str, keep_default_na=False)
    codes = [int(k) for k in json.loads((raw / formats.MCC_FILE).read_text(encoding="utf-8"))]
    for column, known, values in (
        ("card_id", cards["id"].astype(np.int64), facts.card_ids),
        ("client_id", users["id"].astype(np.int64), facts.client_ids),
        ("mcc", pd.Series(codes), facts.mcc_codes),
    ):
        missing = values[~np.isin(values, known.to_numpy())]
        if len(missing):
            problems.append(FormatError(name, 0, column, f"{len(missing)} value(s) not in the "
                                        f"reference file, e.g. {int(missing[0])}"))
    return problems


def check_raw_dir(path: Path, max_errors: int = 100) -> list[FormatError]:
    """Check all five files of a raw folder; an empty list means the folder is valid.

    Args:
        path: the raw folder.
        max_errors: at most this many problems per file.

    Returns:
        Every problem, each naming its file, row and column.
    """
    raw = Path(path)
    missing = [name for name in formats.ALL_FILES if not (raw / name).is_file()]
    if missing:
        return [FormatError(name, 0, "", f"file is missing from {raw}") for name in missing]
    problems: list[FormatError] = []
    errors, facts = _scan_transactions(raw / formats.TRANSACTIONS_FILE, max_errors)
    problems += [FormatError(formats.TRANSACTIONS_FILE, e.row, e.column, e.reason) for e in errors]
    for name, check in ((formats.CARDS_FILE, check_cards_csv), (formats.USERS_FILE,
                                                                check_users_csv)):
        problems += [FormatError(name, e.row, e.column, e.reason) for e in check(raw / name)]
    problems += [FormatError(formats.MCC_FILE, e.row, e.column, e.reason)
                 for e in check_mcc_json(raw / formats.MCC_FILE)]
    ids = facts.ids if facts is not None else None
    problems += [FormatError(formats.LABELS_FILE, e.row, e.column, e.reason)
                 for e in check_labels_json(raw / formats.LABELS_FILE, ids, max_errors)]
    if facts is not None and not problems:
        problems += _cross_checks(raw, facts)
    return problems[:max_errors]
