"""Turn a client's transaction into the dataset's vocabulary, or say exactly what is allowed.

Requests reach this module already type-checked by `schemas.py`. Clients write `VISA`,
`visa` or `Visa`; `CREDIT`, `Credit` or the seed UI's French `Crédit`/`Débit` (accents and
case never change meaning); `prepaid` for `Debit (Prepaid)`; `use_chip` as the seed's
"True"/"False" or as the dataset's `Swipe Transaction` ... The model codes the dataset's
spelling, so each value is mapped onto it here, and a value with no unambiguous meaning is
refused with the list of allowed values (HTTP 422) instead of being scored blindly.

Card brands, card types and `use_chip` values are the fixed vocabulary of the source format
(`lakehouse.formats`, DATA.md), whatever the training data happened to contain: the feature
contract gives each of them a code, and an error message must never list a value it just
refused. Foreign merchant countries are open-ended, so those come from the training data of
the model being served. Rows leave as dicts keyed by the seed's field names, in the dataset's
spelling, ready for `lakehouse.ml.features.basic_feature_frame` or the full model's event rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from api_ml.api.schemas import SEED_FIELDS
from api_ml.api.spelling import (
    BRAND_ALIASES,
    FALSE_WORDS,
    MERCHANT_STATE_PATTERN,
    TRUE_WORDS,
    TYPE_ALIASES,
    key,
)
from lakehouse.formats import CARD_BRANDS, CARD_TYPES, ONLINE_CITY, US_STATES, USE_CHIP_VALUES
from lakehouse.ml.features import CATEGORICAL_COLUMNS, foreign_places

_MERCHANT_STATE = re.compile(MERCHANT_STATE_PATTERN)
# A US merchant state is any code of the source format, seen in training or not (set: fast lookup).
_US_STATES = frozenset(US_STATES)


class InvalidValue(ValueError):
    """A value outside what the model knows; carries what is allowed for the 422 answer."""

    def __init__(
        self, field_name: str, value: object, allowed: Iterable[str], hint: str = ""
    ) -> None:
        self.field = field_name
        self.value = value
        self.allowed = sorted(allowed)
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The field, the refused value, the hint and (at most 20 of) the allowed values."""
        shown = ", ".join(self.allowed[:20]) + (" ..." if len(self.allowed) > 20 else "")
        hint = f" ({self.hint})" if self.hint else ""
        return f"{self.field}: {self.value!r} is not allowed{hint}; allowed: {shown}"

    def as_detail(self, prefix: str = "body") -> dict[str, object]:
        """One entry of the 422 answer's `detail` list.

        Args:
            prefix: where the field sits, e.g. `body` or `body.transactions.3`.

        Returns:
            `{"location", "message", "type": "value_not_allowed", "allowed"}`.
        """
        return {
            "location": f"{prefix}.{self.field}",
            "message": self.message,
            "type": "value_not_allowed",
            "allowed": self.allowed,
        }


