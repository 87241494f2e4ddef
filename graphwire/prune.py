"""Pruning: drop weak edges, then every node no longer on an input -> output path.

Pruning works on graphs, not modules: the learned strengths were written back onto edges
(``write_back``), so a pruned graph is an ordinary graph that ``compile(pruned, init_from=net)``
turns into a smaller network. The input graph is never mutated.
"""

from __future__ import annotations

import math
from typing import Literal

import networkx as nx

from .errors import AttributeValueError, DeadNodeError, ParameterError, describe
from .graph import copy_graph, inputs, meta, outputs, reachable, sort_key, topological_order, validate

__all__ = ["prune", "remove_dead_nodes"]


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


def prune(
    G: nx.DiGraph,
    threshold: float | None = None,
    keep: int | float | None = None,
    attr: str = "weight",
    per_node: Literal["in", "out"] | None = None,
    ensure_path: bool = False,
) -> nx.DiGraph:
    """Return a pruned copy of ``G``: weak edges dropped, then nodes left off every input->output path.

    Give exactly one of ``threshold`` (drop edges whose ``attr`` is below it) and ``keep`` (an int
    count or a float fraction of the strongest edges; with ``per_node="in"``/``"out"`` the budget
    applies to each node's incoming/outgoing edges). With ``attr="active"`` and neither, the
    edges whose ``active`` flag is false are dropped. With ``ensure_path=True`` the widest
    input -> output path to every output (the one whose weakest edge is strongest) is kept as
    well, so the result never loses an output, at the cost of exceeding the budget by a few
    edges. The graph records what was removed under ``G.graph["graphwire"]["pruned"]``.

    >>> import graphwire as gw
    >>> G = gw.generators.complete(3)
    >>> for i, (u, v) in enumerate(G.edges): G.edges[u, v]["weight"] = float(i)
    >>> gw.prune(G, keep=0.5).number_of_edges()
    5
    """
    validate(G)
    if per_node not in (None, "in", "out"):
        raise ParameterError(f"per_node must be None, 'in' or 'out', got {per_node!r}")
    if threshold is not None and keep is not None:
        raise ParameterError("give either threshold or keep, not both")
    if threshold is None and keep is None and attr != "active":
        raise ParameterError("give threshold=... or keep=... (or attr='active' to keep active edges)")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not math.isfinite(threshold)):
        raise ParameterError(f"threshold must be a finite number, got {threshold!r}")

    values = _edge_values(G, attr)
    edges = list(G.edges)
    if threshold is None and keep is None:
        kept = [e for e in edges if values[e] > 0.5]
    elif threshold is not None:
        kept = [e for e in edges if values[e] >= threshold]
    elif per_node is None:
        kept = _strongest(edges, values, _count(keep, len(edges)))
    else:
        kept_set = set()
        for n in G:
            own = list(G.in_edges(n) if per_node == "in" else G.out_edges(n))
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
            f"(kept {len(kept)} of {len(edges)} edges); pass ensure_path=True to keep the widest "
            "input->output path as well", nodes=dead)
    record = meta(H)
    record["pruned"] = {
        "attr": attr, "threshold": threshold, "keep": keep, "per_node": per_node, "ensure_path": ensure_path,
        "edges_before": len(edges), "edges_after": H.number_of_edges(),
        "removed_nodes": dead,
    }
    return validate(H)
