"""Option checks shared by the strategies, objectives, runner and command line: each returns the
value (converted from text where the command line gives text) or raises one
:class:`~graphwire.errors.ParameterError` line naming the option and what it expects."""

from __future__ import annotations

import math
import numbers
from typing import Any

from ..contract import is_int
from ..errors import ParameterError


def _text_number(value: Any, kind: type) -> Any:
    """A number from command-line text (``"3"``, ``"0.5"``, ``"1e-3"``); other values unchanged."""
    if isinstance(value, str):
        s = value.strip()
        try:
            return int(s) if kind is int else float(s)
        except ValueError:
            return value
    return value


def check_int(name: str, value: Any, *, lo: int | None = None, hi: int | None = None) -> int:
    """An int (Python or numpy; not a bool, not a float like 3.5) within ``[lo, hi]``."""
    value = _text_number(value, int)
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        value = int(value)
    if not is_int(value):
        raise ParameterError(f"{name} must be an integer{_range(lo, hi)}, got {value!r}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ParameterError(f"{name} must be an integer{_range(lo, hi)}, got {value!r}")
    return value


def check_float(name: str, value: Any, *, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite number (not a bool) within the bounds (``lo_open``: ``> lo`` instead of ``>= lo``)."""
    value = _text_number(value, float)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ParameterError(f"{name} must be a finite number{_range(lo, hi, lo_open, hi_open)}, got {value!r}")
    v = float(value)
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise ParameterError(f"{name} must be a finite number{_range(lo, hi, lo_open, hi_open)}, got {value!r}")
    if hi is not None and (v >= hi if hi_open else v > hi):
        raise ParameterError(f"{name} must be a finite number{_range(lo, hi, lo_open, hi_open)}, got {value!r}")
    return v


def check_bool(name: str, value: Any) -> bool:
    """``True``/``False`` (command-line text ``true``/``false`` too); nothing else."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise ParameterError(f"{name} must be true or false, got {value!r}")
    return value


def check_choice(name: str, value: Any, choices: tuple) -> Any:
    if value not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value


def _range(lo, hi, lo_open: bool = False, hi_open: bool = False) -> str:
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {lo}"
    if hi is not None:
        return f" {'<' if hi_open else '<='} {hi}"
    return ""
