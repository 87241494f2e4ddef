"""The one place where graphwire.search turns graphs into JSON text and back.

Every other module calls these two functions, so a change of graphwire's JSON readers is a
change here only.
"""

from __future__ import annotations

import networkx as nx


def graph_to_text(G: nx.DiGraph) -> str:
    """Node-link JSON text of ``G`` (validated, byte-stable)."""
    from ..io import to_json

    return to_json(G)


def graph_from_text(text: str) -> nx.DiGraph:
    """The graph stored as node-link JSON ``text`` (validated)."""
    from ..io import loads

    return loads(text)
