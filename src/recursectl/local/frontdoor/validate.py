"""Input validation as botocore's bundled model says (types, lengths, counts, patterns,
enums, required members), for the operations the front door answers itself, before anything
touches state. boto3 validates types and minimums on the client; a raw request or another SDK
does not, so the server must (AWS does).

AWS's JSON services answer a value of the wrong JSON type with `SerializationException` and
a constraint violation with "1 validation error detected: Value ... at 'member' failed to
satisfy constraint: ..." (Logs names it `InvalidParameterException`; Lambda,
`ValidationException`).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

_MAX_REPORTED = 3  # AWS lists a few violations, then stops


class Invalid(Exception):
    """The request breaks the model: `kind` (the AWS error name) and `message`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@functools.cache
def _model(service: str) -> dict[str, Any]:
    from botocore.loaders import Loader  # moto's dependency; loaded once per service

    model: dict[str, Any] = Loader().load_service_model(service, "service-2")
    return model


@functools.cache
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


def check(service: str, operation: str, params: Any, constraint_error: str) -> None:
    """Raise Invalid unless `params` (the decoded JSON input) fits the operation's input."""
    model = _model(service)
    shape_name = model["operations"][operation]["input"]["shape"]
    problems: list[str] = []
    _walk(model["shapes"], shape_name, params, "", problems)
    if problems:
        shown = problems[:_MAX_REPORTED]
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise Invalid(constraint_error, f"{count} validation {noun} detected: " + "; ".join(shown))


def _walk(shapes: dict[str, Any], name: str, value: Any, where: str, out: list[str]) -> None:
    shape = shapes[name]
    kind = shape["type"]
    checker = _CHECKS.get(kind)
    if checker is not None:
        checker(shapes, shape, value, where or "request", out)


def _type_error(where: str, wanted: str, value: Any) -> Invalid:
    got = type(value).__name__ if value is not None else "null"
    return Invalid("SerializationException", f"Unexpected {got} at '{where}': expected {wanted}")


def _violation(value: Any, where: str, constraint: str) -> str:
    shown = json.dumps(value) if not isinstance(value, str) else value
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"Value '{shown}' at '{where}' failed to satisfy constraint: {constraint}"


def _structure(
    shapes: dict[str, Any], shape: dict[str, Any], value: Any, where: str, out: list[str]
) -> None:
    if not isinstance(value, dict):
        raise _type_error(where, "an object", value)
    for member in shape.get("required", []):
        if value.get(member) is None and shape["members"][member].get("location") is None:
            out.append(_violation(None, _join(where, member), "Member must not be null"))
    for member, spec in shape["members"].items():
        if spec.get("location") is not None:
            continue  # in the URI, a header or the query: not in the JSON body
        if member in value and value[member] is not None:
            _walk(shapes, spec["shape"], value[member], _join(where, member), out)


def _list(
    shapes: dict[str, Any], shape: dict[str, Any], value: Any, where: str, out: list[str]
) -> None:
    if not isinstance(value, list):
        raise _type_error(where, "a list", value)
    _bounds(len(value), shape, value, where, out, "length")
    for i, item in enumerate(value):
        if item is None:
            out.append(_violation(None, f"{where}.{i + 1}", "Member must not be null"))
        else:
            _walk(shapes, shape["member"]["shape"], item, f"{where}.{i + 1}", out)


def _map(
    shapes: dict[str, Any], shape: dict[str, Any], value: Any, where: str, out: list[str]
) -> None:
    if not isinstance(value, dict):
        raise _type_error(where, "an object", value)
    _bounds(len(value), shape, value, where, out, "length")
    for key, item in value.items():
        _walk(shapes, shape["key"]["shape"], key, f"{where}.key", out)
        if item is not None:
            _walk(shapes, shape["value"]["shape"], item, f"{where}.{key}", out)


def _string(
    shapes: dict[str, Any], shape: dict[str, Any], value: Any, where: str, out: list[str]
) -> None:
    if not isinstance(value, str):
        raise _type_error(where, "a string", value)
    _bounds(len(value), shape, value, where, out, "length")
    enum = shape.get("enum")
    if enum and value not in enum:
        out.append(
            _violation(value, where, f"Member must satisfy enum value set: [{', '.join(enum)}]")
        )
    pattern = shape.get("pattern")
    if pattern and _pattern(pattern).fullmatch(value) is None:
        out.append(
            _violation(value, where, f"Member must satisfy regular expression pattern: {pattern}")
        )


def _number(
    shapes: dict[str, Any], shape: dict[str, Any], value: Any, where: str, out: list[str]
) -> None:
    wanted = (int,) if shape["type"] in ("integer", "long") else (int, float)
    if isinstance(value, bool) or not isinstance(value, wanted):
        raise _type_error(where, f"a number ({shape['type']})", value)
    _bounds(value, shape, value, where, out, "value")


def _boolean(
    shapes: dict[str, Any], shape: dict[str, Any], value: Any, where: str, out: list[str]
) -> None:
    if not isinstance(value, bool):
        raise _type_error(where, "a boolean", value)


def _bounds(
    measure: float, shape: dict[str, Any], value: Any, where: str, out: list[str], what: str
) -> None:
    low, high = shape.get("min"), shape.get("max")
    if low is not None and measure < low:
        out.append(
            _violation(value, where, f"Member must have {what} greater than or equal to {low}")
        )
    if high is not None and measure > high:
        out.append(
            _violation(value, where, f"Member must have {what} less than or equal to {high}")
        )


def _join(where: str, member: str) -> str:
    return f"{where}.{member}" if where and where != "request" else member


_CHECKS = {
    "structure": _structure,
    "list": _list,
    "map": _map,
    "string": _string,
    "integer": _number,
    "long": _number,
    "float": _number,
    "double": _number,
    "boolean": _boolean,
}
