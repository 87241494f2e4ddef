"""Pruning: drop weak edges, then every node no longer on an input -> output path.

Pruning works on graphs, not modules: the learned strengths were written back onto edges
(``write_back``), so a pruned graph is an ordinary graph that ``compile(pruned, init_from=net)``
turns into a smaller network. The input graph is never mutated.
"""

from __future__ import annotations

import math
from typing import Literal

import networkx as nx

from ..errors import AttributeValueError, DeadNodeError, ParameterError, describe
from ..contract import (copy_graph, edges_hash, inputs, meta, outputs, reachable, register_attribute, sort_key,
                        unit)
from ..graph import checked_edges, topological_order, validate

__all__ = ["prune", "remove_dead_nodes", "share"]

register_attribute("edge", "share", unit, owner="share", doc="the edge's fraction of its target's input (share(G))")


def _edge_values(G: nx.DiGraph, attr: str) -> dict[tuple, float]:
    values, missing = {}, []
    for u, v, data in G.edges(data=True):
        if attr not in data:
            missing.append((u, v))
            continue
        val = data[attr]
        values[(u, v)] = float(val) if not isinstance(val, bool) else float(val)
    if missing:
        raise AttributeValueError(
            f"cannot prune by {attr!r}: {len(missing)} edge(s) have no {attr!r} attribute, e.g. "
            f"{describe(missing, 4)}; train the network and call net.write_back() first"
        )
    return values


def _count(keep: float | int, total: int) -> int:
    """``keep`` as an edge count: an int is a count, a float in (0, 1] a fraction (rounded up)."""
    if isinstance(keep, bool) or not isinstance(keep, (int, float)):
        raise ParameterError(f"keep must be an int count or a float fraction in (0, 1], got {keep!r}")
    if isinstance(keep, float):
        if not 0.0 < keep <= 1.0:
            raise ParameterError(f"keep as a fraction must lie in (0, 1], got {keep!r}")
        return max(1, math.ceil(keep * total - 1e-9)) if total else 0
    if keep < 0:
        raise ParameterError(f"keep must be >= 0, got {keep!r}")
    return min(keep, total)


def _strongest(edges: list[tuple], values: dict[tuple, float], k: int) -> list[tuple]:
    # Stable: ties keep the graph's edge order, so pruning is deterministic.
    order = sorted(range(len(edges)), key=lambda i: -values[edges[i]])
    return [edges[i] for i in sorted(order[:k])]


def _widest_paths(G: nx.DiGraph, values: dict[tuple, float]) -> set[tuple]:
    """Edges of, for every output, the input -> output path whose weakest edge is strongest."""
    best: dict = {}
    via: dict = {}
    for v in topological_order(G):
        if G.in_degree(v) == 0:
            best[v] = math.inf
            continue
        u = max(G.predecessors(v), key=lambda p: min(best[p], values[(p, v)]))  # first wins ties
        best[v], via[v] = min(best[u], values[(u, v)]), u
    keep = set()
    for out in outputs(G):
        v = out
        while v in via:
            keep.add((via[v], v))
            v = via[v]
    return keep


def remove_dead_nodes(G: nx.DiGraph) -> tuple[nx.DiGraph, list]:
    """Return a copy of ``G`` without nodes that are not on an input -> output path, and those nodes."""
    reached, reaching = reachable(G, inputs(G)), reachable(G, outputs(G), reverse=True)
    dead = sorted((n for n in G if n not in reached or n not in reaching), key=sort_key)
    H = copy_graph(G)
    H.remove_nodes_from(dead)
    return H, dead


def share(G: nx.DiGraph, *, attr: str = "weight") -> nx.DiGraph:
    """A copy of ``G`` with ``share`` on every edge: its fraction of its target's input,
    ``|attr| / sum of |attr| over the target's in-edges`` (an only input has share 1).

    When every node ends in a normalisation (as graphwire's built-in ops do), a node's gates
    matter only relative to each other: ``share`` is the scale-free view of them.

    >>> import graphwire as gw
    >>> G = gw.generators.resnet(1)
    >>> for i, (u, v) in enumerate(G.edges): G.edges[u, v]["weight"] = float(i + 1)
    >>> sorted(share(G).edges(data="share"))
    [(0, 1, 1.0), (0, 2, 0.4), (1, 2, 0.6)]
    """
    values = _edge_values(G, attr)
    H = copy_graph(G)
    for v in H:
        ins = list(H.in_edges(v))
        total = sum(abs(values[e]) for e in ins)
        for e in ins:
            H.edges[e]["share"] = abs(values[e]) / total if total > 0 else 0.0
    return H


