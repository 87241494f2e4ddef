"""Reading, writing and drawing graphs: JSON (node-link), DOT, and SVG/PNG/PDF via Graphviz.

>>> import graphwire as gw
>>> G = gw.generators.chain(2)
>>> gw.io.from_json(gw.io.to_json(G)).number_of_nodes()
4

Every writer writes atomically (a temporary file renamed over the target).
"""

from .dot import from_dot, to_dot
from .json_format import from_json, to_json
from .render import render

__all__ = ["to_json", "from_json", "to_dot", "from_dot", "render"]
