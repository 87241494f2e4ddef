"""The table of wiring methods by name.

``compile(G, wiring="dnw", k=0.05)`` and ``compile(G, wiring=graphwire.wiring.DNW(k=0.05))`` are
the same: a method's options are one frozen dataclass (its ``Options``, a
:class:`~graphwire.wiring.base.WiringSpec`); a string names a method and its options come as
keywords.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from ..contract import register_attribute
from ..errors import WiringError
from ..registry import Registry, did_you_mean
from .base import Wiring, WiringSpec

__all__ = ["WIRINGS", "register_wiring", "make_wiring"]

#: The registered wiring methods by name (``WIRINGS.list()``, ``WIRINGS.get(name)``).
WIRINGS: Registry[type[Wiring]] = Registry("wiring", error=WiringError,
                                          hint="(add your own with graphwire.register_wiring)")


def register_wiring(cls: type[Wiring] | None = None, *, overwrite: bool = False):
    """Make a :class:`Wiring` subclass available as ``compile(..., wiring=cls.name)``, and add the
    attributes it writes back to the graph contract; a decorator, with or without
    ``(overwrite=True)`` (replacing a registered name needs it)."""

    def add(c: type[Wiring]) -> type[Wiring]:
        if not (isinstance(c, type) and issubclass(c, Wiring)):
            raise WiringError(f"register_wiring takes a Wiring subclass, got {c!r}")
        if not isinstance(c.name, str) or not c.name or c.name == "base":
            raise WiringError(f"wiring class {c.__name__} needs a class attribute name = '<method name>'")
        if not (isinstance(c.Options, type) and issubclass(c.Options, WiringSpec)
                and dataclasses.is_dataclass(c.Options)):
            raise WiringError(f"wiring class {c.__name__}: Options must be a frozen dataclass subclassing "
                              f"graphwire.wiring.WiringSpec, got {c.Options!r}")
        if c.Options is WiringSpec:  # a method without options: a spec of its own
            c.Options = dataclasses.make_dataclass(f"{c.__name__}Options", [], bases=(WiringSpec,), frozen=True)
        WIRINGS.register(c.name, c, overwrite=overwrite)
        c.Options.method = c.name
        for kind, name, check, doc in c.attributes:
            register_attribute(kind, name, check, owner=c.name, doc=doc, overwrite=overwrite)
        return c

    return add if cls is None else add(cls)


def make_wiring(wiring: Any, plan: Any, edge_data: Sequence[dict], options: dict) -> Wiring:
    """The wiring object for a plan: ``wiring`` is a method name (options as keywords) or a spec."""
    spec = wiring_spec(wiring, options)
    return WIRINGS.get(spec.method)(plan, edge_data, spec)


def wiring_spec(wiring: Any, options: dict) -> WiringSpec:
    """The checked spec of ``wiring``: a method name with its options as keywords, or a spec."""
    if isinstance(wiring, WiringSpec):
        if options:
            raise WiringError(f"give the options of wiring {wiring.method!r} in its spec or as keywords, "
                              f"not both (got spec {wiring!r} and {sorted(options)})")
        return wiring
    if not isinstance(wiring, str):
        raise WiringError(f"wiring must be a method name ({WIRINGS.list()}) or a spec such as "
                          f"graphwire.wiring.Sigmoid(), got {wiring!r}")
    return spec_from(WIRINGS.get(wiring), options)


def spec_from(cls: type[Wiring], options: dict) -> WiringSpec:
    """``cls.Options(**options)``, with a did-you-mean for an option the method does not have."""
    names = [f.name for f in dataclasses.fields(cls.Options)]
    for key in options:
        if key not in names:
            raise WiringError(f"{cls.name} wiring has no option {key!r}{did_you_mean(key, names)}; "
                              f"its options are {names}")
    return cls.Options(**options)
