"""Reading, writing and drawing graphs: JSON (node-link), DOT, GraphML, SVG/PNG/PDF via Graphviz, an
interactive HTML page with a training-snapshot slider, and ONNX export of compiled networks.

>>> import graphwire as gw
>>> G = gw.generators.chain(2)
>>> gw.io.loads(gw.io.to_json(G)).number_of_nodes()
4

Every writer writes atomically (a temporary file renamed over the target).
"""

from ._atomic import atomic_write
from .dot import from_nx_dot, to_dot
from .graphml import to_graphml
from .history import History
from .html import to_html
from .json_format import from_node_link, to_json
from .readers import load, loads
from .onnx import to_onnx
from .render import render

__all__ = ["load", "loads", "to_json", "to_dot", "from_node_link", "from_nx_dot", "to_graphml", "render", "to_html", "to_onnx", "History", "atomic_write"]
