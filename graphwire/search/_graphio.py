"""The one place where graphwire.search turns graphs into JSON text and back, and names (a
user's ``module:function``) into objects.

Every other module calls these functions, so a change of graphwire's JSON readers is a change
here only.
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


def import_target(target: str, what: str):
    """The object ``module:attr`` names (a user's space or objective); a ParameterError naming
    ``what`` and the target when it cannot be imported."""
    import importlib

    from ..errors import ParameterError

    mod, _, attr = str(target).partition(":")
    try:
        obj = importlib.import_module(mod)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, ValueError) as e:
        raise ParameterError(f"{what} {target!r}: cannot import it ({e})") from None
    return obj
