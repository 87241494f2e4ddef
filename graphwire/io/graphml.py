"""GraphML: the wiring for graph tools (Gephi, Cytoscape, yEd) and ``networkx.read_graphml``.

GraphML attributes are typed (``boolean``, ``int``, ``double``, ``string``): graphwire's numbers and
flags are written as such under their own names (``weight`` a double, ``active`` a boolean,
``channels`` an int...). Values GraphML has no type for (lists, dicts: ``op_weights``,
``channel_weights``, the graph's ``graphwire`` record) are written as JSON strings, and the graph
attribute ``gw_json`` lists which ones, so :func:`graphwire.io.load` restores them. Every node also
gets a ``label`` (its label as text), the attribute Gephi and Cytoscape show. Node ids are the
labels as text (GraphML ids are text); ``gw_node_ids`` records which were integers (``int``, ``str``
or a JSON list of the integer ones).
"""

from __future__ import annotations

import json
import numbers
import os
from typing import Any

import networkx as nx

from ..errors import AttributeValueError, FormatError
from ..graph import validate
from ._atomic import atomic_write
from .json_format import _no_constant, _NonFinite, graph_record, jsonable

__all__ = ["to_graphml", "parse_graphml"]

_JSON_KEY = "gw_json"
_IDS_KEY = "gw_node_ids"


def _typed(value: Any, where: str) -> tuple[Any, bool]:
    """``(value for GraphML, stored as JSON?)``."""
    plain = jsonable(value, where)
    if isinstance(plain, (bool, str)) or (isinstance(plain, numbers.Real) and not isinstance(plain, bool)):
        return plain, False
    return json.dumps(plain, sort_keys=True, ensure_ascii=False, allow_nan=False), True


def _ids(G: nx.DiGraph) -> str:
    """``int``, ``str`` or ``mixed`` (the graph's labels are ints and strings; see :func:`graphwire.validate`)."""
    ints = sum(isinstance(n, int) and not isinstance(n, bool) for n in G)
    if ints == G.number_of_nodes():
        return "int"
    if ints == 0:
        return "str"
    texts = {n for n in G if isinstance(n, str)}
    clash = sorted(n for n in G if isinstance(n, int) and str(n) in texts)
    if clash:
        raise AttributeValueError(f"node labels {clash[0]!r} and {str(clash[0])!r} are both in the graph: GraphML "
                                  "node ids are text, so they would be one node; relabel one of them")
    return "mixed"


def to_graphml(G: nx.DiGraph, path: str | os.PathLike | None = None) -> str:
    """Return ``G`` as GraphML text with typed attributes (and write it atomically to ``path`` when given).

    >>> import networkx as nx, graphwire as gw
    >>> G = gw.generators.chain(1)
    >>> G.edges[0, 1].update(weight=0.75, active=True)
    >>> H = nx.parse_graphml(gw.io.to_graphml(G), node_type=int)
    >>> H.edges[0, 1]["weight"], H.edges[0, 1]["active"], H.nodes[0]["role"]
    (0.75, True, 'input')
    """
    from networkx.readwrite.graphml import GraphMLWriter

    validate(G)
    ids = _ids(G)
    H = nx.DiGraph()
    as_json: set[str] = set()
    for k, v in graph_record(G).items():
        value, js = _typed(v, f"graph attribute {k!r}")
        H.graph[k] = value
        if js:
            as_json.add(f"graph:{k}")

    def node_id(n):
        return str(n)

    for n, d in G.nodes(data=True):
        attrs = {}
        for k, v in d.items():
            if k == "label":
                raise AttributeValueError(f"node {n!r}: attribute 'label' clashes with the GraphML label; rename it")
            value, js = _typed(v, f"node {n!r}: attribute {k!r}")
            attrs[k] = value
            if js:
                as_json.add(f"node:{k}")
        H.add_node(node_id(n), label=str(n), **attrs)
    for u, v, d in G.edges(data=True):
        attrs = {}
        for k, x in d.items():
            value, js = _typed(x, f"edge ({u!r}, {v!r}): attribute {k!r}")
            attrs[k] = value
            if js:
                as_json.add(f"edge:{k}")
        H.add_edge(node_id(u), node_id(v), **attrs)
    H.graph[_JSON_KEY] = ",".join(sorted(as_json))
    H.graph[_IDS_KEY] = ids if ids != "mixed" else json.dumps(sorted(n for n in G if isinstance(n, int)))
    writer = GraphMLWriter(encoding="utf-8", prettyprint=True, infer_numeric_types=True)
    writer.add_graph_element(H)
    text = str(writer)
    if not text.startswith("<?xml"):
        text = '<?xml version="1.0" encoding="utf-8"?>\n' + text
    if not text.endswith("\n"):
        text += "\n"
    if path is not None:
        atomic_write(path, text)
    return text


