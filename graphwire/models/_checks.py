"""Argument checks shared by the model factories: every bad value is a ParameterError naming it."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

from ..errors import ParameterError
from ..registry import did_you_mean

__all__ = ["keywords", "check_positive_int", "check_choice", "check_prob"]


def keywords(func: Callable) -> Callable:
    """Refuse an unknown keyword with a :class:`ParameterError` naming the factory's real arguments
    (``randwire() has no argument 'chanels' (did you mean 'channels'?)``) instead of Python's TypeError."""
    sig = inspect.signature(func)
    known = [n for n, p in sig.parameters.items() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if not open_ended:
            for k in kwargs:
                if k not in known:
                    raise ParameterError(f"{func.__name__}() has no argument {k!r}{did_you_mean(k, known)}; "
                                         f"its arguments are {known}")
        return func(*args, **kwargs)

    return wrapper


def check_positive_int(where: str, name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParameterError(f"{where}: {name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_choice(where: str, name: str, value: Any, allowed) -> Any:
    if value not in allowed:
        raise ParameterError(f"{where}: {name} must be one of {', '.join(map(repr, allowed))}, got {value!r}"
                             f"{did_you_mean(value, [str(a) for a in allowed]) if isinstance(value, str) else ''}")
    return value


def check_prob(where: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ParameterError(f"{where}: {name} must be a probability in [0, 1), got {value!r}")
    return float(value)