@dataclass(frozen=True)
class Vocabulary:
    """The values `/predict` accepts, in the dataset's spelling.

    Brands, card types and `use_chip` are the source format's fixed lists; only the foreign
    merchant countries depend on the model (those its training data contained).
    """

    card_brand: ClassVar[tuple[str, ...]] = CARD_BRANDS
    card_type: ClassVar[tuple[str, ...]] = CARD_TYPES
    use_chip: ClassVar[tuple[str, ...]] = USE_CHIP_VALUES
    countries: tuple[str, ...] = ()
    _lookup: dict[str, dict[str, str]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("card_brand", "card_type", "use_chip", "countries"):
            self._lookup[name] = {key(v): v for v in getattr(self, name)}

    @classmethod
    def from_values(cls, values: Mapping[str, Iterable[object]]) -> Vocabulary:
        """Build from `{column: distinct training values}`; only `merchant_state` matters.

        Args:
            values: distinct values per training column (other columns are ignored: their
                vocabulary is fixed by the source format).
        Returns:
            The vocabulary, with the foreign countries found in `merchant_state`.
        """
        return cls(countries=tuple(foreign_places(values.get("merchant_state", ()))))

    def allowed_states(self) -> list[str]:
        """What `merchant_state` accepts, as an error message and `/model/info` list it.

        Returns:
            Placeholders for US codes and foreign places, ONLINE, then the training countries.
        """
        return ["<US state code>", ONLINE_CITY, "<a foreign country>", *self.countries]

    def card_brand_of(self, value: str) -> str:
        """The dataset's spelling of a card brand (any case, accents, known aliases).

        Args:
            value: the request's `card_brand`.

        Returns:
            One of `CARD_BRANDS`.

        Raises:
            InvalidValue: no brand matches.
        """
        return self._match("card_brand", value, BRAND_ALIASES)

    def card_type_of(self, value: str) -> str:
        """The dataset's spelling of a card type (any case, accents, the seed UI's French).

        Args:
            value: the request's `card_type`.

        Returns:
            One of `CARD_TYPES`.

        Raises:
            InvalidValue: no type matches.
        """
        return self._match("card_type", value, TYPE_ALIASES)

    def merchant_state_of(self, value: str) -> str:
        """A US state code, ONLINE, or a foreign place (the model codes all of them "abroad").

        Args:
            value: the request's `merchant_state`.

        Returns:
            The upper-case US code, ONLINE, or the place (a training country's spelling).

        Raises:
            InvalidValue: a 2-letter code that is no US state's, or not a place name at all.
        """
        spelled = key(value).upper()
        if spelled in _US_STATES:
            return spelled
        if spelled == ONLINE_CITY:
            return ONLINE_CITY
        if not _MERCHANT_STATE.search(value):
            raise InvalidValue(
                "merchant_state",
                value,
                self.allowed_states(),
                "a 2-letter code must be a US state's",
            )
        # A country of the training data keeps its spelling; any other is abroad as well.
        return self._lookup["countries"].get(key(value), value.strip())

    def use_chip_of(self, value: str | bool, merchant_state: str) -> str:
        """Seed booleans: True = chip; False = swipe, or online when the merchant is ONLINE.

        Args:
            value: the request's `use_chip` (a boolean, its text, or a chip mode).
            merchant_state: the normalised merchant state.

        Returns:
            One of `USE_CHIP_VALUES`.

        Raises:
            InvalidValue: no chip mode matches.
        """
        spelled = key(str(value))
        if spelled in TRUE_WORDS:
            return "Chip Transaction"
        if spelled in FALSE_WORDS:
            return "Online Transaction" if merchant_state == ONLINE_CITY else "Swipe Transaction"
        for dataset_value in self.use_chip:
            # "chip", "swipe", "online" are accepted for "<X> Transaction".
            if spelled in (key(dataset_value), key(dataset_value.split()[0])):
                return dataset_value
        raise InvalidValue("use_chip", value, ["True", "False", *self.use_chip])

    def _match(self, name: str, value: str, aliases: Mapping[str, str]) -> str:
        spelled = key(value)
        known = self._lookup[name]
        found = known.get(spelled) or known.get(key(aliases.get(spelled, "")))
        if found is None:
            raise InvalidValue(name, value, getattr(self, name))
        return found

    def as_dict(self) -> dict[str, list[str]]:
        """The vocabulary as `/model/info` reports it (the UI's form choices).

        Returns:
            `{field: accepted values}` for the four categorical fields.
        """
        return {
            "card_brand": list(self.card_brand),
            "card_type": list(self.card_type),
            "use_chip": ["True", "False", *self.use_chip],
            "merchant_state": self.allowed_states(),
        }


SEED_NUMERIC = tuple(name for name in SEED_FIELDS if name not in CATEGORICAL_COLUMNS)


class InvalidRequest(ValueError):
    """Every refused value of one request (or of a batch), so a client fixes them at once."""

    def __init__(self, problems: list[tuple[str, InvalidValue]]) -> None:
        self.problems = problems  # (location prefix, problem)
        super().__init__("; ".join(problem.message for _, problem in problems))

    def details(self) -> list[dict[str, object]]:
        """The 422 answer's `detail` list: one entry per refused value.

        Returns:
            `InvalidValue.as_detail` of each problem.
        """
        return [problem.as_detail(prefix) for prefix, problem in self.problems]


def normalise_seed_fields(payload: Mapping[str, Any], vocabulary: Vocabulary) -> dict[str, Any]:
    """The eleven seed fields in the dataset's spelling.

    Args:
        payload: a validated request as a dict (seed field names).
        vocabulary: what the serving model was trained on.
    Returns:
        A new dict with the same eleven keys; numbers as floats (None stays None).
    Raises:
        InvalidRequest: listing every value outside the vocabulary.
    """
    problems: list[tuple[str, InvalidValue]] = []
    row: dict[str, Any] = {}

    def attempt(name: str, convert: Callable[..., str], *args: Any) -> None:
        try:
            row[name] = convert(*args)
        except InvalidValue as problem:
            problems.append(("body", problem))

    attempt("card_brand", vocabulary.card_brand_of, payload["card_brand"])
    attempt("card_type", vocabulary.card_type_of, payload["card_type"])
    attempt("merchant_state", vocabulary.merchant_state_of, payload["merchant_state"])
    state = row.get("merchant_state", "")
    attempt("use_chip", vocabulary.use_chip_of, payload["use_chip"], state)
    if problems:
        raise InvalidRequest(problems)
    for name in SEED_NUMERIC:
        value = payload[name]
        row[name] = None if value is None else float(value)
    return row


def normalise_columns(
    payloads: Sequence[Mapping[str, Any]], vocabulary: Vocabulary
) -> list[dict[str, Any]] | None:
    """`normalise_seed_fields` of many requests, each distinct vocabulary value converted once.

    A batch repeats a handful of brands, types, states and chip modes: converting each
    distinct value (a chip value with its normalised merchant state) once gives every row the
    very value the row-wise function would.

    Args:
        payloads: validated requests as dicts (seed field names), in order.
        vocabulary: what the serving model was trained on.

    Returns:
        One row per request, as `normalise_seed_fields` returns it; None when any value is
        refused (the caller then asks the row-wise path for the 422 and its item locations).
    """
    brands = _each_distinct([p["card_brand"] for p in payloads], vocabulary.card_brand_of)
    types = _each_distinct([p["card_type"] for p in payloads], vocabulary.card_type_of)
    states = _each_distinct([p["merchant_state"] for p in payloads], vocabulary.merchant_state_of)
    if brands is None or types is None or states is None:
        return None
    chips = _each_distinct(
        [(p["use_chip"], s) for p, s in zip(payloads, states, strict=True)],
        lambda pair: vocabulary.use_chip_of(*pair),
    )
    if chips is None:
        return None
    numbers = [
        [None if (value := p[name]) is None else float(value) for p in payloads]
        for name in SEED_NUMERIC
    ]
    names = ("card_brand", "card_type", "merchant_state", "use_chip", *SEED_NUMERIC)
    return [
        dict(zip(names, values, strict=True))
        for values in zip(brands, types, states, chips, *numbers, strict=True)
    ]


def _each_distinct(values: list[Any], convert: Callable[[Any], str]) -> list[str] | None:
    """`convert` of each value, called once per distinct value; None if it refuses any."""
    converted: dict[Any, str] = {}
    for value in set(values):
        try:
            converted[value] = convert(value)
        except InvalidValue:
            return None
    return [converted[value] for value in values]
