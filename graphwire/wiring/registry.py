"""The table of wiring methods by name, and typed specs.

``compile(G, wiring="dnw", k=0.05)`` and ``compile(G, wiring=graphwire.wiring.DNW(k=0.05))`` are
the same: a spec is a frozen dataclass of one method's options (each method module defines its
own next to its class), a string names a method and its options come as keywords.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, ClassVar, Sequence

from ..errors import WiringError
from ..registry import Registry, did_you_mean
from .base import Wiring

__all__ = ["WIRINGS", "WiringSpec", "register_wiring", "make_wiring"]

#: The registered wiring methods by name (``WIRINGS.list()``, ``WIRINGS.get(name)``).
WIRINGS: Registry[type[Wiring]] = Registry("wiring", error=WiringError,
                                          hint="(add your own with graphwire.register_wiring)")


@dataclasses.dataclass(frozen=True)
class WiringSpec:
    """Base of the typed specs: ``method`` names the registered wiring."""

    method: ClassVar[str] = ""

    def options(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def register_wiring(cls: type[Wiring] | None = None, *, overwrite: bool = False):
    """Make a :class:`Wiring` subclass available as ``compile(..., wiring=cls.name)``; a decorator,
    with or without ``(overwrite=True)`` (replacing a registered name needs it)."""

    def add(c: type[Wiring]) -> type[Wiring]:
        if not (isinstance(c, type) and issubclass(c, Wiring)):
            raise WiringError(f"register_wiring takes a Wiring subclass, got {c!r}")
        if not isinstance(c.name, str) or not c.name or c.name == "base":
            raise WiringError(f"wiring class {c.__name__} needs a class attribute name = '<method name>'")
        return WIRINGS.register(c.name, c, overwrite=overwrite)

    return add if cls is None else add(cls)


def _check_options(cls: type[Wiring], given: dict) -> None:
    unknown = [k for k in given if k not in cls.options]
    if unknown:
        bad = unknown[0]
        hint = did_you_mean(bad, list(cls.options))
        raise WiringError(f"{cls.name} wiring has no option {bad!r}{hint}; its options are {list(cls.options)}")


def make_wiring(wiring: Any, plan: Any, edge_data: Sequence[dict], options: dict) -> Wiring:
    """The wiring object for a plan: ``wiring`` is a method name (options as keywords) or a spec."""
    if isinstance(wiring, WiringSpec):
        if options:
            raise WiringError(f"give the options of wiring {wiring.method!r} in its spec or as keywords, "
                              f"not both (got spec {wiring!r} and {sorted(options)})")
        name, options = wiring.method, wiring.options()
    elif isinstance(wiring, str):
        name = wiring
    else:
        raise WiringError(f"wiring must be a method name ({WIRINGS.list()}) or a spec such as "
                          f"graphwire.wiring.Sigmoid(), got {wiring!r}")
    cls = WIRINGS.get(name)
    _check_options(cls, options)
    return cls(plan, edge_data, **options)


def spec_matches_class(spec: type[WiringSpec]) -> bool:
    """Whether a spec's fields and defaults are its class's keyword options (a test helper)."""
    cls = WIRINGS.get(spec.method)
    params = {n: p.default for n, p in inspect.signature(cls.__init__).parameters.items()
              if n not in ("self", "plan", "edge_data")}
    fields = {f.name: f.default for f in dataclasses.fields(spec)}
    return params == fields and set(fields) == set(cls.options)
