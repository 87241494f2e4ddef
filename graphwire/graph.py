"""The graph contract (schema version 1): attribute defaults, roles, validation, generations.

graphwire's graphs are plain ``networkx.DiGraph`` objects; everything graphwire needs lives in
node/edge/graph attributes so any networkx algorithm works on them and they round-trip through
JSON. This module is the one place that knows which attributes exist and what values they may
take; every other module calls :func:`validate` instead of re-checking.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import numbers
from typing import Any, Callable, Hashable

import networkx as nx

from .errors import (
    AttributeValueError,
    CycleError,
    DeadNodeError,
    GraphError,
    RoleError,
    SelfLoopError,
    describe,
)

__all__ = [
    "SCHEMA_VERSION",
    "ROLES",
    "AGGS",
    "NODE_DEFAULTS",
    "validate",
    "node_attr",
    "inputs",
    "outputs",
    "generations",
    "topological_order",
    "assign_roles",
    "copy_graph",
    "meta",
    "reachable",
    "sort_key",
]

SCHEMA_VERSION = 1
ROLES = ("input", "output", "hidden")
AGGS = ("sum", "concat", "max")
#: Defaults for node attributes a graph may leave out (``op`` and ``channels`` default at compile).
NODE_DEFAULTS: dict[str, Any] = {"role": "hidden", "stride": 1, "agg": "sum"}


def sort_key(node: Hashable) -> tuple:
    """Deterministic order for int and str labels mixed (ints first, then strings)."""
    return (isinstance(node, str), node)


# ---------------------------------------------------------------- attribute checks
def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


_INT_LIMIT = 2**31 - 1  # channels, strides, stages: anything larger is a typo, not a network


def _show(v: Any) -> str:
    """``repr(v)``, with huge integers shown by their digit count."""
    if _is_int(v) and abs(v) > 10**15:
        return f"an integer of {len(str(abs(v)))} digits"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _finite(v: Any) -> str | None:
    if type(v) is float and math.isfinite(v):  # the common case, first (millions of edge weights)
        return None
    if not _is_real(v):
        return f"must be a finite number, got {_show(v)} ({type(v).__name__})"
    try:
        ok = math.isfinite(float(v))
    except OverflowError:
        ok = False
    if not ok:
        return f"must be a finite number, got {_show(v)}"
    return None


def _unit(v: Any) -> str | None:
    err = _finite(v)
    if err is None and not 0.0 <= float(v) <= 1.0:
        err = f"must lie in [0, 1], got {_show(v)}"
    return err


def _positive_int(v: Any) -> str | None:
    if not _is_int(v) or not 1 <= v <= _INT_LIMIT:
        return f"must be a positive integer up to {_INT_LIMIT}, got {_show(v)}"
    return None


def _nonneg_int(v: Any) -> str | None:
    if not _is_int(v) or not 0 <= v <= _INT_LIMIT:
        return f"must be a non-negative integer up to {_INT_LIMIT}, got {_show(v)}"
    return None


def _choice(allowed: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if v not in allowed:
            return f"must be one of {list(allowed)}, got {v!r}"
        return None

    return check


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"must be true or false, got {v!r}"


def _op_name(v: Any) -> str | None:
    return None if isinstance(v, str) and v else f"must be a non-empty op name, got {v!r}"


def _op_list(v: Any) -> str | None:
    if not isinstance(v, (list, tuple)) or not v or not all(isinstance(o, str) and o for o in v):
        return f"must be a non-empty list of op names, got {v!r}"
    return None


def _op_weights(v: Any) -> str | None:
    if not isinstance(v, dict) or not v:
        return f"must be a non-empty mapping op -> probability, got {v!r}"
    for k, p in v.items():
        if not isinstance(k, str):
            return f"has a non-string op name {k!r}"
        err = _finite(p)
        if err:
            return f"entry {k!r} {err}"
    return None


NODE_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "role": _choice(ROLES),
    "agg": _choice(AGGS),
    "op": _op_name,
    "channels": _positive_int,
    "stride": _positive_int,
    "stage": _nonneg_int,
    "block": _nonneg_int,
    "depth_prob": _unit,
    "exec_rate": _unit,
}
EDGE_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "weight": _finite,
    "active": _bool,
    "ddw_mean": _finite,
    "ddw_std": _finite,
    "p_open": _unit,
    "share": _unit,
    "op": _op_name,
    "ops": _op_list,
    "op_weights": _op_weights,
}


def node_attr(G: nx.DiGraph, node: Hashable, key: str, default: Any = None) -> Any:
    """``G.nodes[node][key]`` with the schema default (or ``default``) when it is absent."""
    data = G.nodes[node]
    if key in data:
        return data[key]
    return NODE_DEFAULTS.get(key, default)


def inputs(G: nx.DiGraph) -> list:
    """Nodes with ``role == "input"``, in label order."""
    return sorted((n for n in G if node_attr(G, n, "role") == "input"), key=sort_key)


def outputs(G: nx.DiGraph) -> list:
    """Nodes with ``role == "output"``, in label order."""
    return sorted((n for n in G if node_attr(G, n, "role") == "output"), key=sort_key)


def generations(G: nx.DiGraph) -> list[list]:
    """Topological generations, each sorted by label: nodes of one generation are independent.

    >>> generations(nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3)]))
    [[0], [1, 2], [3]]
    """
    try:
        return [sorted(g, key=sort_key) for g in nx.topological_generations(G)]
    except nx.NetworkXUnfeasible:
        _raise_cycle(G)
        raise  # pragma: no cover - _raise_cycle always raises


def topological_order(G: nx.DiGraph) -> list:
    """A deterministic topological order: generation by generation, by label inside one."""
    return [n for gen in generations(G) for n in gen]


def reachable(G: nx.DiGraph, sources, *, reverse: bool = False) -> set:
    """Nodes reachable from any of ``sources`` (``reverse=True``: nodes that reach one), sources
    included: one traversal for all sources, O(V + E) however many there are."""
    adj = G.pred if reverse else G.succ
    seen = set(sources)
    stack = list(seen)
    while stack:
        for nxt in adj[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


#: Attribute value types that need no copy (immutable); the common case, checked first.
SCALAR_TYPES = (float, bool, int, str, type(None))


def own_attrs(d: dict) -> dict:
    """A copy of an attribute dict sharing nothing mutable (nested dicts, lists, sets copied)."""
    out = d.copy()
    for k, v in out.items():
        if type(v) not in SCALAR_TYPES and isinstance(v, (dict, list, set)):
            out[k] = copy.deepcopy(v)
    return out


def copy_graph(G: nx.DiGraph) -> nx.DiGraph:
    """A copy that shares nothing mutable with ``G``: attribute dicts, and nested values such as
    ``op_weights`` or lists, are copied too (``G.copy()`` shares them)."""
    H = nx.DiGraph()
    H.graph.update(copy.deepcopy(G.graph))
    H.add_nodes_from((n, own_attrs(d)) for n, d in G.nodes(data=True))
    H.add_edges_from((u, v, own_attrs(d)) for u, v, d in G.edges(data=True))
    return H


def edges_hash(edges: Any) -> str:
    """A short, order-independent hash of an edge set: what a training history and a pruned
    graph's lineage record to tell graphs apart.

    >>> edges_hash([(0, 1), (1, 2)]) == edges_hash([(1, 2), (0, 1)])
    True
    """
    text = json.dumps(sorted([repr(u), repr(v)] for u, v in edges))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def meta(G: nx.DiGraph) -> dict:
    """The ``G.graph["graphwire"]`` record, created (schema version 1) when missing."""
    record = G.graph.setdefault("graphwire", {})
    record.setdefault("version", SCHEMA_VERSION)
    return record


def assign_roles(G: nx.DiGraph) -> nx.DiGraph:
    """Return a copy where sources are ``input`` and sinks ``output`` (other roles untouched).

    Handy for hand-built graphs: ``graphwire.assign_roles(nx.DiGraph([(0, 1), (1, 2)]))``.
    """
    H = G.copy()
    for n in H:
        if "role" not in H.nodes[n]:
            if H.in_degree(n) == 0 and H.out_degree(n) > 0:
                H.nodes[n]["role"] = "input"
            elif H.out_degree(n) == 0 and H.in_degree(n) > 0:
                H.nodes[n]["role"] = "output"
    return H


# ---------------------------------------------------------------- validation
def _raise_cycle(G: nx.DiGraph) -> None:
    cycle = nx.find_cycle(G)
    path = " -> ".join(repr(u) for u, _ in cycle) + f" -> {cycle[0][0]!r}"
    raise CycleError(f"graph has a directed cycle: {path}", cycle=list(cycle))


def validate(G: Any, *, any_labels: bool = False) -> nx.DiGraph:
    """Check ``G`` against the graph contract and return it; raise a :class:`GraphError` if not.

    Checks, in order: it is a ``DiGraph``; labels are ints or strings; attribute values;
    no self loops; no cycles; at least one input and one output; inputs have no predecessors
    and outputs no successors; every node lies on an input -> output path. ``any_labels=True``
    accepts any hashable label (compiling needs no JSON; saving does).

    >>> import graphwire
    >>> graphwire.validate(graphwire.generators.chain(3)).number_of_nodes()
    5
    """
    if not isinstance(G, nx.DiGraph) or G.is_multigraph():
        raise GraphError(f"expected a networkx.DiGraph, got {type(G).__name__}")
    if G.number_of_nodes() == 0:
        raise RoleError("graph has no nodes")
    record = G.graph.get("graphwire")
    if record is not None:
        if not isinstance(record, dict):
            raise AttributeValueError(f"graph attribute 'graphwire' must be a mapping, got {record!r}")
        version = record.get("version", SCHEMA_VERSION)
        if not _is_int(version) or not 1 <= version <= SCHEMA_VERSION:
            raise AttributeValueError(
                f"graph attribute graphwire.version must be an integer 1..{SCHEMA_VERSION}, got {version!r}"
            )

    for n, data in G.nodes(data=True):
        if not any_labels and not (_is_int(n) or isinstance(n, str)):
            raise AttributeValueError(f"node label {n!r} must be an int or a str, got {type(n).__name__}")
        for key, check in NODE_CHECKS.items():
            if key in data:
                err = check(data[key])
                if err:
                    raise AttributeValueError(f"node {n!r}: attribute {key!r} {err}")
    checks = EDGE_CHECKS
    for u, nbrs in G._succ.items():  # the adjacency dicts: millions of edges on DNW graphs
        for v, data in nbrs.items():
            for key in data:  # an edge's own keys (few), then the contract's order for the message
                found = checks.get(key)
                if found is not None and found(data[key]):
                    for k, c in checks.items():
                        err = c(data[k]) if k in data else None
                        if err:
                            raise AttributeValueError(f"edge ({u!r}, {v!r}): attribute {k!r} {err}")

    record = G.graph.get("graphwire")
    if isinstance(record, dict) and "candidates" in record:
        return _validate_compact(G)
    loops = list(nx.selfloop_edges(G))
    if loops:
        raise SelfLoopError(f"self loops are not allowed: edges {describe(loops)}")
    if not nx.is_directed_acyclic_graph(G):
        _raise_cycle(G)

    ins, outs = inputs(G), outputs(G)
    hint = "" if any("role" in d for _, d in G.nodes(data=True)) else (
        "; no node has a 'role' attribute: set G.nodes[n]['role'] or use graphwire.assign_roles(G)"
    )
    if not ins:
        raise RoleError(f"graph has no node with role 'input'{hint}")
    if not outs:
        raise RoleError(f"graph has no node with role 'output'{hint}")
    bad_in = [(u, n) for n in ins for u in G.predecessors(n)]
    if bad_in:
        raise RoleError(f"input nodes must have no incoming edges, found {describe(bad_in)}")
    bad_out = [(n, v) for n in outs for v in G.successors(n)]
    if bad_out:
        raise RoleError(f"output nodes must have no outgoing edges, found {describe(bad_out)}")

    reached, reaching = reachable(G, ins), reachable(G, outs, reverse=True)
    dead = sorted((n for n in G if n not in reached or n not in reaching), key=sort_key)
    if dead:
        parts = []
        unreached = [n for n in dead if n not in reached]
        stuck = [n for n in dead if n in reached and n not in reaching]
        if unreached:
            parts.append(f"not reachable from an input: {describe(unreached)}")
        if stuck:
            parts.append(f"reaching no output: {describe(stuck)}")
        raise DeadNodeError("nodes not on an input -> output path (" + "; ".join(parts) + ")", nodes=dead)
    return G


def _validate_compact(G: nx.DiGraph) -> nx.DiGraph:
    """The structural checks of :func:`validate` for a graph with candidate blocks (see
    :mod:`graphwire.candidates`), with array work over the blocks instead of per-edge Python."""
    import numpy as np

    from .candidates import check_candidates, compact_reach

    rows, _ = check_candidates(G, EDGE_CHECKS)  # also: labels 0..N-1, every edge goes up (so: no loops, no cycles)
    n = G.number_of_nodes()
    roles = [node_attr(G, x, "role") for x in range(n)]
    is_in = np.array([r == "input" for r in roles], bool)
    is_out = np.array([r == "output" for r in roles], bool)
    hint = "" if any("role" in d for _, d in G.nodes(data=True)) else (
        "; no node has a 'role' attribute: set G.nodes[n]['role'] or use graphwire.assign_roles(G)"
    )
    if not is_in.any():
        raise RoleError(f"graph has no node with role 'input'{hint}")
    if not is_out.any():
        raise RoleError(f"graph has no node with role 'output'{hint}")
    has_pred = np.zeros(n + 1, np.int64)
    has_succ = np.zeros(n + 1, np.int64)
    for a, b, c, d in rows.tolist():
        has_pred[c] += 1
        has_pred[d] -= 1
        has_succ[a] += 1
        has_succ[b] -= 1
    in_block = np.cumsum(has_pred)[:n] > 0
    out_block = np.cumsum(has_succ)[:n] > 0
    bad_in = [(u, x) for x in np.flatnonzero(is_in).tolist() for u in G.predecessors(x)]
    bad_in += [("candidates", x) for x in np.flatnonzero(is_in & in_block).tolist()]
    if bad_in:
        raise RoleError(f"input nodes must have no incoming edges, found {describe(bad_in)} "
                        f"('candidates': from a candidate block)")
    bad_out = [(x, v) for x in np.flatnonzero(is_out).tolist() for v in G.successors(x)]
    bad_out += [(x, "candidates") for x in np.flatnonzero(is_out & out_block).tolist()]
    if bad_out:
        raise RoleError(f"output nodes must have no outgoing edges, found {describe(bad_out)} "
                        f"('candidates': into a candidate block)")
    reached, reaching = compact_reach(G, is_in, is_out, rows)
    if not (reached & reaching).all():
        parts = []
        unreached = np.flatnonzero(~reached).tolist()
        stuck = np.flatnonzero(reached & ~reaching).tolist()
        if unreached:
            parts.append(f"not reachable from an input: {describe(unreached)}")
        if stuck:
            parts.append(f"reaching no output: {describe(stuck)}")
        raise DeadNodeError("nodes not on an input -> output path (" + "; ".join(parts) + ")",
                            nodes=sorted(unreached + stuck))
    return G
