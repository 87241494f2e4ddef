"""Pausing Python's cyclic garbage collector while large graphs are built or parsed.

Building a networkx graph (or a plan, or parsed JSON) allocates a few containers per node and
edge and frees none of them, so the collector's full passes rescan an ever larger heap: a build
grows super-linearly (measured 2x slower at 10k nodes, seconds on a 7M-edge graph). What is built
holds no cycles to collect.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from typing import Any, Callable, Iterator, TypeVar

__all__ = ["paused", "gc_paused"]

F = TypeVar("F", bound=Callable[..., Any])


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The collector off inside the block (restored after, also on errors)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def gc_paused(func: F) -> F:
    """``func`` run inside :func:`paused`."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with paused():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
