"""Compact candidate sets: edges given as blocks of node ranges instead of networkx edges.

A DNW candidate graph has millions of edges that training chooses a few from. Held as networkx
edges they cost gigabytes and seconds; described as *blocks* they cost nothing. A *compact* graph
is a plain ``nx.DiGraph`` with its nodes (and their attributes) as usual and the graph attribute

``G.graph["graphwire"]["candidates"]``: a list of blocks, each a mapping
``{"sources": [a, b], "targets": [c, d], "attrs": {...}}``: every node ``a <= u < b`` may feed
every node ``c <= v < d``, and each such edge carries ``attrs`` (optional, default ``{}``).

Rules (:func:`check_candidates` raises :class:`~graphwire.errors.AttributeValueError` naming the
field): node labels are the integers ``0..N-1``; ``0 <= a < b <= c < d <= N`` (a candidate goes
from a lower to a higher label, so candidates never make a cycle); two blocks share no edge;
``attrs`` values follow the edge attribute contract. The networkx edges of a compact graph also go
from a lower to a higher label. The graph's edges are its networkx edges together with every
block's edges; a networkx edge that lies in a block is that candidate *chosen*: its attributes
are the block's ``attrs`` updated with its own (``write_back`` records the learned wiring this way).

Edge order: the edges of a compact graph, as ``compile`` numbers them, are sorted by
``(source, target)``; :func:`materialize_candidates` adds them in that order, so the compiled
network of a compact graph and of its materialised graph have the same edges in the same order.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import itertools
import json
from typing import Any, Callable, Iterator, Mapping, Sequence

import networkx as nx
import numpy as np

from .._gc import paused
from ..contract import SCALAR_TYPES, inputs, is_int, meta, outputs, own_attrs
from ..errors import AttributeValueError, DeadNodeError, describe
from .base import DescribeEdges, EdgeSet, OwnEdges, Ranges

__all__ = ["CANDIDATES", "BlockEdges", "check_candidates", "CandidateEdges", "EdgeData", "materialize_candidates",
           "compact_reach", "NOT_CHOSEN"]

#: What a candidate edge that is not chosen gets in a written-back compact graph (per described key).
NOT_CHOSEN = {"active": False, "weight": 0.0}

#: Key of the compact record in ``G.graph["graphwire"]``.
CANDIDATES = "candidates"
_FIELD = "graph.graphwire.candidates"
_BLOCK_KEYS = ("sources", "targets", "attrs")


def _range(value: Any, where: str, n: int) -> tuple[int, int]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2 or not all(is_int(x) for x in value)
            or not 0 <= value[0] < value[1] <= n):
        raise AttributeValueError(f"{where} must be a node range [lo, hi] of integers with 0 <= lo < hi <= {n} "
                                  f"(the number of nodes), got {value!r}")
    return int(value[0]), int(value[1])


def check_candidates(G: nx.DiGraph, edge_checks: Mapping[str, Any] | None = None, *,
                     edges: bool = True) -> tuple[np.ndarray, list[dict]]:
    """Check ``G``'s compact record (see the module doc) and return ``(blocks, attrs)``:
    ``blocks`` an ``[B, 4]`` int64 array of ``(a, b, c, d)`` rows, ``attrs`` one dict per block.
    Raises :class:`~graphwire.errors.AttributeValueError` naming the field and what was expected.
    ``edge_checks``: ``{attribute: check}`` for the blocks' ``attrs`` (``graph.validate`` passes
    the edge attribute contract). ``edges=False`` skips the check that every networkx edge goes up
    (for a graph already validated)."""
    record = G.graph["graphwire"]
    blocks = record[CANDIDATES]
    if not isinstance(blocks, (list, tuple)):
        raise AttributeValueError(f"{_FIELD} must be a list of blocks {{'sources': [lo, hi], 'targets': [lo, hi], "
                                  f"'attrs': {{...}}}}, got {type(blocks).__name__}")
    n = G.number_of_nodes()
    bad = [x for x in G if not is_int(x) or not 0 <= x < n]
    if bad:
        raise AttributeValueError(f"{_FIELD}: a graph with candidate blocks needs the node labels 0..{n - 1} "
                                  f"(integers), got the label {bad[0]!r}")
    rows = np.zeros((len(blocks), 4), np.int64)
    attrs: list[dict] = []
    for i, blk in enumerate(blocks):
        where = f"{_FIELD}[{i}]"
        if not isinstance(blk, Mapping):
            raise AttributeValueError(f"{where} must be a mapping {{'sources': [lo, hi], 'targets': [lo, hi], "
                                      f"'attrs': {{...}}}}, got {blk!r:.60}")
        unknown = sorted(str(k) for k in blk if k not in _BLOCK_KEYS)
        if unknown:
            raise AttributeValueError(f"{where} has unknown field(s) {unknown}; a block has 'sources', 'targets' "
                                      f"and optionally 'attrs'")
        for key in ("sources", "targets"):
            if key not in blk:
                raise AttributeValueError(f"{where} has no {key!r} (a node range [lo, hi])")
        a, b = _range(blk["sources"], f"{where}.sources", n)
        c, d = _range(blk["targets"], f"{where}.targets", n)
        if b > c:
            raise AttributeValueError(f"{where}: sources [{a}, {b}] must end at or before targets [{c}, {d}] "
                                      f"start (candidate edges go from a lower to a higher label)")
        extra = blk.get("attrs", {})
        if not isinstance(extra, Mapping):
            raise AttributeValueError(f"{where}.attrs must be a mapping of edge attributes, got {extra!r:.60}")
        for key, value in extra.items():
            if not isinstance(key, str):
                raise AttributeValueError(f"{where}.attrs has the key {key!r}: edge attribute names are strings")
            check = (edge_checks or {}).get(key)
            err = check(value) if check else None
            if err:
                raise AttributeValueError(f"{where}.attrs: attribute {key!r} {err}")
        rows[i] = (a, b, c, d)
        attrs.append(dict(extra))
    if len(rows) > 1:  # no edge in two blocks: source ranges and target ranges both overlap
        s = (rows[:, None, 0] < rows[None, :, 1]) & (rows[None, :, 0] < rows[:, None, 1])
        t = (rows[:, None, 2] < rows[None, :, 3]) & (rows[None, :, 2] < rows[:, None, 3])
        both = np.triu(s & t, 1)
        if both.any():
            i, j = (int(x) for x in np.argwhere(both)[0])
            raise AttributeValueError(f"{_FIELD}[{i}] and {_FIELD}[{j}] share candidate edges (their sources "
                                      f"and their targets overlap); every candidate edge must be in one block")
    for u, v in G.edges if edges else ():
        if not u < v:
            raise AttributeValueError(f"edge ({u!r}, {v!r}): in a graph with candidate blocks ({_FIELD}) every "
                                      f"edge goes from a lower to a higher label")
    return rows, attrs


class CandidateEdges:
    """Every edge of a compact graph as *segments*: rows ``(u, lo, hi)`` meaning the edges
    ``(u, lo), ..., (u, hi - 1)``, sorted by ``(u, lo)``; edge ids run through them in order, so
    edges are numbered in ``(source, target)`` order. ``seg_block[i]`` is the block of segment
    ``i``, or ``-1 - j`` for the ``j``-th networkx edge outside every block. Built once, O(N * B + nx
    edges) work, no per-candidate Python."""

    def __init__(self, G: nx.DiGraph, checked: tuple[np.ndarray, list[dict]] | None = None):
        rows, attrs = checked if checked is not None else check_candidates(G)
        self.n = G.number_of_nodes()
        self.block_attrs = attrs
        nx_edges = list(G.edges(data=True))
        eu = np.fromiter((u for u, _, _ in nx_edges), np.int64, len(nx_edges))
        ev = np.fromiter((v for _, v, _ in nx_edges), np.int64, len(nx_edges))
        inside = np.full(len(nx_edges), -1, np.int64)
        for b, (a, bb, c, d) in enumerate(rows.tolist()):
            hit = (eu >= a) & (eu < bb) & (ev >= c) & (ev < d)
            inside[hit] = b
        extra = np.flatnonzero(inside < 0)
        self.extra_attrs = [nx_edges[i][2] for i in extra.tolist()]
        lens = rows[:, 1] - rows[:, 0]
        seg_u = np.concatenate([np.arange(a, b) for a, b, _, _ in rows.tolist()] + [eu[extra]])
        seg_lo = np.concatenate([np.repeat(rows[:, 2], lens), ev[extra]])
        seg_hi = np.concatenate([np.repeat(rows[:, 3], lens), ev[extra] + 1])
        seg_block = np.concatenate([np.repeat(np.arange(len(rows)), lens), -1 - np.arange(len(extra))])
        order = np.lexsort((seg_lo, seg_u))
        self.seg_u, self.seg_lo, self.seg_hi, self.seg_block = (x[order].astype(np.int64)
                                                                for x in (seg_u, seg_lo, seg_hi, seg_block))
        self.seg_len = self.seg_hi - self.seg_lo
        self.seg_start = np.zeros(len(order) + 1, np.int64)
        np.cumsum(self.seg_len, out=self.seg_start[1:])
        self.num_edges = int(self.seg_start[-1])
        self._key = self.seg_u * (self.n + 1) + self.seg_lo
        # chosen candidates: networkx edges inside a block; their attributes override the block's
        self.overrides: dict[int, dict] = {}
        chosen = np.flatnonzero(inside >= 0)
        if len(chosen):
            ids = self.ids(eu[chosen], ev[chosen])
            for i, e in zip(chosen.tolist(), ids.tolist()):
                self.overrides[e] = {**attrs[int(inside[i])], **nx_edges[i][2]}

    def ids(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Edge ids of the pairs ``(u[i], v[i])``; -1 where there is no such edge."""
        u, v = np.asarray(u, np.int64), np.asarray(v, np.int64)
        seg = np.searchsorted(self._key, u * (self.n + 1) + v, side="right") - 1
        ok = seg >= 0
        segc = np.where(ok, seg, 0)
        if len(self.seg_u) == 0:
            return np.full(u.shape, -1, np.int64)
        ok &= (self.seg_u[segc] == u) & (v < self.seg_hi[segc]) & (v >= self.seg_lo[segc])
        return np.where(ok, self.seg_start[segc] + v - self.seg_lo[segc], -1)

    def segment_of(self, ids: np.ndarray | int) -> np.ndarray:
        return np.searchsorted(self.seg_start, np.asarray(ids, np.int64), side="right") - 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(u, v)``: every edge's source and target, in edge order (two int64 arrays of E)."""
        cached = self.__dict__.get("_uv")
        if cached is None:
            u = np.repeat(self.seg_u, self.seg_len)
            v = np.arange(self.num_edges, dtype=np.int64) - np.repeat(self.seg_start[:-1] - self.seg_lo, self.seg_len)
            cached = self.__dict__["_uv"] = (u, v)
        return cached

    def attrs_of_segment(self, seg: int) -> dict:
        b = int(self.seg_block[seg])
        return self.block_attrs[b] if b >= 0 else self.extra_attrs[-1 - b]

    def attrs(self, e: int) -> dict:
        """Edge ``e``'s attribute dict (shared by the block's edges: read it, do not mutate it)."""
        got = self.overrides.get(e)
        return got if got is not None else self.attrs_of_segment(int(self.segment_of(e)))

    def runs(self, key: str) -> list[tuple[Any, int, int]]:
        """``(value, start, stop)``: maximal runs of edge ids whose attribute ``key`` is equal
        (``None`` where absent), in edge order."""
        pieces: list[tuple[Any, int, int]] = []
        by_seg: dict[int, list[int]] = {}
        for e, d in self.overrides.items():
            by_seg.setdefault(int(self.segment_of(e)), []).append(e)
        starts = self.seg_start.tolist()
        for s in range(len(self.seg_u)):
            value = self.attrs_of_segment(s).get(key)
            a, b = starts[s], starts[s + 1]
            for e in sorted(by_seg.get(s, [])):
                own = self.overrides[e].get(key)
                if own != value or type(own) is not type(value):
                    pieces.extend([(value, a, e), (own, e, e + 1)])
                    a = e + 1
            pieces.append((value, a, b))
        out: list[tuple[Any, int, int]] = []
        for value, a, b in pieces:
            if a >= b:
                continue
            if out and out[-1][2] == a and out[-1][0] == value and type(out[-1][0]) is type(value):
                out[-1] = (value, out[-1][1], b)
            else:
                out.append((value, a, b))
        return out


