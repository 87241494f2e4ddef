"""Search strategies and their registry: ``make_strategy("evolution", population=20)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import ParameterError
from .base import Proposal, Record, Strategy
from .evolution import Evolution
from .pnas import PNAS
from .random_search import RandomSearch
from .rl import RLController
from .tpe import TPE

__all__ = [
    "PNAS",
    "TPE",
    "Evolution",
    "Proposal",
    "RLController",
    "RandomSearch",
    "Record",
    "Strategy",
    "known_strategies",
    "make_strategy",
    "register_strategy",
]

_REGISTRY: dict[str, Callable[..., Strategy]] = {
    "random": RandomSearch, "evolution": Evolution, "rl": RLController, "pnas": PNAS, "tpe": TPE}


def register_strategy(name: str, factory: Callable[..., Strategy]) -> None:
    """Make a :class:`Strategy` subclass usable by name (``--strategy NAME``)."""
    _REGISTRY[name] = factory


def known_strategies() -> list[str]:
    return sorted(_REGISTRY)


def make_strategy(strategy: Any, **options: Any) -> Strategy:
    """A strategy instance from a name (with options) or an instance (returned as is)."""
    if isinstance(strategy, Strategy):
        if options:
            raise ParameterError("strategy options go to the constructor when passing an instance")
        return strategy
    if strategy not in _REGISTRY:
        raise ParameterError(f"unknown strategy {strategy!r}; known: {known_strategies()}")
    try:
        return _REGISTRY[strategy](**options)
    except TypeError as e:
        raise ParameterError(f"strategy {strategy!r}: bad options {options}: {e}") from None
