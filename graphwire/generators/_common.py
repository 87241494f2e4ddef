"""Shared helpers for the generators: argument checks, seeds, metadata, building the DiGraph.

Every check raises :class:`~graphwire.errors.ParameterError` whose message names the parameter,
the value it got and what is allowed, *before* networkx sees the value.
"""

from __future__ import annotations

import math
import numbers
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import networkx as nx
import numpy as np

from .._gc import gc_paused
from ..errors import ParameterError
from ..graph import meta

__all__ = [
    "available_memory",
    "build",
    "build_arrays",
    "check_bool",
    "check_density",
    "check_int",
    "check_seed",
    "check_size",
    "check_unit",
    "estimate_bytes",
    "gc_paused",
    "is_int",
    "randwire_dag",
    "randwire_dag_arrays",
    "record",
    "resolve_seed",
    "safe_sum",
    "scaled",
    "show_int",
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




# Peak bytes measured with tracemalloc on networkx 3.6 (graph built by build_arrays, one "role"
# attribute per node): about 800 per node (its attribute, successor and predecessor dicts) and
# 200 per edge; chain(200k), complete(600), layered, WS(50k) and ER(50k) peaks lie within 15% of
# the estimate. The RandWire families first build networkx's undirected graph, which is held at
# the same time: about 300 bytes more per edge.
NODE_BYTES = 800
EDGE_BYTES = 200
UNDIRECTED_EDGE_BYTES = 300
#: Refuse a graph whose estimate exceeds this share of the memory available now.
MEMORY_SHARE = 0.9


def available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``), else physical memory, else None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def estimate_bytes(nodes: float, edges: float, *, undirected_edges: float = 0) -> float:
    """Rough peak memory of building a generated graph with ``nodes`` nodes and ``edges`` edges.

    Exact integer arithmetic for integer counts (no overflow however large), ``inf`` for an
    infinite (overflowed) count.
    """
    return safe_sum(nodes * NODE_BYTES, edges * EDGE_BYTES, undirected_edges * UNDIRECTED_EDGE_BYTES)


def safe_sum(*values: float) -> float:
    """``sum(values)``, or ``inf`` where adding a huge int to a float overflows."""
    try:
        return sum(values)
    except OverflowError:
        return math.inf


def scaled(p: float, count: int) -> float:
    """``p * count`` as a float, ``inf`` when ``count`` is too large for a float (n = 10**400)."""
    try:
        return p * float(count)
    except OverflowError:
        return math.inf if p > 0 else 0.0


def show_int(value: float, commas: bool = True) -> str:
    """A count for a message: ``1,000,002`` (``commas=False``: ``1000002``), or ``1.00e+400``
    beyond 10**15 (and ``inf``)."""
    if value == math.inf:
        return "1e308+"
    v = int(value)
    if v < 10**15:
        return f"{v:,}" if commas else str(v)
    digits = str(v)
    return f"{digits[0]}.{digits[1:3]}e+{len(digits) - 1}"