class EdgeIndex(Mapping):
    """``{(u, v): edge id}`` of a compact graph's edges, answered by binary search (no dict of E entries)."""

    def __init__(self, cand: CandidateEdges):
        self.cand = cand
        # plain lists: one lookup is a bisect over the segments (carry-over asks once per new edge)
        self._key = cand._key.tolist()
        self._u, self._lo, self._hi = cand.seg_u.tolist(), cand.seg_lo.tolist(), cand.seg_hi.tolist()
        self._start = cand.seg_start.tolist()

    def _id(self, key: Any) -> int:
        if not isinstance(key, tuple) or len(key) != 2 or not all(is_int(x) for x in key):
            return -1
        u, v = int(key[0]), int(key[1])
        s = bisect.bisect_right(self._key, u * (self.cand.n + 1) + v) - 1
        if s < 0 or self._u[s] != u or not self._lo[s] <= v < self._hi[s]:
            return -1
        return self._start[s] + v - self._lo[s]

    def __getitem__(self, key: Any) -> int:
        e = self._id(key)
        if e < 0:
            raise KeyError(key)
        return e

    def __contains__(self, key: object) -> bool:
        return self._id(key) >= 0

    def __len__(self) -> int:
        return self.cand.num_edges

    def __iter__(self) -> Iterator[tuple[int, int]]:
        u, v = self.cand.arrays()
        return zip(u.tolist(), v.tolist())


