"""What a service's request fields accept: free text without NUL or control characters, JSON
scalars of exactly their declared type (`JsonBody`), and date-times whose UTC instant is on the
calendar (`RequestDatetime`).

PostgreSQL text columns refuse the NUL character (the driver raises, the request would answer
500), and control characters in names or notes only ever come from a broken client or an
attack on whoever reads them later. Every request field whose text is stored (analyst names,
reviewers, case notes) uses one of these patterns, so the refusal is a 422 naming the field,
the same on SQLite and PostgreSQL, and the OpenAPI document says what is accepted.
"""

from __future__ import annotations

import types
from datetime import UTC, date, datetime
from typing import Annotated, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ValidationError, model_validator
from pydantic_core import PydanticCustomError

# A name: printable characters only.
SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"
# A note: printable characters, tabs and line breaks.
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def _on_the_calendar_in_utc(moment: datetime) -> datetime:
    """Refuse a date-time whose offset takes its UTC instant outside years 1 to 9999.

    Pydantic accepts `9999-12-31T23:00:00-05:00`, but every reader converts it to UTC (the
    online store, the lake's labels), and Python cannot: the request would fail later, as a
    500 or a broken pipeline run, instead of a 422 now.
    """
    if moment.tzinfo is not None:
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise PydanticCustomError(
                "datetime_range",
                "Input should be a date-time within years 1 to 9999 once converted to UTC",
            ) from None
    return moment


# A request's date-time: ISO 8601, naive meaning UTC, an offset allowed if its UTC instant is on
# the calendar.
RequestDatetime = Annotated[datetime, AfterValidator(_on_the_calendar_in_utc)]


# Pydantic's lax mode reads JSON `true` as the number 1, the text "12" as 12, the number 1 as
# `true`, and a number as seconds since 1970 where a date-time is declared. A request body
# means what its OpenAPI document says, so such a value is a 422 naming the field. JSON's
# own equivalences stay: 22.0 is an integer (Pydantic still refuses 22.5), an integer is a
# number.
_WRONG_TYPE = {
    int: ("int_type", "Input should be a valid integer"),
    float: ("float_type", "Input should be a valid number"),
    bool: ("bool_type", "Input should be a valid boolean"),
    datetime: ("datetime_type", "Input should be an ISO 8601 date-time string"),
    date: ("date_type", "Input should be an ISO 8601 date string"),
}


def _scalar_kinds(annotation: object) -> set[type]:
    """The scalar types a field's annotation allows (through Optional, unions, Literal)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _scalar_kinds(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return set().union(*(_scalar_kinds(arg) for arg in get_args(annotation)))
    if origin is Literal:
        return {type(value) for value in get_args(annotation)}
    return {annotation} if isinstance(annotation, type) else set()


_UNSEEN = object()  # a value type not checked yet for a field


def _refused_as(value: object, kinds: set[type]) -> type | None:
    """The declared kind that `value` only passes by a lax conversion, or None if it is fine."""
    if isinstance(value, bool):
        wrong = bool not in kinds
    elif isinstance(value, int | float):
        wrong = not kinds & {int, float}
    elif isinstance(value, str):  # a date-time's JSON form is a string
        wrong = not kinds & {str, datetime, date}
    else:
        return None
    if not wrong:
        return None
    converted_to = [kind for kind in (int, float, bool, datetime, date) if kind in kinds]
    return converted_to[0] if converted_to else None


# Model class -> field name -> JSON value type -> the kind it would be refused as (None: fine).
# A model's fields are fixed and the verdict depends only on the value's type, so a body is
# checked with two dictionary lookups a field.
_VERDICTS: dict[type, dict[str, dict[type, type | None]]] = {}


class JsonBody(BaseModel):
    """A request body whose integers, numbers, booleans and dates are of their JSON type."""

    @model_validator(mode="before")
    @classmethod
    def _json_types(cls, data: object) -> object:
        """Refuse any value Pydantic would only accept by converting it from another JSON type.

        One pass over the body (not one validator call per field: ~1 µs a field of a batch
        row). Every refused field is reported, each at its own location; the body's other
        errors (missing fields, ranges) come once the types are right.

        Args:
            data: the raw body (a dict for JSON objects; anything else is left to Pydantic).

        Returns:
            The body unchanged.

        Raises:
            ValidationError: a value's JSON type is not its field's declared one.
        """
        if not isinstance(data, dict):
            return data
        fields = _VERDICTS.get(cls)
        if fields is None:
            fields = _VERDICTS[cls] = {name: {} for name in cls.model_fields}
        refused = []
        for name, value in data.items():
            verdicts = fields.get(name)
            if verdicts is None:  # not a field: `extra` decides
                continue
            kind = verdicts.get(type(value), _UNSEEN)
            if kind is _UNSEEN:
                allowed = _scalar_kinds(cls.model_fields[name].annotation)
                kind = verdicts[type(value)] = _refused_as(value, allowed)
            if kind is not None:
                error = PydanticCustomError(*_WRONG_TYPE[kind])
                refused.append({"type": error, "loc": (name,), "input": value})
        if refused:
            raise ValidationError.from_exception_data(cls.__name__, refused)
        return data
