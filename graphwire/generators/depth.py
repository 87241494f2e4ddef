"""The residual chain of variational depth search (Antorán, Allingham,
Hernández-Lobato, "Variational Depth Search in ResNets") as a graph."""

from __future__ import annotations

import networkx as nx

from ._common import check_int, record

__all__ = ["depth_chain"]


def depth_chain(max_depth: int, *, width: int = 20, input_op: str = "dense", block_op: str = "dense_relu_bn",
                tap_op: str = "identity") -> nx.DiGraph:
    """The residual chain of depth search as a graph (vector data: compile with ``dims=0``).

    Labels (a topological order): ``0`` input block (``input_op``, ``width`` channels); for
    ``d = 1..D`` block ``2d - 1`` (``block_op``, the residual function ``f_d``) and state ``2d``
    (``identity``, ``agg="sum"``: ``a_d = a_{d-1} + f_d(a_{d-1})``); taps ``2D + 1 + d``
    (outputs, ``a_d`` unchanged). Edges of block ``d`` carry ``depth=d``; tap edges ``tap=True,
    depth=d``.

    >>> G = depth_chain(2, width=4)
    >>> sorted(G.edges(data="depth"))
    [(0, 1, 1), (0, 2, 1), (0, 5, 0), (1, 2, 1), (2, 3, 2), (2, 4, 2), (2, 6, 1), (3, 4, 2), (4, 7, 2)]
    """
    D = check_int("max_depth", max_depth, 0)
    width = check_int("width", width, 1)
    G = nx.DiGraph()
    G.add_node(0, role="input", op=input_op, channels=width)
    for d in range(1, D + 1):
        G.add_node(2 * d - 1, op=block_op, channels=width)
        G.add_node(2 * d, op="identity", channels=width, agg="sum")
    for d in range(D + 1):
        G.add_node(2 * D + 1 + d, role="output", op=tap_op)
    for d in range(1, D + 1):
        prev = 2 * (d - 1)
        G.add_edge(prev, 2 * d - 1, depth=d)
        G.add_edge(prev, 2 * d, depth=d)
        G.add_edge(2 * d - 1, 2 * d, depth=d)
    for d in range(D + 1):
        G.add_edge(2 * d, 2 * D + 1 + d, depth=d, tap=True)
    H = nx.DiGraph()  # nodes and edges in label order
    H.add_nodes_from(sorted(G.nodes(data=True)))
    H.add_edges_from(sorted(G.edges(data=True), key=lambda e: (e[0], e[1])))
    return record(H, "depth_chain", {"max_depth": D, "width": width, "input_op": input_op,
                                     "block_op": block_op, "tap_op": tap_op}, None)