class EdgeData(Sequence):
    """A compiled compact graph's edge attribute dicts, one per edge (``edge_data`` of the plan),
    without a dict per edge: edges of one block share their block's dict (read-only).
    ``runs(key)``: runs of equal values of one attribute (what ``group_by`` needs)."""

    def __init__(self, cand: CandidateEdges):
        self.cand = cand

    def __len__(self) -> int:
        return self.cand.num_edges

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"edge index {i} out of range")
        return self.cand.attrs(i)

    def __iter__(self) -> Iterator[dict]:
        c = self.cand
        starts = c.seg_start.tolist()
        for s in range(len(c.seg_u)):
            d = c.attrs_of_segment(s)
            for e in range(starts[s], starts[s + 1]):
                yield c.overrides.get(e, d)

    def runs(self, key: str) -> list[tuple[Any, int, int]]:
        return self.cand.runs(key)


def materialize_candidates(G: nx.DiGraph) -> nx.DiGraph:
    """The full candidate graph of a compact graph: every candidate edge as a networkx edge.

    Returns a new ``nx.DiGraph`` with ``G``'s nodes and graph record (without ``candidates``) and
    every edge of ``G`` -- its networkx edges and each block's edges, with the block's ``attrs``
    (a networkx edge inside a block keeps its own attributes over the block's) -- added in
    ``(source, target)`` order, the order ``compile`` gives the compact graph's edges. A graph
    without the record is returned as a copy. ``G`` is not modified.

    >>> import networkx as nx
    >>> from graphwire.generators import materialize_candidates
    >>> G = nx.DiGraph()
    >>> G.add_nodes_from([(0, {"role": "input"}), (1, {}), (2, {}), (3, {"role": "output"})])
    >>> G.add_edges_from([(0, 1), (0, 2)])
    >>> G.graph["graphwire"] = {"version": 1, "candidates": [
    ...     {"sources": [1, 3], "targets": [3, 4], "attrs": {"stage": 0}}]}
    >>> H = materialize_candidates(G)
    >>> list(H.edges(data=True))
    [(0, 1, {}), (0, 2, {}), (1, 3, {'stage': 0}), (2, 3, {'stage': 0})]
    >>> "candidates" in H.graph["graphwire"]
    False
    """
    record = G.graph.get("graphwire")
    if not (isinstance(record, dict) and CANDIDATES in record):
        H = nx.DiGraph()
        H.graph.update(copy.deepcopy(G.graph))
        H.add_nodes_from((n, copy.deepcopy(d)) for n, d in G.nodes(data=True))
        H.add_edges_from((u, v, copy.deepcopy(d)) for u, v, d in G.edges(data=True))
        return H
    cand = CandidateEdges(G)
    H = nx.DiGraph()

    H.graph.update(copy.deepcopy({k: v for k, v in G.graph.items() if k != "graphwire"}))
    H.graph["graphwire"] = copy.deepcopy({k: v for k, v in G.graph["graphwire"].items() if k != CANDIDATES})
    with paused():
        H.add_nodes_from((n, dict(d)) for n, d in G.nodes(data=True))
        u, v = cand.arrays()
        over = cand.overrides
        starts = cand.seg_start.tolist()
        ul, vl = u.tolist(), v.tolist()
        for s in range(len(cand.seg_u)):
            d = cand.attrs_of_segment(s)
            a, b = starts[s], starts[s + 1]
            if all(type(x) in SCALAR_TYPES for x in d.values()):  # networkx copies the dict per edge
                H.add_edges_from(zip(ul[a:b], vl[a:b], itertools.repeat(d)))
            else:
                H.add_edges_from((ul[e], vl[e], copy.deepcopy(d)) for e in range(a, b))
        for e, d in over.items():  # chosen candidates: their own attributes over the block's
            data = H.edges[ul[e], vl[e]]
            data.clear()
            data.update(copy.deepcopy(d))
    return H


