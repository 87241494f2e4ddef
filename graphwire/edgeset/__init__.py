"""A graph's edges behind one interface (:class:`EdgeSet`), whatever form they take.

:func:`edge_set` is the one place in graphwire that tells a compact graph (candidate blocks in
``G.graph["graphwire"]["candidates"]``, see :mod:`graphwire.edgeset.blocks`) from an ordinary one;
everything else -- validation, planning, wirings, ``write_back``, pruning -- reads the edges through
the :class:`EdgeSet` it returns.

>>> import graphwire as gw
>>> es = edge_set(gw.generators.chain(2))
>>> list(es), es.ids()[(1, 2)]
([(0, 1), (1, 2), (2, 3)], 1)
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from .base import EdgeSet
from .blocks import CANDIDATES, BlockEdges
from .networkx_edges import NxEdges

__all__ = ["EdgeSet", "NxEdges", "BlockEdges", "edge_set", "is_compact"]


def is_compact(G: Any) -> bool:
    """Whether ``G`` holds candidate blocks (``G.graph["graphwire"]["candidates"]``)."""
    record = getattr(G, "graph", {}).get("graphwire")
    return isinstance(record, dict) and CANDIDATES in record


def edge_set(G: nx.DiGraph) -> EdgeSet:
    """The edges of ``G``: :class:`BlockEdges` for a compact graph, :class:`NxEdges` otherwise."""
    return BlockEdges(G) if is_compact(G) else NxEdges(G)
