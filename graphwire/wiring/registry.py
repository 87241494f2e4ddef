"""The table of wiring methods, by name (each method module registers its class on import)."""

from __future__ import annotations

from ..errors import WiringError
from .base import Wiring, check_options

WIRINGS: dict[str, type[Wiring]] = {}


def register_wiring(cls: type[Wiring]) -> type[Wiring]:
    """Make a :class:`Wiring` subclass available as ``compile(..., wiring=cls.name)`` (a decorator)."""
    WIRINGS[cls.name] = cls
    return cls


def make_wiring(name: str, edges, edge_data, source_channels, options: dict) -> Wiring:
    if name not in WIRINGS:
        raise WiringError(f"unknown wiring {name!r}; known wirings: {sorted(WIRINGS)}")
    cls = WIRINGS[name]
    check_options(cls, options)
    return cls(edges, edge_data, source_channels, **options)
