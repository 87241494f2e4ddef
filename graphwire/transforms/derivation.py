"""``derive``: the discrete architecture DARTS' continuous weights point to.

Works on graphs only (no torch): give it a cell written back by a ``darts`` network (or the network
itself). The cell encoding is described in :mod:`graphwire.generators.darts_cell`: every candidate
op of a connection ``i -> j`` is a node, and the edge from it into state ``j`` (an *op edge*)
carries ``connection``, ``ops``, ``candidate`` and, after ``write_back``, ``op_weights``.

Parsing follows DARTS' ``genotype()``: for every state, rank its incoming connections by their
strongest op that is not ``none`` and keep the ``top_k`` best; on each kept connection keep the
argmax op that is not ``none`` (``none`` is never chosen, even when it has the largest weight).
With PC-DARTS edge normalisation the ranking score is multiplied by the connection's weight.
``threshold`` adds FairDARTS' "threshold_sparse" rule: a kept connection whose chosen op weight is
below the threshold is dropped as well.
"""

from __future__ import annotations

import copy
from typing import Any

import networkx as nx

from ..errors import AttributeValueError, ParameterError
from ..generators.darts_cell import Connection, find_connections, select_connections
from ..graph import meta, sort_key, validate

__all__ = ["derive", "Connection", "find_connections", "select_connections"]

#: Edge attributes that describe what a search learned; a derived graph drops them.
LEARNED_EDGE_ATTRS = ("weight", "active", "share", "op_weights", "op", "connection_weight", "ops",
                      "candidate", "connection")


def _weights_from_graph(G: nx.DiGraph, edges: list, conns: list[Connection]) -> tuple[list, list | None]:
    weights, cw = [], []
    for c in conns:
        e = edges[next(iter(c.op_edges.values()))]
        ow = G.edges[e].get("op_weights")
        if not isinstance(ow, dict):
            raise AttributeValueError(
                f"edge {e!r} has no 'op_weights': derive needs a cell written back by a 'darts' network "
                "(net.write_back()) or the network itself")
        weights.append(ow)
        cw.append(G.edges[e].get("connection_weight"))
    return weights, (cw if all(x is not None for x in cw) else None)


def derive(G: Any, top_k: int = 2, *, threshold: float | None = None,
           use_connection_weight: bool = True) -> nx.DiGraph:
    """A plain graph with, per state, the ``top_k`` strongest connections and on each its best op.

    ``G`` is a written-back DARTS cell (``net.write_back()``) or a network compiled with
    ``wiring="darts"`` (written back here). The result has ordinary nodes only (states, the chosen
    op nodes, which keep the labels of the candidate nodes they come from, the output) and no
    learned attributes, so ``graphwire.compile(derived, ..., wiring="static")`` builds the
    discrete network, and ``init_from=search_net`` carries the chosen ops' weights over (partial
    channel cells widen the chosen ops to the state width, so those start fresh).
    ``threshold``: FairDARTS' rule (drop a kept connection whose op weight is below it; 0.85 there).

    >>> import graphwire as gw
    >>> G = gw.generators.darts_cell(2, ops=["none", "skip_connect", "avg_pool_3x3"])
    >>> for u, v, d in G.edges(data=True):
    ...     if "candidate" in d:
    ...         d["op_weights"] = {"none": 0.5, "skip_connect": 0.2, "avg_pool_3x3": 0.3}
    >>> derive(G, top_k=1).graph["graphwire"]["derived"]["genotype"]
    [[0, 6, 'avg_pool_3x3'], [0, 13, 'avg_pool_3x3']]
    """
    if hasattr(G, "write_back") and not isinstance(G, nx.DiGraph):
        G = G.write_back()
    validate(G)
    edges = list(G.edges)
    data = [G.edges[e] for e in edges]
    conns = find_connections(edges, data)
    if not conns:
        raise ParameterError("derive: the graph has no DARTS connections (edges with a 'candidate' attribute); "
                             "build it with graphwire.generators.darts_cell")
    weights, cw = _weights_from_graph(G, edges, conns)
    chosen = select_connections(conns, weights, top_k=top_k, threshold=threshold,
                                conn_weights=cw if use_connection_weight else None)

    H = G.copy()
    H.graph = copy.deepcopy(G.graph)
    for c in conns:
        H.remove_nodes_from(c.inside)
    for _, _, d in H.edges(data=True):
        for k in LEARNED_EDGE_ATTRS:
            d.pop(k, None)
    genotype = []
    for i, op in sorted(chosen.items()):
        c = conns[i]
        cand = edges[c.op_edges[op]][0]
        attrs = {k: v for k, v in G.nodes[cand].items()}
        attrs["op"] = op
        width = G.nodes[c.target].get("channels")
        if width is not None:
            attrs["channels"] = width
        H.add_node(cand, **attrs)
        H.add_edge(c.source, cand)
        H.add_edge(cand, c.target)
        genotype.append([c.source, c.target, op])
    from .pruning import remove_dead_nodes

    H, dead = remove_dead_nodes(H)
    # keep the label order of the original graph (its topological labelling)
    order = sorted(H.nodes, key=sort_key)
    H2 = nx.DiGraph()
    H2.graph = H.graph
    H2.add_nodes_from((n, H.nodes[n]) for n in order)
    H2.add_edges_from(sorted(H.edges(data=True), key=lambda e: (sort_key(e[0]), sort_key(e[1]))))
    record = meta(H2)
    record["derived"] = {"top_k": top_k, "threshold": threshold, "genotype": genotype, "removed_nodes": dead}
    if isinstance(record.get("compile"), dict):  # a discrete architecture: it compiles with fixed wiring
        record["compile"]["wiring"] = {"method": "static", "options": {}}
    return validate(H2)