def _decode(text: str, where: str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (json.JSONDecodeError, _NonFinite, RecursionError):
        raise FormatError(f"{where} is listed in '{_JSON_KEY}' but does not hold JSON: {text[:60]!r}") from None


def parse_graphml(text: str, where: str) -> nx.DiGraph:
    """A validated graph from GraphML text (what :func:`to_graphml` writes, or any directed GraphML:
    then its attributes are taken as typed, node ids as text)."""
    from xml.etree.ElementTree import ParseError

    try:
        M = nx.parse_graphml(text)
    except (ParseError, nx.NetworkXError, ValueError, KeyError, TypeError) as e:
        raise FormatError(f"{where}: malformed GraphML ({type(e).__name__}: {e})") from None
    if not M.is_directed():
        raise FormatError(f"{where}: the GraphML graph is undirected; graphwire needs edgedefault=\"directed\"")
    if M.is_multigraph():
        raise FormatError(f"{where}: the GraphML graph has parallel edges; graphwire graphs have at most one per pair")
    for k in ("node_default", "edge_default"):  # networkx' reader adds these
        if M.graph.get(k) == {}:
            M.graph.pop(k)
    listed = M.graph.pop(_JSON_KEY, "")
    ids = M.graph.pop(_IDS_KEY, "str")
    as_json = {tuple(x.split(":", 1)) for x in str(listed).split(",") if ":" in x}

    int_ids: set[str] = set()
    if ids not in ("int", "str"):  # mixed: the JSON list of the integer labels
        listed_ints = _decode(str(ids), f"{where}: graph attribute '{_IDS_KEY}'")
        if not isinstance(listed_ints, list) or not all(isinstance(x, int) for x in listed_ints):
            raise FormatError(f"{where}: graph attribute '{_IDS_KEY}' must be int, str or a JSON list of integers")
        int_ids = {str(x) for x in listed_ints}

    def label(n: str):
        if ids == "int" or n in int_ids:
            try:
                return int(n)
            except ValueError:
                raise FormatError(f"{where}: node id {n!r} is not an integer ('{_IDS_KEY}' says it is)") from None
        return n

    G = nx.DiGraph()
    for k, v in M.graph.items():
        G.graph[k] = _decode(v, f"{where}: graph attribute {k!r}") if ("graph", k) in as_json else v
    for n, d in M.nodes(data=True):
        lab = label(n)
        attrs = {k: (_decode(v, f"{where}: node {n!r}: attribute {k!r}") if ("node", k) in as_json else v)
                 for k, v in d.items() if not (k == "label" and v == str(lab))}
        G.add_node(lab, **attrs)
    for u, v, d in M.edges(data=True):
        attrs = {k: (_decode(x, f"{where}: edge ({u!r}, {v!r}): attribute {k!r}") if ("edge", k) in as_json else x)
                 for k, x in d.items() if k != "id"}
        G.add_edge(label(u), label(v), **attrs)
    if not any("role" in d for _, d in G.nodes(data=True)):
        from ..graph import assign_roles

        G = assign_roles(G)
    return validate(G)
