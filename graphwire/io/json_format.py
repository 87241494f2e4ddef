"""JSON: networkx node-link data (key ``edges``) plus the graph contract's attributes.

The text is deterministic: nodes and edges in ``G``'s order, object keys sorted, so one graph
gives byte-identical files in every process. Loading never executes anything (plain
``json.loads``), checks the document field by field (:class:`~graphwire.errors.FormatError`
naming the field) and then validates the graph against the contract.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx

from .._gc import paused
from ..errors import AttributeValueError, FormatError, ParameterError
from ..contract import SCHEMA_VERSION, check_version
from ..graph import validate
from ._atomic import atomic_write

__all__ = ["to_json", "from_node_link", "parse_graph", "EDGES_KEYS"]

#: The two names node-link data has used for its list of edges: "edges" (networkx >= 3.4's, and
#: graphwire's default) and "links" (older networkx).
EDGES_KEYS = ("edges", "links")




# ---------------------------------------------------------------- values -> JSON types
_PLAIN = (bool, str, int, type(None))


def jsonable(value: Any, where: Any) -> Any:
    """``value`` as plain JSON types (tuples -> lists, numpy scalars/arrays -> Python values).

    Raises :class:`AttributeValueError` naming ``where`` for values JSON cannot hold exactly:
    NaN/infinity, non-string mapping keys, sets and arbitrary objects. ``where`` is a string or a
    zero-argument callable returning one (built only for an error: big graphs have millions of values).
    """
    if type(value) in _PLAIN:
        return value
    if type(value) is float:
        if value != value or value in (math.inf, -math.inf):
            raise AttributeValueError(f"{_where(where)} is {value!r}: JSON has no NaN or infinity")
        return value
    where = _where(where)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        x = float(value)
        if not math.isfinite(x):
            raise AttributeValueError(f"{where} is {value!r}: JSON has no NaN or infinity")
        return x
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise AttributeValueError(
                    f"{where} has the key {k!r} ({type(k).__name__}): JSON object keys must be strings")
            out[k] = jsonable(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays and scalars, tensors
        try:
            plain = value.tolist()
        except Exception:
            plain = value
        if plain is not value:
            return jsonable(plain, where)
    raise AttributeValueError(
        f"{where} has a value of type {type(value).__name__} ({value!r:.60}) that JSON cannot store; "
        "use numbers, strings, bools, lists or dicts")


def _where(where: Any) -> str:
    return where() if callable(where) else where


def graph_record(G: nx.DiGraph) -> dict:
    """``G.graph`` as JSON types, with ``graphwire.version`` filled in (``G`` is not modified)."""
    data = jsonable(dict(G.graph), "graph attributes")
    record = data.get("graphwire")
    record = dict(record) if isinstance(record, dict) else {}
    record.setdefault("version", SCHEMA_VERSION)
    data["graphwire"] = record
    return data


def node_link(G: nx.DiGraph, edges_key: str = "edges") -> dict:
    """Node-link data with an explicit ``edges`` (or ``links``) key, attribute values as JSON types."""
    nodes = []
    for n, attrs in G.nodes(data=True):
        if "id" in attrs:
            raise AttributeValueError(
                f"node {n!r}: attribute 'id' clashes with the node-link 'id' field; rename it")
        entry = {k: jsonable(v, lambda: f"node {n!r}: attribute {k!r}") for k, v in attrs.items()}
        entry["id"] = jsonable(n, f"node label {n!r}")
        nodes.append(entry)
    edges = []
    for u, v, attrs in G.edges(data=True):
        for reserved in ("source", "target"):
            if reserved in attrs:
                raise AttributeValueError(
                    f"edge ({u!r}, {v!r}): attribute {reserved!r} clashes with the node-link field; rename it")
        entry = {k: jsonable(x, lambda: f"edge ({u!r}, {v!r}): attribute {k!r}") for k, x in attrs.items()}
        entry["source"], entry["target"] = jsonable(u, "edge source"), jsonable(v, "edge target")
        edges.append(entry)
    return {"directed": True, "multigraph": False, "graph": graph_record(G), "nodes": nodes, edges_key: edges}


def _dumps(data: dict, indent: int | None) -> str:
    """JSON text with sorted keys. With ``indent``, the top level is indented and each node and
    edge is one line: readable, diff-friendly, and written by the C encoder (``json.dumps`` with
    ``indent`` falls back to a pure-Python encoder, 10x slower on big graphs)."""
    opts: dict[str, Any] = dict(sort_keys=True, ensure_ascii=False, allow_nan=False)
    if indent is None:
        return json.dumps(data, **opts)
    pad = " " * indent
    lines = ["{"]
    keys = sorted(data)
    for i, key in enumerate(keys):
        comma = "," if i < len(keys) - 1 else ""
        value = data[key]
        if key in ("nodes", "edges", "links") and isinstance(value, list) and value:
            rows = [pad * 2 + json.dumps(x, **opts) for x in value]
            lines.append(f"{pad}{json.dumps(key)}: [\n" + ",\n".join(rows) + f"\n{pad}]{comma}")
        else:
            body = json.dumps(value, indent=indent, **opts).replace("\n", "\n" + pad)
            lines.append(f"{pad}{json.dumps(key)}: {body}{comma}")
    lines.append("}")
    return "\n".join(lines)


def to_json(G: nx.DiGraph, path: str | os.PathLike | None = None, *, indent: int | None = 2,
            edges_key: str = "edges") -> str:
    """Return ``G`` as node-link JSON text (and write it atomically to ``path`` when given).

    ``edges_key`` names the list of edges: ``"edges"`` (what ``nx.node_link_graph`` reads by default
    from networkx 3.6 on; ``nx.node_link_graph(data, edges="edges")`` on 3.5) or ``"links"`` (the
    older name, networkx 3.5's default); graphwire reads both.

    ``G`` is validated first. Keys are sorted and nodes/edges keep ``G``'s order, so the same
    graph always gives byte-identical text; tuples become lists. The graph record
    ``graph["graphwire"]["version"]`` is always written (``G`` itself is left untouched).

    >>> import graphwire as gw
    >>> text = gw.io.to_json(gw.generators.chain(1))
    >>> gw.io.loads(text).number_of_edges()
    2
    """
    validate(G)
    if edges_key not in EDGES_KEYS:
        raise ParameterError(f"edges_key must be one of {list(EDGES_KEYS)}, got {edges_key!r}")
    text = _dumps(node_link(G, edges_key), indent) + "\n"
    if path is not None:
        atomic_write(path, text)
    return text


# ---------------------------------------------------------------- reading
def read_path(path: Any, kind: str) -> tuple[str, str]:
    """Return ``(text, where)`` for a file path; ``where`` (the path) prefixes error messages."""
    if not isinstance(path, (str, os.PathLike)):
        raise FormatError(f"expected a file path, got {type(path).__name__} "
                          f"(read {kind} text with graphwire.io.loads)")
    p = Path(os.fspath(path))
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise FormatError(f"{p}: no such file") from None
    except OSError as e:
        raise FormatError(f"{str(p)[:200]}: cannot read it ({e.strerror or e})") from None
    try:
        return raw.decode("utf-8-sig"), str(p)
    except UnicodeDecodeError as e:
        raise FormatError(f"{p}: not UTF-8 text (byte {e.start} is {raw[e.start:e.start + 1]!r}); "
                          f"save the file as UTF-8") from None


def text_of(source: Any, kind: str) -> tuple[str, str]:
    """Return ``(text, where)`` for in-memory text (str or UTF-8 bytes)."""
    if isinstance(source, (bytes, bytearray)):
        try:
            return bytes(source).decode("utf-8-sig"), f"{kind} text"
        except UnicodeDecodeError as e:
            raise FormatError(f"{kind} text is not UTF-8 (byte {e.start})") from None
    if not isinstance(source, str):
        raise FormatError(f"expected {kind} text (str or bytes), got {type(source).__name__} "
                          f"(read a file with graphwire.io.load)")
    if not source.strip():
        raise FormatError(f"empty {kind} text")
    return source, f"{kind} text"


def _label_ok(x: Any) -> bool:
    return isinstance(x, str) or (isinstance(x, int) and not isinstance(x, bool))


def _version_check(graph: dict, where: str) -> None:
    record = graph.get("graphwire")
    if record is None:
        return
    if not isinstance(record, dict):
        raise FormatError(f"{where}: 'graph.graphwire' must be an object, got {type(record).__name__}")
    try:
        check_version(record)
    except AttributeValueError:
        raise FormatError(
            f"{where}: unsupported graphwire schema version {record.get('version')!r} in 'graph.graphwire.version' "
            f"(this graphwire reads versions 1..{SCHEMA_VERSION})") from None


def from_node_link(data: Any, where: str = "JSON") -> nx.DiGraph:
    """Build (and validate) a DiGraph from parsed node-link data; FormatError names bad fields."""
    if not isinstance(data, dict):
        raise FormatError(f"{where}: the top level must be a JSON object (node-link data), got {type(data).__name__}")
    directed = data.get("directed", True)
    if directed is not True:
        if directed is False:
            raise FormatError(f"{where}: 'directed' is false; graphwire graphs are directed (DAGs)")
        raise FormatError(f"{where}: 'directed' must be true, got {directed!r}")
    multigraph = data.get("multigraph", False)
    if multigraph is not False:
        if multigraph is True:
            raise FormatError(f"{where}: 'multigraph' is true; graphwire graphs have at most one edge per node pair")
        raise FormatError(f"{where}: 'multigraph' must be false, got {multigraph!r}")

    graph = data.get("graph", {})
    if isinstance(graph, list):  # networkx 1.x wrote a list of [key, value] pairs
        try:
            graph = dict(graph)
        except (TypeError, ValueError):
            raise FormatError(f"{where}: 'graph' must be an object of graph attributes") from None
    if not isinstance(graph, dict):
        raise FormatError(f"{where}: 'graph' must be an object of graph attributes, got {type(graph).__name__}")
    _version_check(graph, where)

    if "nodes" not in data:
        raise FormatError(f"{where}: missing 'nodes' (a list of node objects with an 'id')")
    nodes = data["nodes"]
    if not isinstance(nodes, list):
        raise FormatError(f"{where}: 'nodes' must be a list, got {type(nodes).__name__}")
    if "edges" in data and "links" in data:
        raise FormatError(f"{where}: has both 'edges' and the legacy 'links'; keep one")
    key = "edges" if "edges" in data else "links" if "links" in data else None
    if key is None:
        raise FormatError(f"{where}: missing 'edges' (or the legacy 'links'), a list of edge objects")
    edges = data[key]
    if not isinstance(edges, list):
        raise FormatError(f"{where}: '{key}' must be a list, got {type(edges).__name__}")

    G = nx.DiGraph()
    G.graph.update(graph)
    first_seen: dict = {}
    for i, entry in enumerate(nodes):
        if not isinstance(entry, dict):
            raise FormatError(f"{where}: nodes[{i}] must be an object, got {type(entry).__name__}")
        if "id" not in entry:
            raise FormatError(f"{where}: nodes[{i}] has no 'id'")
        n = entry["id"]
        if not _label_ok(n):
            raise FormatError(f"{where}: nodes[{i}]: 'id' must be an integer or a string, got {n!r}")
        if n in first_seen:
            raise FormatError(f"{where}: duplicate node id {n!r} (nodes[{first_seen[n]}] and nodes[{i}])")
        first_seen[n] = i
        G.add_node(n, **{k: v for k, v in entry.items() if k != "id"})

    seen_edges: dict = {}
    for i, entry in enumerate(edges):
        if not isinstance(entry, dict):
            raise FormatError(f"{where}: {key}[{i}] must be an object, got {type(entry).__name__}")
        for end in ("source", "target"):
            if end not in entry:
                raise FormatError(f"{where}: {key}[{i}] has no '{end}'")
            x = entry[end]
            if not _label_ok(x) or x not in first_seen:
                raise FormatError(f"{where}: {key}[{i}]: '{end}' {x!r} is not a node id listed in 'nodes'")
        u, v = entry["source"], entry["target"]
        if (u, v) in seen_edges:
            raise FormatError(
                f"{where}: duplicate edge ({u!r}, {v!r}) ({key}[{seen_edges[(u, v)]}] and {key}[{i}])")
        seen_edges[(u, v)] = i
        G.add_edge(u, v, **{k: x for k, x in entry.items() if k not in ("source", "target")})
    return validate(G)


def parse_json(text: str | bytes, where: str) -> Any:
    """``json.loads(text)``, with a :class:`~graphwire.errors.FormatError` naming ``where`` (and the
    line and column) when the text is not JSON."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise FormatError(f"{where}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except _NonFinite as e:
        raise FormatError(f"{where}: {e.args[0]} at {_position(text, e.args[0])} is not a JSON number (JSON has no "
                          "NaN or infinity, and graphwire writes none); write a finite number or null") from None
    except RecursionError:
        raise FormatError(f"{where}: JSON nested too deeply") from None


class _NonFinite(Exception):
    pass


def _no_constant(name: str):
    raise _NonFinite(name)


def _position(text: str | bytes, token: str) -> str:
    """``line L, column C`` of the first ``token`` outside a JSON string."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    blanked = re.sub(r'"(?:[^"\\]|\\.)*"', lambda m: " " * len(m.group(0)), text)
    i = blanked.find(token)
    if i < 0:
        return "an unknown position"
    line = text.count("\n", 0, i) + 1
    return f"line {line}, column {i - (text.rfind(chr(10), 0, i) + 1) + 1}"


def parse_graph(text: str, where: str) -> nx.DiGraph:
    """A validated graph from JSON (node-link) text; ``where`` prefixes error messages."""
    # Parsing and building allocate millions of small containers on big graphs; the cyclic
    # collector would scan them over and over (3x slower on 160k edges), and they hold no cycles.
    with paused():
        return from_node_link(parse_json(text, where), where)
