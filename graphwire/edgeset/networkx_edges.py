"""A graph's edges as networkx edges: the form of every graph but a compact one.

Edge order is ``G.edges`` order. Interval graphs (labels 0..N-1 added in order, every node reading
one contiguous range of lower labels: ``generators.layered`` graphs, DNW chains) are recognised
once (:meth:`NxEdges.ranges`); for them acyclicity is given and reachability is array arithmetic,
so validating and planning millions of edges costs no per-edge Python beyond one pass.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterator, Mapping, Sequence

import networkx as nx
import numpy as np

from ..contract import copy_graph, reachable, sort_key
from ..errors import AttributeValueError, CycleError, SelfLoopError, describe
from .base import DescribeEdges, EdgeSet, Ranges

__all__ = ["NxEdges", "raise_cycle", "check_edge_attributes"]


def raise_cycle(G: nx.DiGraph) -> None:
    """Raise a :class:`CycleError` naming one directed cycle of ``G`` (which must have one)."""
    cycle = nx.find_cycle(G)
    path = " -> ".join(repr(u) for u, _ in cycle) + f" -> {cycle[0][0]!r}"
    raise CycleError(f"graph has a directed cycle: {path}", cycle=list(cycle))


class NxEdges(EdgeSet):
    """The networkx edges of ``G`` (see the module doc)."""

    def __init__(self, G: nx.DiGraph):
        self.graph = G
        self._list: list[tuple] | None = None
        self._data: list[dict] = []
        self._ranges: Any = ...  # not computed yet

    # ---- sequence
    def _build(self) -> None:
        """The edge list and the data dicts in ``G.edges`` order, from the adjacency dicts in one pass."""
        edges: list[tuple] = []
        data: list[dict] = []
        for u, S in self.graph._succ.items():
            if S:
                edges.extend(zip(itertools.repeat(u, len(S)), S))
                data.extend(S.values())
        self._list, self._data = edges, data

    @property
    def _edges(self) -> list[tuple]:
        if self._list is None:
            self._build()
        return self._list  # type: ignore[return-value]

    def __len__(self) -> int:
        return self.graph.number_of_edges()

    def __getitem__(self, i):
        return self._edges[i]

    def __iter__(self) -> Iterator[tuple]:
        return iter(self._edges)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        cached = self.__dict__.get("_arrays")
        if cached is None:
            succ = self.graph._succ
            if all(type(n) is int for n in succ):  # integer labels: arrays without a tuple per edge
                degree = np.fromiter((len(S) for S in succ.values()), np.int64, len(succ))
                u = np.repeat(np.fromiter(succ, np.int64, len(succ)), degree)
                v = np.fromiter(itertools.chain.from_iterable(succ.values()), np.int64, int(degree.sum()))
            else:
                edges = self._edges
                u = np.empty(len(edges), object)
                v = np.empty(len(edges), object)
                if edges:
                    u[:] = [e[0] for e in edges]
                    v[:] = [e[1] for e in edges]
            cached = self.__dict__["_arrays"] = (u, v)
        return cached

    def data(self) -> Sequence[dict]:
        if self._list is None:
            self._build()
        return self._data

    def ids(self) -> Mapping[tuple, int]:
        return {e: i for i, e in enumerate(self._edges)}

    # ---- validation
    def check(self, edge_checks: Mapping[str, Callable[[Any], str | None]]) -> None:
        G = self.graph
        check_edge_attributes(G, edge_checks)
        if self.ranges() is not None:
            return  # every edge goes from a lower to a higher label: no loop, no cycle
        loops = list(nx.selfloop_edges(G))
        if loops:
            raise SelfLoopError(f"self loops are not allowed: edges {describe(loops)}")
        if not nx.is_directed_acyclic_graph(G):
            raise_cycle(G)

    def into(self, nodes: Sequence) -> tuple[list, str]:
        return [(u, n) for n in nodes for u in self.graph.predecessors(n)], ""

    def out_of(self, nodes: Sequence) -> tuple[list, str]:
        return [(n, v) for n in nodes for v in self.graph.successors(n)], ""

    def dead(self, ins: Sequence, outs: Sequence) -> tuple[list, list]:
        G = self.graph
        r = self.ranges()
        if r is not None:
            reach, coreach = _range_reach(r, ins, outs)
            return (np.flatnonzero(~reach).tolist(), np.flatnonzero(reach & ~coreach).tolist())
        reached, reaching = reachable(G, ins), reachable(G, outs, reverse=True)
        dead = sorted((n for n in G if n not in reached or n not in reaching), key=sort_key)
        return [n for n in dead if n not in reached], [n for n in dead if n in reached and n not in reaching]

    # ---- planning and transforms
    def ranges(self) -> Ranges | None:
        if self._ranges is ...:
            self._ranges = _nx_ranges(self.graph)
        return self._ranges

    def networkx(self) -> nx.DiGraph:
        return self.graph

    def write(self, describe: DescribeEdges, active: np.ndarray) -> nx.DiGraph:
        H = copy_graph(self.graph)
        succ = H._succ
        for key, values in describe(None).items():
            if key == "active":
                values = [v if v is None else bool(v) and bool(a) for v, a in zip(values, active.tolist())]
            for (u, v), val in zip(self._edges, values):
                if val is not None:  # a method may describe only some edges
                    succ[u][v][key] = val
        return H


def check_edge_attributes(G: nx.DiGraph, edge_checks: Mapping[str, Callable[[Any], str | None]]) -> None:
    """Raise an :class:`AttributeValueError` naming the first networkx edge of ``G`` whose attribute
    fails its check (only an edge's own keys are looked up: millions of edges on DNW graphs)."""
    for u, nbrs in G._succ.items():
        for v, data in nbrs.items():
            for key in data:  # an edge's own keys (few), then the contract's order for the message
                found = edge_checks.get(key)
                if found is not None and found(data[key]):
                    for k, c in edge_checks.items():
                        err = c(data[k]) if k in data else None
                        if err:
                            raise AttributeValueError(f"edge ({u!r}, {v!r}): attribute {k!r} {err}")


def _nx_ranges(G: nx.DiGraph) -> Ranges | None:
    """:class:`~graphwire.edgeset.base.Ranges` from the adjacency dicts, or None when ``G`` is not an
    interval graph (or its edge order is not u-major with ascending targets)."""
    N = G.number_of_nodes()
    succ, pred = G._succ, G._pred  # read-only: the adjacency dicts networkx keeps
    if N == 0 or list(succ) != list(range(N)) or any(type(n) is not int for n in succ):
        return None
    lo = np.zeros(N, np.int64)
    hi = np.zeros(N, np.int64)
    slo = np.zeros(N, np.int64)
    outdeg = np.zeros(N, np.int64)
    for v in range(N):  # C-speed passes over the adjacency dicts
        P = pred[v]
        if P:
            a, b = min(P), max(P) + 1
            if b - a != len(P) or b > v:
                return None
            lo[v], hi[v] = a, b
        S = succ[v]
        if S:
            a, b = min(S), max(S) + 1
            if b - a != len(S) or a <= v:
                return None
            slo[v], outdeg[v] = a, b - a
            if len(S) > 1 and not bool((np.diff(np.fromiter(S, np.int64, len(S))) == 1).all()):
                return None  # successor dicts out of order: G.edges order would not be u-major sorted
    return lo, hi, slo, outdeg


def _range_reach(r: Ranges, ins: Sequence, outs: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """``(reach, coreach)`` bool arrays of an interval graph: reachable from an input, reaching an
    output (prefix sums over label ranges, one pass each way)."""
    lo, hi, slo, outdeg = r
    N = len(lo)
    indeg = hi - lo
    is_in = np.zeros(N, bool)
    is_in[list(ins)] = True
    reach = np.zeros(N, bool)
    prefix = np.zeros(N + 1, np.int64)
    for v in range(N):
        reach[v] = prefix[hi[v]] - prefix[lo[v]] > 0 if indeg[v] else is_in[v]
        prefix[v + 1] = prefix[v] + reach[v]
    coreach = np.zeros(N, bool)
    coreach[list(outs)] = True
    cprefix = np.zeros(N + 1, np.int64)
    for u in range(N - 1, -1, -1):
        if outdeg[u]:
            coreach[u] = cprefix[slo[u]] - cprefix[slo[u] + outdeg[u]] > 0
        cprefix[u] = cprefix[u + 1] + coreach[u]
    return reach, coreach
