"""Wiring methods: one module each, behind the interface in :mod:`graphwire.wiring.base`."""

from __future__ import annotations

from ..errors import WiringError
from .base import EdgeContext, Wiring, check_options
from .sigmoid import SigmoidWiring
from .static import StaticWiring

WIRINGS: dict[str, type[Wiring]] = {"static": StaticWiring, "sigmoid": SigmoidWiring}

__all__ = ["Wiring", "EdgeContext", "WIRINGS", "make_wiring", "register_wiring"]


def register_wiring(cls: type[Wiring]) -> type[Wiring]:
    """Make a :class:`Wiring` subclass available as ``compile(..., wiring=cls.name)``."""
    WIRINGS[cls.name] = cls
    return cls


def make_wiring(name: str, edges, edge_data, source_channels, options: dict) -> Wiring:
    if name not in WIRINGS:
        raise WiringError(f"unknown wiring {name!r}; known wirings: {sorted(WIRINGS)}")
    cls = WIRINGS[name]
    check_options(cls, options)
    return cls(edges, edge_data, source_channels, **options)
