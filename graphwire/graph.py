"""Graphs that meet the contract: validation, roles, topological generations.

The contract itself -- which attributes exist, their defaults and checks -- is
:mod:`graphwire.contract`; the edges are read through :mod:`graphwire.edgeset`, so
:func:`validate` is written once for ordinary and compact graphs.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from .contract import (  # noqa: F401  (the contract's helpers are read from here too)
    AGGS,
    EDGE_CHECKS,
    NODE_CHECKS,
    NODE_DEFAULTS,
    ROLES,
    SCALAR_TYPES,
    SCHEMA_VERSION,
    check_compile_record,
    check_version,
    copy_graph,
    edges_hash,
    inputs,
    is_int,
    meta,
    node_attr,
    outputs,
    own_attrs,
    reachable,
    sort_key,
)
from .edgeset import EdgeSet, edge_set
from .edgeset.networkx_edges import raise_cycle
from .errors import AttributeValueError, DeadNodeError, GraphError, RoleError, describe

__all__ = ["validate", "generations", "topological_order", "assign_roles", "checked_edges"]


def generations(G: nx.DiGraph) -> list[list]:
    """Topological generations, each sorted by label: nodes of one generation are independent.

    >>> generations(nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3)]))
    [[0], [1, 2], [3]]
    """
    try:
        return [sorted(g, key=sort_key) for g in nx.topological_generations(G)]
    except nx.NetworkXUnfeasible:
        raise_cycle(G)
        raise  # pragma: no cover - raise_cycle always raises


def topological_order(G: nx.DiGraph) -> list:
    """A deterministic topological order: generation by generation, by label inside one."""
    return [n for gen in generations(G) for n in gen]


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
    checked_edges(G, any_labels=any_labels)
    return G


def checked_edges(G: Any, *, any_labels: bool = False) -> EdgeSet:
    """:func:`validate` ``G`` and return its :class:`~graphwire.edgeset.EdgeSet` (what the planner reads)."""
    if not isinstance(G, nx.DiGraph) or G.is_multigraph():
        raise GraphError(f"expected a networkx.DiGraph, got {type(G).__name__}")
    if G.number_of_nodes() == 0:
        raise RoleError("graph has no nodes")
    record = G.graph.get("graphwire")
    if record is not None:
        if not isinstance(record, dict):
            raise AttributeValueError(f"graph attribute 'graphwire' must be a mapping, got {record!r}")
        check_version(record)
        if "compile" in record:
            check_compile_record(record["compile"])

    for n, data in G.nodes(data=True):
        if not any_labels and not (is_int(n) or isinstance(n, str)):
            raise AttributeValueError(f"node label {n!r} must be an int or a str, got {type(n).__name__}")
        for key, check in NODE_CHECKS.items():
            if key in data:
                err = check(data[key])
                if err:
                    raise AttributeValueError(f"node {n!r}: attribute {key!r} {err}")
    es = edge_set(G)
    es.check(EDGE_CHECKS)

    ins, outs = inputs(G), outputs(G)
    hint = "" if any("role" in d for _, d in G.nodes(data=True)) else (
        "; no node has a 'role' attribute: set G.nodes[n]['role'] or use graphwire.assign_roles(G)"
    )
    if not ins:
        raise RoleError(f"graph has no node with role 'input'{hint}")
    if not outs:
        raise RoleError(f"graph has no node with role 'output'{hint}")
    bad_in, note = es.into(ins)
    if bad_in:
        raise RoleError(f"input nodes must have no incoming edges, found {describe(bad_in)}{note}")
    bad_out, note = es.out_of(outs)
    if bad_out:
        raise RoleError(f"output nodes must have no outgoing edges, found {describe(bad_out)}{note}")

    unreached, stuck = es.dead(ins, outs)
    if unreached or stuck:
        parts = []
        if unreached:
            parts.append(f"not reachable from an input: {describe(unreached)}")
        if stuck:
            parts.append(f"reaching no output: {describe(stuck)}")
        raise DeadNodeError("nodes not on an input -> output path (" + "; ".join(parts) + ")",
                            nodes=sorted(unreached + stuck, key=sort_key))
    return es
