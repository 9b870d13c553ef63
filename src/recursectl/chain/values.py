"""Tolerant readings of values from log text: never an exception, None for anything odd."""

from __future__ import annotations

import json
import math
from typing import Any


def opt_str(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, (dict, list, bool)):
        return None
    return str(value)


def opt_int(value: Any) -> int | None:
    """An int, or an integral finite float; anything else (1e999, "3", true) is None."""
    if value.__class__ is int:
        return int(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def number(value: str) -> float | None:
    """A finite float, or None ("3.0.1", "1e999" and "nan" are no durations)."""
    try:
        out = float(value)
    except ValueError:
        return None
    return out if math.isfinite(out) else None


def json_num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        out = float(value)
    except OverflowError:  # an int of 400 digits
        return None
    return out if math.isfinite(out) else None


# One decoder: json.loads(..., strict=False) would build a new one per call (~35 us).
_DECODE = json.JSONDecoder(strict=False).decode


def loads(text: str) -> Any:
    """json.loads that never raises; control characters inside strings are accepted (strict
    mode refuses them, the hot loop's `[^"]+` does not: both paths must agree)."""
    try:
        return _DECODE(text)
    except (ValueError, RecursionError):
        return None
