"""Typed option values: the allowed range is part of the type, so a bad value stops at parse time with one line.

jsonargparse checks these annotations when it parses a command line or a config file (through pydantic), and
`cbqa.training.options` turns a failed check into `--key: value must be ...`. Python callers get the same types
as documentation; `check` applies one where a value arrives by another road.
"""

from __future__ import annotations

from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le
from pydantic import AllowInfNan, PydanticUserError, TypeAdapter, ValidationError

from cbqa.core.errors import CbqaError

PositiveInt = Annotated[int, Gt(0)]
NonNegativeInt = Annotated[int, Ge(0)]
PositiveFloat = Annotated[float, Gt(0), AllowInfNan(False)]  # finite: a NaN or infinite learning rate is a typo
NonNegativeFloat = Annotated[float, Ge(0), AllowInfNan(False)]
Probability = Annotated[float, Ge(0), Le(1), AllowInfNan(False)]


def problem(annotation: Any, value: Any) -> str | None:
    """What is wrong with `value` for an option of type `annotation` (one short phrase), or None when it fits."""
    choices = literal_choices(annotation)
    if choices is not None and value not in choices and not (value is None and None in choices):
        return f"{value!r} is not one of {', '.join(str(c) for c in choices if c is not None)}"
    try:
        adapter = TypeAdapter(annotation)
    except PydanticUserError:  # a type pydantic cannot check (a Lightning strategy object...): its parser's call
        return None
    try:
        adapter.validate_python(value)
    except ValidationError as e:
        return describe(e.errors()[0])
    return None


def describe(error: Any) -> str:
    """One pydantic error as a phrase about the value, after where it sits inside a list or mapping (`[0].kind: `),
    from the error's structured fields (no message parsing)."""
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.get("loc", ()))
    return where + (": " if where else "") + _phrase(error)


def _phrase(error: Any) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    bounds = {
        "greater_than": "> {gt:g}",
        "greater_than_equal": ">= {ge:g}",
        "less_than": "< {lt:g}",
        "less_than_equal": "<= {le:g}",
    }
    if kind in bounds:
        return f"{value!r} must be {bounds[kind].format(**ctx)}"
    plain = {
        "finite_number": "a finite number",
        "int_parsing": "an integer",
        "int_from_float": "an integer",
        "float_parsing": "a number",
        "bool_parsing": "true or false",
        "int_type": "an integer",
        "float_type": "a number",
        "bool_type": "true or false",
        "string_type": "a string",
    }
    if kind in plain:
        return f"{value!r} must be {plain[kind]}"
    if kind == "literal_error":
        return f"{value!r} is not one of {ctx.get('expected', '').replace(' or ', ', ').replace(chr(39), '')}"
    return f"{str(value)[:60]!r}: {error['msg']}"


def literal_choices(annotation: Any) -> tuple[Any, ...] | None:
    """The allowed values of a Literal (or an optional Literal) annotation, else None."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    if get_origin(annotation) in (Union, UnionType):
        parts = [literal_choices(a) for a in get_args(annotation) if a is not type(None)]
        if len(parts) == 1 and parts[0] is not None:
            return (*parts[0], None)
    return None


def check(name: str, annotation: Any, value: Any) -> Any:
    """`value` if it fits `annotation`, else a one-line CbqaError naming `name`."""
    found = problem(annotation, value)
    if found is not None:
        raise CbqaError(f"{name}: {found}")
    return value