def _human(nbytes: float) -> str:
    if nbytes >= 10**18:  # beyond a million TB: scientific, without float overflow
        return f"{show_int(nbytes)} bytes"
    nbytes = float(nbytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes < 1000:
            return f"{nbytes:.3g} {unit}" if unit != "B" else f"{int(nbytes)} B"
        nbytes /= 1000
    return f"{nbytes:.3g} PB"


def check_size(what: str, nodes: float, edges: float, *, undirected_edges: float = 0) -> None:
    """Refuse, before allocating anything, a graph too large for the memory available now.

    ``what`` names the parameters responsible (``"n = 1000000000000"``); the message gives the
    estimate so the user can see how far off the request is.
    """
    need = estimate_bytes(nodes, edges, undirected_edges=undirected_edges)
    have = available_memory()
    if have is None or need <= MEMORY_SHARE * have:
        return
    raise ParameterError(
        f"{what} asks for a graph of {show_int(nodes)} nodes and about {show_int(edges)} edges, which "
        f"needs about {_human(need)} of memory as a networkx graph; only {_human(have)} is available"
    )


def record(G: nx.DiGraph, name: str, params: Mapping[str, Any], seed: int | None,
           algorithm: str | None = None) -> nx.DiGraph:
    """Write ``G.graph["graphwire"]["generator"]`` (JSON-serialisable values only) and return G.

    ``algorithm`` is recorded when the generator has more than one way to sample the graph, so
    :func:`~graphwire.generators.regenerate` replays the one that made it.
    """
    rec: dict[str, Any] = {"name": name, "params": dict(params), "seed": seed, "networkx": nx.__version__}
    if algorithm is not None:
        rec["algorithm"] = algorithm
    meta(G)["generator"] = rec
    return G


def build(roles: Sequence[str], edges: Iterable[tuple[int, int]], node_attrs: Sequence[Mapping] | None = None) -> nx.DiGraph:
    """A DiGraph on nodes ``0..len(roles)-1`` (added in label order) with edges added sorted."""
    pairs = list(edges)
    arr = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return build_arrays(roles, arr[:, 0], arr[:, 1], node_attrs)


def build_arrays(roles: Sequence[str], src: np.ndarray, dst: np.ndarray,
                 node_attrs: Sequence[Mapping] | None = None) -> nx.DiGraph:
    """:func:`build` from two integer arrays: one sort in numpy, one ``add_edges_from``.

    Nodes are added in label order and edges sorted by ``(source, target)``, so a graph built
    here has the same node, successor and predecessor orders as one built by :func:`build`.
    Duplicate pairs are dropped.
    """
    G = nx.DiGraph()
    # add_nodes_from((i, attrs)) raises and catches a TypeError per node inside networkx; adding
    # bare labels with the commonest role, then patching the others, avoids it
    G.add_nodes_from(range(len(roles)), role="hidden")
    nodes = G.nodes
    for i, role in enumerate(roles):
        if role != "hidden":
            nodes[i]["role"] = role
    if node_attrs is not None:
        for i, attrs in enumerate(node_attrs):
            nodes[i].update(attrs)
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    if src.size:
        key = np.sort(src * len(roles) + dst)  # (source, target) order in one integer sort
        if key.size > 1:
            key = key[np.concatenate(([True], key[1:] != key[:-1]))]
        src, dst = np.divmod(key, len(roles))
        _add_new_edges(G, src.tolist(), dst.tolist())
    return G


def _add_new_edges(G: nx.DiGraph, src: list[int], dst: list[int]) -> None:
    """Add edges known to be new, between existing nodes, each with an empty attribute dict.

    What ``G.add_edges_from`` does, minus its per-edge checks (node present? edge present?
    attributes to merge?), which the caller has made unnecessary: 3x faster at 400k edges. It
    fills networkx's adjacency dicts directly, so it is used only on a plain ``nx.DiGraph`` that
    has them, with networkx's cache cleared after, as ``add_edges_from`` does.
    """
    succ, pred = getattr(G, "_succ", None), getattr(G, "_pred", None)
    if type(G) is not nx.DiGraph or not isinstance(succ, dict) or not isinstance(pred, dict):
        G.add_edges_from(zip(src, dst))  # pragma: no cover - a networkx without these dicts
        return
    new = G.edge_attr_dict_factory
    for u, v in zip(src, dst):
        d = new()
        succ[u][v] = d
        pred[v][u] = d
    clear = getattr(nx, "_clear_cache", None)
    if clear is not None:
        clear(G)


def randwire_dag(U: nx.Graph, n: int) -> nx.DiGraph:
    """Turn an undirected graph on ``0..n-1`` into a RandWire DAG on ``0..n+1``.

    Hidden node ``i`` is ``U``'s node ``i - 1``; every edge points from the lower to the higher
    index; input 0 feeds every hidden node without a predecessor and every hidden node without
    a successor feeds output ``n + 1`` (an isolated node becomes ``0 -> i -> n + 1``).
    Vectorised: O(n + m), see :func:`randwire_dag_arrays`.
    """
    m = U.number_of_edges()
    flat = np.fromiter((x for e in U.edges() for x in e), dtype=np.int64, count=2 * m).reshape(m, 2)
    return randwire_dag_arrays(flat[:, 0], flat[:, 1], n)


def randwire_dag_arrays(a: np.ndarray, b: np.ndarray, n: int) -> nx.DiGraph:
    """:func:`randwire_dag` of the undirected edges ``a[i] -- b[i]`` on ``0..n-1`` (no repeats)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    lo = np.minimum(a, b) + 1
    hi = np.maximum(a, b) + 1
    out = n + 1
    hidden = np.arange(1, n + 1, dtype=np.int64)
    no_pred = hidden[np.bincount(hi, minlength=n + 2)[1:n + 1] == 0]
    no_succ = hidden[np.bincount(lo, minlength=n + 2)[1:n + 1] == 0]
    src = np.concatenate([lo, np.zeros(len(no_pred), np.int64), no_succ])
    dst = np.concatenate([hi, no_pred, np.full(len(no_succ), out, np.int64)])
    roles = ["input"] + ["hidden"] * n + ["output"]
    return build_arrays(roles, src, dst)
