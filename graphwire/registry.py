"""One registry idiom for everything graphwire looks up by name: node ops, wiring methods,
executors, search strategies and search spaces.

A :class:`Registry` maps names to objects (classes, factories, functions). ``register`` is a
decorator or a plain call and refuses to replace a name unless ``overwrite=True``; ``get`` names
the registry, the closest known name and every known name when a lookup fails.

>>> shapes = Registry("shape")
>>> @shapes.register("square")
... def square(x):
...     return x * x
>>> shapes.get("square")(3)
9
>>> shapes.list()
['square']
>>> shapes.get("sqare")
Traceback (most recent call last):
...
graphwire.errors.ParameterError: unknown shape 'sqare' (did you mean 'square'?); known shapes: ['square']
"""

from __future__ import annotations

import builtins
import difflib
from typing import Callable, Generic, Iterator, TypeVar, overload

from .errors import GraphwireError, ParameterError

__all__ = ["Registry", "did_you_mean"]

T = TypeVar("T")


def did_you_mean(name: object, known: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known``, or an empty string."""
    close = difflib.get_close_matches(str(name), known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Registry(Generic[T]):
    """Named objects of one kind. ``kind`` words the messages ("op", "wiring", ...); ``error`` is
    the exception class a failed lookup raises (a :class:`~graphwire.errors.GraphwireError`);
    ``hint`` ends that message (how to add one's own)."""

    def __init__(self, kind: str, *, error: type[GraphwireError] = ParameterError, hint: str = "",
                 check: Callable[[str, T], None] | None = None):
        self.kind = kind
        self.error = error
        self.hint = hint
        self._check = check
        self._items: dict[str, T] = {}

    @overload
    def register(self, name: str, obj: None = None, *, overwrite: bool = False) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, obj: T, *, overwrite: bool = False) -> T: ...

    def register(self, name: str, obj: T | None = None, *, overwrite: bool = False):
        """Add ``obj`` under ``name`` (returns it), or, without ``obj``, a decorator that does."""
        if not isinstance(name, str) or not name:
            raise self.error(f"{self.kind} name must be a non-empty string, got {name!r}")

        def add(o: T) -> T:
            if self._check is not None:
                self._check(name, o)
            if name in self._items and self._items[name] is not o and not overwrite:
                raise self.error(f"{self.kind} {name!r} is already registered (pass overwrite=True to replace it)")
            self._items[name] = o
            return o

        return add if obj is None else add(obj)

    def get(self, name: str, where: str = "") -> T:
        """The object registered as ``name``; ``where`` (" at node 3") is added to the message."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            known = self.list()
            hint = f" {self.hint}" if self.hint else ""
            raise self.error(f"unknown {self.kind} {name!r}{where}{did_you_mean(name, known)}; "
                             f"known {self.kind}s: {known}{hint}") from None

    def list(self) -> builtins.list[str]:
        """The registered names, sorted."""
        return sorted(self._items)

    def items(self) -> builtins.list[tuple[str, T]]:
        return sorted(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.list()})"
