"""What a service's request fields accept: free text without NUL or control characters, and
JSON scalars of exactly their declared type (`JsonBody`).

PostgreSQL text columns refuse the NUL character (the driver raises, the request would answer
500), and control characters in names or notes only ever come from a broken client or an
attack on whoever reads them later. Every request field whose text is stored (analyst names,
reviewers, case notes) uses one of these patterns, so the refusal is a 422 naming the field,
the same on SQLite and PostgreSQL, and the OpenAPI document says what is accepted.
"""

from __future__ import annotations

import types
from datetime import date, datetime
from typing import Annotated, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

# A name: printable characters only.
SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"
# A note: printable characters, tabs and line breaks.
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


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


# (model class, field name) -> the scalar kinds its annotation allows: a model's fields are
# fixed, and working them out again for every value of every request cost ~5 us a field.
_KINDS: dict[tuple[type, str], set[type]] = {}


class JsonBody(BaseModel):
    """A request body whose integers, numbers, booleans and dates are of their JSON type."""

    @field_validator("*", mode="before")
    @classmethod
    def _json_type(cls, value: object, info: ValidationInfo) -> object:
        """Refuse a value Pydantic would only accept by converting it from another JSON type.

        Args:
            value: the field's raw JSON value.
            info: which field it is.

        Returns:
            The value unchanged.

        Raises:
            PydanticCustomError: the value's JSON type is not the declared one.
        """
        name = info.field_name or ""
        kinds = _KINDS.get((cls, name))
        if kinds is None:
            kinds = _KINDS[cls, name] = _scalar_kinds(cls.model_fields[name].annotation)
        kind = _refused_as(value, kinds)
        if kind is not None:
            raise PydanticCustomError(*_WRONG_TYPE[kind])
        return value