def prune(
    G: nx.DiGraph,
    *,
    threshold: float | None = None,
    keep: int | float | None = None,
    attr: str = "weight",
    per_node: Literal["in", "out"] | None = None,
    ensure_path: bool = False,
    keep_unlearned: bool = True,
) -> nx.DiGraph:
    """Return a pruned copy of ``G``: weak edges dropped, then nodes left off every input->output path.

    Give exactly one of ``threshold`` (drop edges whose ``attr`` is below it) and ``keep`` (an int
    count or a float fraction of the strongest edges; with ``per_node="in"``/``"out"`` the budget
    applies to each node's incoming/outgoing edges). With ``attr="active"`` and neither, the
    edges whose ``active`` flag is false are dropped. With ``ensure_path=True`` the widest
    input -> output path to every output (the one whose weakest edge is strongest) is kept as
    well, so the result never loses an output, at the cost of exceeding the budget by a few
    edges. ``attr="share"`` on a graph without ``share`` computes it first (see :func:`share`).
    The graph records what was removed under ``G.graph["graphwire"]["pruned"]``.

    Edges marked ``learned=False`` (``write_back`` marks a gate that could not learn: a node's only
    input behind its BatchNorm, see :mod:`graphwire.wiring.sigmoid`) say nothing about the edge, so
    they are kept, and the budget of ``keep`` applies to the other edges; the record counts them
    (``kept_unlearned``). ``keep_unlearned=False`` prunes them like any other edge.

    A compact graph (candidate blocks, :mod:`graphwire.edgeset.blocks`; what ``write_back`` of a
    compact network gives) prunes to an ordinary graph. With ``attr="active"`` or a ``threshold``
    that every block's ``attrs`` fail (``write_back`` gives them ``active: False, weight: 0.0``),
    only its networkx edges can survive and it is pruned with arrays, the result built once;
    otherwise (``keep``, or blocks that pass) it is materialised first
    (:func:`~graphwire.edgeset.blocks.materialize_candidates`), at the cost of every candidate edge.

    >>> import graphwire as gw
    >>> G = gw.generators.complete(3)
    >>> for i, (u, v) in enumerate(G.edges): G.edges[u, v]["weight"] = float((7 * i) % 10)
    >>> P = gw.prune(G, keep=0.5)  # the 5 strongest of 10 edges, then nodes off every path go
    >>> sorted(P.edges), P.graph["graphwire"]["pruned"]["removed_nodes"]
    ([(0, 2), (2, 4)], [1, 3])
    """
    es = checked_edges(G)
    if per_node not in (None, "in", "out"):
        raise ParameterError(f"per_node must be None, 'in' or 'out', got {per_node!r}")
    if threshold is not None and keep is not None:
        raise ParameterError("give either threshold or keep, not both")
    if threshold is not None and per_node is not None:
        raise ParameterError(f"per_node={per_node!r} sets a budget per node and needs keep=...; with "
                             "threshold=... every edge is compared to the threshold on its own")
    if threshold is None and keep is None and attr != "active":
        raise ParameterError("give threshold=... or keep=... (or attr='active' to keep active edges)")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not math.isfinite(threshold)):
        raise ParameterError(f"threshold must be a finite number, got {threshold!r}")

    if not isinstance(keep_unlearned, bool):
        raise ParameterError(f"keep_unlearned must be True or False, got {keep_unlearned!r}")
    if (keep is None and per_node is None and not ensure_path and attr != "share"
            and not (keep_unlearned and any(x is False for *_, x in G.edges(data="learned")))):
        def passes(val) -> bool:
            return float(val) > 0.5 if threshold is None else float(val) >= threshold

        fast = es.keep_own_edges(attr, passes)  # a compact graph whose candidate blocks all fail
        if fast is not None:
            settings = {"attr": attr, "threshold": threshold, "keep": keep, "per_node": per_node,
                        "ensure_path": ensure_path}
            _record_pruning(G, fast.graph, fast.digest, settings, fast.before, fast.removed, 0)
            return fast.graph
    G = es.networkx()  # a compact graph: every candidate edge as a networkx edge
    if attr == "share" and any("share" not in d for *_, d in G.edges(data=True)):
        G = share(G)
    edges = list(G.edges)
    fixed = {(u, v) for u, v, d in G.edges(data=True) if d.get("learned") is False} if keep_unlearned else set()
    values = _edge_values(G, attr) if not fixed else {**_edge_values(_without(G, fixed), attr),
                                                      **{e: math.inf for e in fixed}}
    ranked = [e for e in edges if e not in fixed]
    if threshold is None and keep is None:
        kept = [e for e in edges if values[e] > 0.5]
    elif threshold is not None:
        kept = [e for e in edges if values[e] >= threshold]
    elif per_node is None:
        assert keep is not None
        kept_set = set(_strongest(ranked, values, _count(keep, len(ranked)))) | fixed
        kept = [e for e in edges if e in kept_set]
    else:
        assert keep is not None
        kept_set = set(fixed)
        for n in G:
            own = [e for e in (G.in_edges(n) if per_node == "in" else G.out_edges(n)) if e not in fixed]
            kept_set.update(_strongest(own, values, _count(keep, len(own))))
        kept = [e for e in edges if e in kept_set]

    if ensure_path:
        wanted = set(kept) | _widest_paths(G, values)
        kept = [e for e in edges if e in wanted]
    H = copy_graph(G)
    H.remove_edges_from(set(edges) - set(kept))
    H, dead = remove_dead_nodes(H)
    if not inputs(H) or not outputs(H):
        raise DeadNodeError(
            f"pruning by {attr!r} leaves no path from an input to an output "
            f"(kept {len(kept)} of {len(edges)} edges); pass ensure_path=True (CLI: --ensure-path) "
            f"to keep the widest path to every output", nodes=dead)
    settings = {"attr": attr, "threshold": threshold, "keep": keep, "per_node": per_node, "ensure_path": ensure_path}
    _record_pruning(G, H, edges_hash(G.edges), settings, len(edges), dead, sum(1 for e in fixed if H.has_edge(*e)))
    return validate(H)


def _record_pruning(G: nx.DiGraph, H: nx.DiGraph, digest: str, settings: dict, edges_before: int, removed: list,
                    kept_unlearned: int) -> None:
    """What ``H``, pruned from ``G``, records: ``G``'s lineage plus its edge digest, and ``pruned``."""
    record = meta(H)
    record["lineage"] = list(meta(G).get("lineage", [])) + [digest]
    record["pruned"] = {**settings, "edges_before": edges_before, "edges_after": H.number_of_edges(),
                        "removed_nodes": removed, "kept_unlearned": kept_unlearned}


def _without(G: nx.DiGraph, edges: set) -> nx.DiGraph:
    """A view of ``G`` without ``edges`` (their attributes need not hold a value to prune by)."""
    return nx.restricted_view(G, [], list(edges))
