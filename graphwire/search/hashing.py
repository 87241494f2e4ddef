"""Canonical graph hashes for de-duplication (Weisfeiler-Lehman with node attributes).

networkx 3.5 changed the WL hash of directed graphs, so a hash is only comparable to one made
with the same :data:`HASH_VERSION`; every stored trial records it.
"""

from __future__ import annotations

import warnings

import networkx as nx

from ..graph import node_attr

ITERATIONS = 3
_NX = tuple(int(p) for p in nx.__version__.split(".")[:2] if p.isdigit())
#: Recorded with every hash; hashes with different versions are not comparable.
HASH_VERSION = f"wl{ITERATIONS}-nx{'3.5+' if _NX >= (3, 5) else 'pre3.5'}-v1"
_KEYS = ("role", "op", "agg", "channels", "stride", "kernel")


def node_label(G: nx.DiGraph, n) -> str:
    """What a node contributes to the hash: its role, op, aggregation, width and stride."""
    return "|".join(str(node_attr(G, n, k, "")) for k in _KEYS)


def graph_hash(G: nx.DiGraph) -> str:
    """WL hash of ``G`` over its node attributes (labels and edge order do not matter)."""
    H = nx.DiGraph()
    H.add_nodes_from((n, {"_l": node_label(G, n)}) for n in G.nodes)
    H.add_edges_from(G.edges)
    with warnings.catch_warnings():  # the 3.5 change is recorded in HASH_VERSION instead
        warnings.simplefilter("ignore", UserWarning)
        return nx.weisfeiler_lehman_graph_hash(H, node_attr="_l", iterations=ITERATIONS, digest_size=16)