def compact_reach(G: nx.DiGraph, is_in: np.ndarray, is_out: np.ndarray,
                  rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(reached, reaching)``: bool arrays over labels 0..N-1, nodes reachable from an input and
    nodes that reach an output, through the networkx edges and the candidate blocks ``rows``
    (labels are topologically numbered in a compact graph: every edge goes up)."""
    n = len(is_in)
    reach = np.zeros(n, bool)
    flag = np.zeros(n + 1, np.int64)  # difference array of targets marked by fired blocks
    fired = np.zeros(len(rows), bool)
    by_source: list[list[int]] = [[] for _ in range(n)]
    for b, (a, _, _, _) in enumerate(rows.tolist()):
        by_source[a].append(b)
    open_blocks: list[int] = []  # blocks whose source range holds the current label
    run, succ = 0, G._succ
    marked = np.zeros(n, bool)
    for x in range(n):
        run += flag[x]
        open_blocks = [b for b in open_blocks if rows[b, 1] > x] + by_source[x]
        if is_in[x] or run > 0 or marked[x]:
            reach[x] = True
            for y in succ[x]:
                marked[y] = True
            for b in open_blocks:
                if not fired[b]:
                    fired[b] = True
                    flag[rows[b, 2]] += 1
                    flag[rows[b, 3]] -= 1
    coreach = np.zeros(n, bool)
    above = np.zeros(n + 1, np.int64)  # above[x]: reaching nodes with label >= x
    by_last: list[list[int]] = [[] for _ in range(n)]
    for b, (_, bb, _, _) in enumerate(rows.tolist()):
        by_last[bb - 1].append(b)
    live: list[int] = []
    pred_ok = np.zeros(len(rows), bool)
    for x in range(n - 1, -1, -1):
        live = [b for b in live if rows[b, 0] <= x] + by_last[x]
        ok = bool(is_out[x]) or any(coreach[y] for y in succ[x])
        if not ok:
            for b in live:
                if not pred_ok[b]:
                    c, d = rows[b, 2], rows[b, 3]
                    pred_ok[b] = above[c] - above[d] > 0
                if pred_ok[b]:
                    ok = True
                    break
        coreach[x] = ok
        above[x] = above[x + 1] + ok
    return reach, coreach


class BlockEdges(EdgeSet):
    """The edges of a compact graph ``G``: its networkx edges and its candidate blocks, numbered in
    ``(source, target)`` order, held as arrays (see the module doc)."""

    interval_planner = "compact"

    def __init__(self, G: nx.DiGraph):
        self.graph = G
        self._cand: CandidateEdges | None = None
        self._checked: tuple[np.ndarray, list[dict]] | None = None  # check_candidates' result, once
        self._edges_checked = False  # whether that check covered the networkx edges too
        self._ranges: Any = ...  # not computed yet

    @property
    def cand(self) -> CandidateEdges:
        if self._cand is None:
            self._cand = CandidateEdges(self.graph, self._checked if self._edges_checked else None)
        return self._cand

    # ---- sequence
    def __len__(self) -> int:
        return self.cand.num_edges

    def __getitem__(self, i):
        c = self.cand
        u, v = c.arrays()
        if isinstance(i, slice):
            return list(zip(u[i].tolist(), v[i].tolist()))
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"edge index {i} out of range")
        seg = int(c.segment_of(i))
        return int(c.seg_u[seg]), int(c.seg_lo[seg] + i - c.seg_start[seg])

    def __iter__(self) -> Iterator[tuple[int, int]]:
        u, v = self.cand.arrays()
        return zip(u.tolist(), v.tolist())

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self.cand.arrays()

    def data(self) -> "EdgeData":
        return EdgeData(self.cand)

    def ids(self) -> "EdgeIndex":
        return EdgeIndex(self.cand)

    def endpoints(self, position: Mapping[Any, int]) -> tuple[np.ndarray, np.ndarray]:
        pos = np.fromiter((position[x] for x in range(self.cand.n)), np.int64, self.cand.n)
        u, v = self.arrays()
        return pos[u], pos[v]

    def runs(self, key: str) -> list[tuple[Any, int, int]]:
        return self.cand.runs(key)

    def distinct_sources(self, runs: Sequence[tuple[int, int]]) -> int:
        c = self.cand
        parts = [c.seg_u[int(c.segment_of(a)):int(c.segment_of(b - 1)) + 1] for a, b in runs if b > a]
        return len(np.unique(np.concatenate(parts))) if parts else 0

    # ---- validation
    def check(self, edge_checks: Mapping[str, Callable[[Any], str | None]]) -> None:
        from .networkx_edges import check_edge_attributes

        check_edge_attributes(self.graph, edge_checks)
        # also: labels 0..N-1 and every edge goes up (so: no loops, no cycles)
        self._checked = check_candidates(self.graph, edge_checks)
        self._edges_checked = True

    def _blocks_checked(self) -> tuple[np.ndarray, list[dict]]:
        if self._checked is None:
            self._checked = check_candidates(self.graph, edges=False)
        return self._checked

    @property
    def _blocks(self) -> np.ndarray:
        return self._blocks_checked()[0]

    def _covered(self, col: int) -> np.ndarray:
        """Labels inside some block's target (``col`` 2) or source (``col`` 0) range."""
        n = self.graph.number_of_nodes()
        cnt = np.zeros(n + 1, np.int64)
        for row in self._blocks.tolist():
            cnt[row[col]] += 1
            cnt[row[col + 1]] -= 1
        return np.cumsum(cnt)[:n] > 0

    def into(self, nodes: Sequence) -> tuple[list, str]:
        G = self.graph
        hit = self._covered(2)
        bad = [(u, x) for x in nodes for u in G.predecessors(x)] + [("candidates", x) for x in nodes if hit[x]]
        return bad, " ('candidates': from a candidate block)"

    def out_of(self, nodes: Sequence) -> tuple[list, str]:
        G = self.graph
        hit = self._covered(0)
        bad = [(x, v) for x in nodes for v in G.successors(x)] + [(x, "candidates") for x in nodes if hit[x]]
        return bad, " ('candidates': into a candidate block)"

    def dead(self, ins: Sequence, outs: Sequence) -> tuple[list, list]:
        n = self.graph.number_of_nodes()
        is_in = np.zeros(n, bool)
        is_in[list(ins)] = True
        is_out = np.zeros(n, bool)
        is_out[list(outs)] = True
        reached, reaching = compact_reach(self.graph, is_in, is_out, self._blocks)
        return np.flatnonzero(~reached).tolist(), np.flatnonzero(reached & ~reaching).tolist()

    # ---- planning and transforms
    def ranges(self) -> Ranges | None:
        if self._ranges is ...:
            N = self.graph.number_of_nodes()
            self._ranges = _compact_ranges(self.cand, N) if list(self.graph._succ) == list(range(N)) else None
        return self._ranges

    def networkx(self) -> nx.DiGraph:
        return materialize_candidates(self.graph)

    def write(self, describe: DescribeEdges, active: np.ndarray) -> nx.DiGraph:
        """The compact graph again -- its nodes, candidate record and networkx edges -- with every
        *active* edge added as a networkx edge carrying what the wiring learned. The blocks'
        ``attrs`` gain the values of an edge that is not chosen (:data:`NOT_CHOSEN`), so every
        candidate has them: ``compile(H, wiring="static")`` computes what the network computes,
        ``prune(H, attr="active")`` keeps the chosen edges, and ``materialize_candidates(H)`` is what
        ``write_back`` of the materialised network gives for the attributes it writes."""
        G, cand = self.graph, self.cand
        eu = np.fromiter((u for u, _ in G.edges), np.int64, G.number_of_edges())
        ev = np.fromiter((v for _, v in G.edges), np.int64, G.number_of_edges())
        chosen = np.asarray(active, bool).copy()
        chosen[cand.ids(eu, ev)] = True  # the graph's own networkx edges stay, active or not
        ids = np.flatnonzero(chosen)
        desc = dict(describe(ids))
        if "active" in desc:
            act = np.asarray(active, bool)[ids].tolist()
            desc["active"] = [x if x is None else bool(x) and a for x, a in zip(desc["active"], act)]
        keys = set(desc)

        H = nx.DiGraph()
        H.graph.update(copy.deepcopy(dict(G.graph)))
        record = meta(H)
        for blk in record[CANDIDATES]:
            attrs = dict(blk.get("attrs", {}))
            attrs.update({k: v for k, v in NOT_CHOSEN.items() if k in keys})
            blk["attrs"] = attrs
        seg = cand.segment_of(ids)
        us = cand.seg_u[seg].tolist()
        vs = (cand.seg_lo[seg] + ids - cand.seg_start[seg]).tolist()
        over = cand.overrides
        names = list(desc)
        cols = [desc[k] for k in names]
        blocks = cand.seg_block[seg].tolist()
        plain = [all(type(x) in SCALAR_TYPES for x in d.values()) for d in cand.block_attrs]
        nones = any(None in col for col in cols)
        with paused():
            H.add_nodes_from((n, own_attrs(d)) for n, d in G.nodes(data=True))
            succ, pred = H._succ, H._pred  # a new graph: each edge's dict is made here, once
            for e, b, u, v, *vals in zip(ids.tolist(), blocks, us, vs, *cols):
                base = over.get(e)
                if base is None:
                    base = cand.block_attrs[b] if b >= 0 else cand.extra_attrs[-1 - b]
                    d = base.copy() if b >= 0 and plain[b] else own_attrs(base)
                else:
                    d = own_attrs(base)
                if nones:
                    d.update((k, x) for k, x in zip(names, vals) if x is not None)
                else:
                    d.update(zip(names, vals))
                succ[u][v] = d
                pred[v][u] = d
        return H

    def keep_own_edges(self, attr: str, passes: Callable[[Any], bool]) -> OwnEdges | None:
        """Labels are ``0..N-1`` and every edge goes up, so reachability is one pass over the kept
        edges in label order; the result graph is built once, each attribute dict copied once."""
        G = self.graph
        rows, attrs = self._blocks_checked()
        for i, d in enumerate(attrs):
            if attr not in d:
                raise AttributeValueError(
                    f"cannot prune by {attr!r}: the candidate block graph.graphwire.{CANDIDATES}[{i}] (sources "
                    f"{rows[i, :2].tolist()}, targets {rows[i, 2:].tolist()}) has no {attr!r} in its 'attrs'; "
                    f"train the network and call net.write_back() first, or prune materialize_candidates(G)")
            if not isinstance(d[attr], (bool, int, float)) or passes(d[attr]):
                return None  # the block's edges may survive: the full graph
        N = G.number_of_nodes()
        kept: list[tuple[int, int]] = []
        missing: list[tuple[int, int]] = []
        eu: list[int] = []
        ev: list[int] = []
        succ = G._succ
        for u in range(N):  # label order (not insertion order): every edge goes up
            for v, d in succ[u].items():
                eu.append(u)
                ev.append(v)
                if attr not in d:
                    missing.append((u, v))
                elif passes(d[attr]):
                    kept.append((u, v))
        if missing:
            raise AttributeValueError(
                f"cannot prune by {attr!r}: {len(missing)} edge(s) have no {attr!r} attribute, e.g. "
                f"{describe(missing, 4)}; train the network and call net.write_back() first")
        reach = bytearray(N)
        for n in inputs(G):
            reach[n] = 1
        for u, v in kept:  # sorted by u: reach[u] is final when its out-edges come
            if reach[u]:
                reach[v] = 1
        coreach = bytearray(N)
        for n in outputs(G):
            coreach[n] = 1
        for u, v in reversed(kept):
            if coreach[v]:
                coreach[u] = 1
        dead = [n for n in range(N) if not (reach[n] and coreach[n])]
        alive = [(u, v) for u, v in kept if reach[u] and coreach[v]]
        n_cand = int(((rows[:, 1] - rows[:, 0]) * (rows[:, 3] - rows[:, 2])).sum())
        au, av = np.array(eu, np.int64), np.array(ev, np.int64)
        inside = sum(int(((au >= a) & (au < b) & (av >= c) & (av < d)).sum()) for a, b, c, d in rows.tolist())
        with paused():
            H = nx.DiGraph()
            H.graph.update(copy.deepcopy({k: v for k, v in G.graph.items() if k != "graphwire"}))
            H.graph["graphwire"] = copy.deepcopy({k: v for k, v in meta(G).items() if k != CANDIDATES})
            nodes = G._node
            H.add_nodes_from((n, own_attrs(nodes[n])) for n in G if reach[n] and coreach[n])
            hs, hp = H._succ, H._pred  # a new graph: each kept edge's dict copied once, inserted in order
            for u, v in alive:
                d = own_attrs(succ[u][v])
                hs[u][v] = d
                hp[v][u] = d
        if not inputs(H) or not outputs(H):
            raise DeadNodeError(f"pruning by {attr!r} leaves no path from an input to an output "
                                f"(kept {len(kept)} of {n_cand + len(eu) - inside} edges)", nodes=dead)
        return OwnEdges(graph=H, removed=dead, before=n_cand + len(eu) - inside, kept=len(kept),
                        digest=_digest(G, au, av))


def _digest(G: nx.DiGraph, u: np.ndarray, v: np.ndarray) -> str:
    """A short hash of a compact graph's edge set: its blocks' ranges and its networkx edges (the
    lineage entry; hashing every candidate would cost seconds)."""
    blocks = sorted([int(x) for x in list(b["sources"]) + list(b["targets"])] for b in meta(G)[CANDIDATES])
    order = np.lexsort((v, u))
    h = hashlib.sha256(json.dumps(blocks).encode())
    h.update(u[order].tobytes())
    h.update(v[order].tobytes())
    return h.hexdigest()[:16]


def _compact_ranges(cand: CandidateEdges, N: int) -> Ranges | None:
    """:class:`~graphwire.edgeset.base.Ranges` of a compact graph's edges from its segments; None
    when some node's predecessors or successors are not one contiguous range."""
    su, sl, sh = cand.seg_u, cand.seg_lo, cand.seg_hi
    outdeg = np.bincount(su, weights=cand.seg_len, minlength=N).astype(np.int64)
    slo = np.zeros(N, np.int64)
    first = np.ones(len(su), bool)
    first[1:] = su[1:] != su[:-1]
    slo[su[first]] = sl[first]
    last = np.ones(len(su), bool)
    last[:-1] = su[1:] != su[:-1]
    span = np.zeros(N, np.int64)
    span[su[last]] = sh[last]
    span[su[first]] -= sl[first]
    if (span != outdeg).any():
        return None
    cnt = np.zeros(N + 1, np.int64)
    np.add.at(cnt, sl, 1)
    np.add.at(cnt, sh, -1)
    indeg = np.cumsum(cnt)[:N]
    lo = np.full(N, N, np.int64)
    hi = np.zeros(N, np.int64)
    for u, a, b in zip(su.tolist(), sl.tolist(), sh.tolist()):  # one numpy call per segment
        np.minimum(lo[a:b], u, out=lo[a:b])
        np.maximum(hi[a:b], u + 1, out=hi[a:b])
    lo[indeg == 0] = 0
    if ((hi - lo) != indeg).any():
        return None
    return lo, hi, slo, outdeg
