"""Search strategies and their registry: ``make_strategy("evolution", population=20)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import ParameterError
from ...registry import Registry
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
    "STRATEGIES",
    "make_strategy",
]

#: Search strategies by name (``--strategy NAME``); ``STRATEGIES.register(name, cls)`` adds one.
STRATEGIES: Registry[Callable[..., Strategy]] = Registry("strategy")
for _name, _cls in {"random": RandomSearch, "evolution": Evolution, "rl": RLController, "pnas": PNAS,
                    "tpe": TPE}.items():
    STRATEGIES.register(_name, _cls)


def make_strategy(strategy: Any, **options: Any) -> Strategy:
    """A strategy instance from a name (with options) or an instance (returned as is)."""
    if isinstance(strategy, Strategy):
        if options:
            raise ParameterError("strategy options go to the constructor when passing an instance")
        return strategy
    factory = STRATEGIES.get(strategy)
    try:
        return factory(**options)
    except TypeError as e:
        raise ParameterError(f"strategy {strategy!r}: bad options {options}: {e}") from None
