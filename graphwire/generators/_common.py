"""Shared helpers for the generators: argument checks, seeds, metadata, building the DiGraph.

Every check raises :class:`~graphwire.errors.ParameterError` whose message names the parameter,
the value it got and what is allowed, *before* networkx sees the value.
"""

from __future__ import annotations

import math
import numbers
import secrets
from typing import Any, Iterable, Mapping, Sequence

import networkx as nx

from ..errors import ParameterError
from ..graph import meta

__all__ = [
    "is_int",
    "check_int",
    "check_unit",
    "check_density",
    "check_bool",
    "check_seed",
    "resolve_seed",
    "record",
    "build",
    "randwire_dag",
]

#: Seeds drawn when ``seed=None`` lie in ``[0, SEED_RANGE)``.
SEED_RANGE = 2**31


def _show(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def is_int(value: Any) -> bool:
    """True for ints and numpy integers, False for bools."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(name: str, value: Any, minimum: int, maximum: int | None = None, why: str = "") -> int:
    """Return ``value`` as a Python int if it is an integer in ``[minimum, maximum]``."""
    if maximum is None:
        allowed = f"an integer >= {minimum}"
    else:
        allowed = f"an integer with {minimum} <= {name} <= {maximum}"
    if why:
        allowed += f" ({why})"
    if not is_int(value):
        raise ParameterError(f"{name} must be {allowed}, got {_show(value)}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ParameterError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def _check_real(name: str, value: Any, allowed: str) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ParameterError(f"{name} must be {allowed}, got {_show(value)}")
    x = float(value)
    if math.isnan(x):
        raise ParameterError(f"{name} must be {allowed}, got NaN")
    return x


def check_unit(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is a real number in ``[0, 1]`` (not a bool, not NaN)."""
    allowed = "a real number in [0, 1]"
    x = _check_real(name, value, allowed)
    if not 0.0 <= x <= 1.0:
        raise ParameterError(f"{name} must be {allowed}, got {value!r}")
    return x


def check_density(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is a real number in ``(0, 1]``."""
    allowed = "a real number in (0, 1] (the probability of keeping each allowed edge)"
    x = _check_real(name, value, allowed)
    if not 0.0 < x <= 1.0:
        raise ParameterError(f"{name} must be {allowed}, got {value!r}")
    return x


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ParameterError(f"{name} must be True or False, got {_show(value)}")
    return value


def check_seed(seed: Any, name: str = "seed") -> int | None:
    """``None`` or a non-negative integer (returned as a Python int).

    Random states (``numpy.random.RandomState``, ``random.Random``...) are refused: graphwire
    records the seed in the graph so the graph can be regenerated, which a state object defeats.
    """
    if seed is None:
        return None
    if not is_int(seed) or seed < 0:
        raise ParameterError(
            f"{name} must be None or a non-negative integer, got {_show(seed)}; graphwire records "
            "the seed so the graph can be regenerated, so random-state objects are not accepted"
        )
    return int(seed)


def resolve_seed(seed: Any, name: str = "seed") -> int:
    """Check ``seed``; when it is None draw a fresh one, so the recorded seed always regenerates."""
    checked = check_seed(seed, name)
    return secrets.randbelow(SEED_RANGE) if checked is None else checked


def record(G: nx.DiGraph, name: str, params: Mapping[str, Any], seed: int | None) -> nx.DiGraph:
    """Write ``G.graph["graphwire"]["generator"]`` (JSON-serialisable values only) and return G."""
    meta(G)["generator"] = {
        "name": name,
        "params": dict(params),
        "seed": seed,
        "networkx": nx.__version__,
    }
    return G


def build(roles: Sequence[str], edges: Iterable[tuple[int, int]], node_attrs: Sequence[Mapping] | None = None) -> nx.DiGraph:
    """A DiGraph on nodes ``0..len(roles)-1`` (added in label order) with edges added sorted."""
    G = nx.DiGraph()
    for i, role in enumerate(roles):
        attrs = {"role": role}
        if node_attrs is not None:
            attrs.update(node_attrs[i])
        G.add_node(i, **attrs)
    G.add_edges_from(sorted(edges))
    return G


def randwire_dag(U: nx.Graph, n: int) -> nx.DiGraph:
    """Turn an undirected graph on ``0..n-1`` into a RandWire DAG on ``0..n+1``.

    Hidden node ``i`` is ``U``'s node ``i - 1``; every edge points from the lower to the higher
    index; input 0 feeds every hidden node without a predecessor and every hidden node without
    a successor feeds output ``n + 1`` (an isolated node becomes ``0 -> i -> n + 1``).
    """
    edges = set()
    for u, v in U.edges():
        a, b = (u, v) if u < v else (v, u)
        edges.add((a + 1, b + 1))
    has_pred = {v for _, v in edges}
    has_succ = {u for u, _ in edges}
    out = n + 1
    for i in range(1, n + 1):
        if i not in has_pred:
            edges.add((0, i))
        if i not in has_succ:
            edges.add((i, out))
    roles = ["input"] + ["hidden"] * n + ["output"]
    return build(roles, edges)
