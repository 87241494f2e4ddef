"""The edge-set protocol: one interface over the two forms a graph's edges take.

A graph's edges are networkx edges (:class:`~graphwire.edgeset.networkx_edges.NxEdges`), or, for a
*compact* graph, networkx edges plus candidate blocks of node ranges
(:class:`~graphwire.edgeset.blocks.BlockEdges`, millions of DNW candidates without a Python
object each). Validation, the planner, the wirings, ``write_back`` and pruning are written once
against :class:`EdgeSet`; only :func:`graphwire.edgeset.edge_set` looks at which form a graph has.

An edge set is a read-only sequence of ``(u, v)`` label pairs in *edge order* -- the order of a
compiled network's edge coefficients -- with the edges' attribute dicts, an index from pair to
edge id, array views, and the graph-level operations whose cost depends on the form.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterator, Mapping, Sequence

import networkx as nx
import numpy as np

__all__ = ["EdgeSet", "Ranges", "DescribeEdges", "OwnEdges"]

#: ``(lo, hi, slo, outdeg)`` int64 arrays over labels 0..N-1 of an *interval* graph: node ``v`` reads
#: the labels ``lo[v]..hi[v]-1`` and feeds ``slo[v]..slo[v]+outdeg[v]-1`` (both contiguous).
Ranges = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
#: ``describe(ids)``: what a wiring learned about the edges ``ids`` (all edges when None), as
#: ``{attribute: [value per edge]}`` in the order of ``ids`` (None leaves an edge alone).
DescribeEdges = Callable[[Any], Mapping[str, Sequence[Any]]]


class EdgeSet(Sequence, metaclass=abc.ABCMeta):
    """A graph's edges in edge order (see the module doc). ``graph`` is the graph they belong to."""

    graph: nx.DiGraph
    #: what ``compile`` reports as ``plan.planner`` when it plans these edges by label ranges
    interval_planner: str = "interval"

    # ---- the sequence of (u, v) pairs
    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def __getitem__(self, i): ...

    @abc.abstractmethod
    def __iter__(self) -> Iterator[tuple]: ...

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EdgeSet):
            return len(self) == len(other) and all(np.array_equal(a, b) for a, b in zip(self.arrays(), other.arrays()))
        if isinstance(other, (list, tuple)):
            return len(other) == len(self) and list(self) == [tuple(e) for e in other]
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    @abc.abstractmethod
    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(u, v)`` of every edge in edge order, as arrays (object arrays for non-integer labels)."""

    @abc.abstractmethod
    def data(self) -> Sequence[dict]:
        """Each edge's attribute dict, in edge order (read them; do not mutate them)."""

    @abc.abstractmethod
    def ids(self) -> Mapping[tuple, int]:
        """``{(u, v): edge id}``."""

    def endpoints(self, position: Mapping[Hashable, int]) -> tuple[np.ndarray, np.ndarray]:
        """Every edge's source and target as positions (``position[label]``), two int64 arrays."""
        u, v = self.arrays()
        return (np.fromiter((position[x] for x in u.tolist()), np.int64, len(u)),
                np.fromiter((position[x] for x in v.tolist()), np.int64, len(v)))

    def runs(self, key: str) -> list[tuple[Any, int, int]]:
        """``(value, start, stop)``: maximal runs of edge ids whose attribute ``key`` is equal
        (``None`` where absent), in edge order."""
        out: list[tuple[Any, int, int]] = []
        for e, d in enumerate(self.data()):
            value = d.get(key)
            if out and out[-1][0] == value and type(out[-1][0]) is type(value):
                out[-1] = (value, out[-1][1], e + 1)
            else:
                out.append((value, e, e + 1))
        return out

    def distinct_sources(self, runs: Sequence[tuple[int, int]]) -> int:
        """How many distinct source nodes the edges of the id ranges ``runs`` have."""
        u, _ = self.arrays()
        return len({x for a, b in runs for x in u[a:b].tolist()})

    # ---- validation (graphwire.validate calls these in this order)
    @abc.abstractmethod
    def check(self, edge_checks: Mapping[str, Callable[[Any], str | None]]) -> None:
        """Raise a :class:`~graphwire.errors.GraphError` for an edge attribute that fails its
        check, a self loop, a cycle or (compact graphs) a malformed candidate block."""

    @abc.abstractmethod
    def into(self, nodes: Sequence) -> tuple[list, str]:
        """Edges entering ``nodes`` as ``(u, v)`` pairs, and a note that explains unusual entries."""

    @abc.abstractmethod
    def out_of(self, nodes: Sequence) -> tuple[list, str]:
        """Edges leaving ``nodes``, and a note (see :meth:`into`)."""

    @abc.abstractmethod
    def dead(self, ins: Sequence, outs: Sequence) -> tuple[list, list]:
        """``(unreached, stuck)``: nodes no input reaches, and reached nodes that reach no output,
        each sorted by label."""

    # ---- planning and transforms
    @abc.abstractmethod
    def ranges(self) -> Ranges | None:
        """The per-node label ranges of an *interval* graph (labels 0..N-1, every node reading one
        contiguous range of lower labels, edge order u-major), or None for any other graph."""

    @abc.abstractmethod
    def networkx(self) -> nx.DiGraph:
        """The graph with every edge a networkx edge, in edge order (compact graphs: materialised)."""

    @abc.abstractmethod
    def write(self, describe: DescribeEdges, active: np.ndarray) -> nx.DiGraph:
        """A copy of the graph carrying what a wiring learned: ``describe(ids)`` gives per-edge
        values, ``active`` (bool per edge) which edges are used. Node and graph entries are the
        caller's."""

    def keep_own_edges(self, attr: str, passes: Callable[[Any], bool]) -> OwnEdges | None:
        """Prune to the edges whose ``attr`` passes when only a compact graph's networkx edges can
        (every candidate block fails the test), without materialising the candidates; None when
        the full graph must be pruned (see :func:`graphwire.prune`)."""
        return None


@dataclass
class OwnEdges:
    """What :meth:`EdgeSet.keep_own_edges` kept: the pruned ``graph`` (graph record copied, no
    ``pruned`` entry yet), the ``removed`` nodes, the edge counts ``before`` and ``kept``, and the
    parent's edge-set ``digest`` (its lineage entry)."""
    graph: nx.DiGraph
    removed: list
    before: int
    kept: int
    digest: str
