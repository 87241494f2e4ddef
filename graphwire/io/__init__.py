"""Reading, writing and drawing graphs: JSON (node-link), DOT, SVG/PNG/PDF via Graphviz, an
interactive HTML page with a training-snapshot slider, and ONNX export of compiled networks.

>>> import graphwire as gw
>>> G = gw.generators.chain(2)
>>> gw.io.from_json(gw.io.to_json(G)).number_of_nodes()
4

Every writer writes atomically (a temporary file renamed over the target).
"""

from ._atomic import atomic_write
from .dot import from_dot, to_dot
from .html import to_html
from .json_format import from_json, to_json
from .onnx import to_onnx
from .render import render

__all__ = ["to_json", "from_json", "to_dot", "from_dot", "render", "to_html", "to_onnx", "atomic_write"]
