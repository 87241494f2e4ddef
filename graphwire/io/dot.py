"""DOT: a Graphviz drawing of the wiring that also round-trips every attribute.

Two layers live in one file:

* **data** - every graphwire attribute is stored as ``gw_<key>="<JSON>"`` (node label as
  ``gw_id``, graph attributes as ``gw_graph``), so :func:`graphwire.io.load` restores ints, floats,
  bools and dicts exactly. Values whose JSON needs a backslash are stored as
  ``"b64:<base64 of the JSON>"`` because Graphviz and pydot disagree on backslash escapes.
* **drawing** - the learned ``weight`` becomes ``penwidth``/``color``/``label`` (never the
  Graphviz ``weight`` attribute, an integer layout hint), inactive edges are dashed, inputs
  and outputs get their own shapes, nodes with a ``stage`` sit in ``cluster_stage_<k>`` and each
  topological generation is one ``rank=same`` group (``newrank=true``).

The DOT text is written by hand (pydot's writer re-quotes values inconsistently); reading uses
pydot's parser. Nothing is ever evaluated.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io as _io
import json
import math
import numbers
import os
import re
import warnings
from typing import Any, Hashable

import networkx as nx

from ..errors import AttributeValueError, FormatError, ParameterError
from ..graph import assign_roles, generations, node_attr, validate
from ._atomic import atomic_write
from . import style
from .json_format import _NonFinite, _no_constant, graph_record, jsonable

__all__ = ["to_dot", "parse_dot", "from_nx_dot", "RANKDIRS", "EDGE_LABEL_LIMIT"]

RANKDIRS = ("TB", "LR", "BT", "RL")
#: Above this many edges, per-edge labels and tooltips are left out (layout time, file size).
EDGE_LABEL_LIMIT = 2000

_INT_RE = re.compile(r"-?[0-9]+")
_SAFE_NAME_RE = re.compile(r'[^"\\:\x00-\x1f\x7f]+')
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEYWORDS = {"node", "edge", "graph", "digraph", "subgraph", "strict"}
#: Plain (non-gw_) attributes read from hand-written DOT, and how to parse them.
_PLAIN_NODE = {"role": str, "op": str, "agg": str, "channels": int, "stride": int, "stage": int, "block": int}
_PLAIN_EDGE = {"op": str, "active": bool}


# ---------------------------------------------------------------- writing helpers
def _quote(text: str) -> str:
    """A DOT double-quoted string for text without backslashes (callers make sure of that)."""
    return '"' + text.replace('"', '\\"') + '"'


def _gw_value(value: Any) -> str:
    """The quoted DOT form of a JSON-encoded value (base64 when the JSON has a backslash)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
    if "\\" in text or "\r" in text or "\n" in text:
        return '"b64:' + base64.b64encode(text.encode("utf-8")).decode("ascii") + '"'
    return _quote(text)


def _display(text: Any, limit: int = 40) -> str:
    """Text for a label/tooltip: no quotes, backslashes or line breaks, shortened."""
    s = str(text).replace("\\", "/").replace('"', "'")
    s = re.sub(r"[\x00-\x1f\x7f]", " ", s)
    return s if len(s) <= limit else s[: limit - 1] + "\u2026"


def _dot_names(G: nx.DiGraph) -> dict:
    """Unique DOT node IDs: ints as numerals, other labels quoted, odd strings renamed."""
    names: dict = {}
    strs = {n for n in G if isinstance(n, str)}
    fallback = 0
    for n in G:
        if isinstance(n, numbers.Integral) and not isinstance(n, bool):
            names[n] = str(int(n)) if n >= 0 else _quote(str(int(n)))  # pydot rejects bare negative numerals
            continue
        s = str(n)
        if _SAFE_NAME_RE.fullmatch(s) and not _INT_RE.fullmatch(s.strip()) and s.lower() not in _KEYWORDS:
            names[n] = _quote(s)
            continue
        while f"_gw_{fallback}" in strs:
            fallback += 1
        names[n] = _quote(f"_gw_{fallback}")
        fallback += 1
    return names


def _attr_list(attrs: dict[str, str]) -> str:
    return "[" + ", ".join(f"{k}={v}" for k, v in attrs.items()) + "]"


def _gw_attrs(data: dict, where: str, reserved: tuple[str, ...]) -> dict[str, str]:
    """``gw_<key>`` entries for simple keys, the rest (odd or reserved keys) in ``gw_extra``."""
    out: dict[str, str] = {}
    extra: dict = {}
    for key, value in data.items():
        plain = jsonable(value, f"{where}: attribute {key!r}")
        if isinstance(key, str) and _KEY_RE.fullmatch(key) and key not in reserved:
            out[f"gw_{key}"] = _gw_value(plain)
        else:
            if not isinstance(key, str):
                raise AttributeValueError(f"{where}: attribute name {key!r} must be a string")
            extra[key] = plain
    if extra:
        out["gw_extra"] = _gw_value(extra)
    return out


def _boxed(text: str) -> str:
    """An HTML-like label on a white box, so a label that lands on a line stays readable."""
    return ('<<table border="0" cellborder="0" cellpadding="0" cellspacing="0" bgcolor="#ffffffd0"><tr><td>'
            + _html_text(text) + "</td></tr></table>>")


def _html_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _edge_style(data: dict, wmax: float, labels: bool, u: Hashable, v: Hashable) -> dict[str, str]:
    """Graphviz attributes drawing one edge in the shared look (:mod:`graphwire.io.style`): width,
    colour and opacity from ``weight``, dashed if inactive, dotted grey and labelled "fixed" when
    ``learned`` is false (a gate that could not learn)."""
    look = style.edge_look(data, wmax)
    w = data.get("weight")
    has_w = style.is_value(w)
    attrs: dict[str, str] = {"penwidth": f"{look['width']:.3g}", "color": f'"{look["colour"]}"'}
    if look["dash"]:
        attrs["style"] = look["dash"]
    parts = []
    if look["fixed"]:
        parts.append("fixed")
    elif has_w:
        parts.append(f"{float(w):.2g}")
    if "op" in data and isinstance(data["op"], str):
        parts.append(_display(data["op"], 16))
    elif isinstance(data.get("op_weights"), dict) and data["op_weights"]:
        ow = data["op_weights"]
        best = max(sorted(ow), key=lambda k: ow[k] if isinstance(ow[k], (int, float)) else -math.inf)
        parts.append(_display(best, 16))
    if labels:
        if parts:  # an external label: Graphviz places it beside the edge, not on the edges it crosses
            attrs["xlabel"] = _boxed(" ".join(parts))
        tip = f"{_display(u)} -> {_display(v)}"
        if has_w:
            tip += f"  weight {float(w):.4g}"
        if look["fixed"]:
            tip += "  (fixed: this gate could not learn)"
        if not look["active"]:
            tip += "  (inactive)"
        attrs["tooltip"] = _quote(tip)
    return attrs


def _row(sample: str, colour: str | None, text: str) -> str:
    """One legend row: a sample (a line drawn with box characters, or a number) and what it means."""
    cell = f'<font color="{colour}">{sample}</font>' if colour else sample
    return f'<tr><td align="left">{cell}</td><td align="left">{_html_text(text)}</td></tr>'


_SAMPLES = {  # how each legend row's sample is drawn: (text, colour)
    "thick": ("\u2501" * 4, style.hex_colour(style.BLUE)), "thin": ("\u2500" * 4, "#9a9a9a"),
    "negative": ("\u2501" * 4, style.hex_colour(style.RED)), "number": ("0.87", None),
    "fixed": ("\u2508" * 4, style.hex_colour(style.FIXED)), "all-learned": ("", None),
    "inactive": ("- - - -", style.hex_colour(style.INACTIVE)),
}


def _legend(G: nx.DiGraph, wmax: float, labels: bool) -> str | None:
    """The drawing's key (an HTML-like graph label), the rows of :func:`graphwire.io.style.legend_rows`."""
    rows_ = style.legend_rows([d for *_, d in G.edges(data=True)], scale=wmax, labels=labels,
                              roles={node_attr(G, n, "role") for n in G})
    if not rows_:
        return None
    rows = ['<tr><td align="left" colspan="2"><b>how to read this picture</b></td></tr>']
    for sample, text in rows_:
        if sample.startswith("roles:"):
            cells = "".join(f'<td bgcolor="{style.FILLS[r]}">{r}</td>' for r in sample[6:].split(","))
            rows.append('<tr><td align="left" colspan="2"><table border="0" cellspacing="2" cellpadding="1"><tr>'
                        + cells + f'<td align="left">{_html_text(text)}</td></tr></table></td></tr>')
        else:
            rows.append(_row(*_SAMPLES[sample], text))
    return '<<table border="0" cellborder="0" cellspacing="1" cellpadding="1">' + "".join(rows) + "</table>>"


def _node_style(G: nx.DiGraph, n: Hashable) -> dict[str, str]:
    data = G.nodes[n]
    role = node_attr(G, n, "role")
    op = data.get("op")
    label = _display(n) + (f"\\n{_display(op, 24)}" if isinstance(op, str) else "")
    attrs = {"label": f'"{label}"'}
    if role in style.SHAPES:
        attrs["shape"] = style.SHAPES[role]
        attrs["style"] = "filled"
        attrs["fillcolor"] = f'"{style.FILLS[role]}"'
    tip = [f"{_display(n)}", f"role={role}"]
    for key in ("op", "channels", "stride", "agg", "stage", "block", "depth_prob"):
        if key in data:
            tip.append(f"{key}={_display(data[key], 24)}")
    attrs["tooltip"] = _quote(" ".join(tip))
    return attrs


def _check_rankdir(rankdir: Any) -> str | None:
    if rankdir is None:
        return None
    if not isinstance(rankdir, str) or rankdir.upper() not in RANKDIRS:
        raise ParameterError(f"rankdir must be one of {list(RANKDIRS)}, got {rankdir!r}")
    return rankdir.upper()


def to_dot(
    G: nx.DiGraph,
    path: str | os.PathLike | None = None,
    *,
    rankdir: str | None = None,
    edge_labels: bool | None = None,
    legend: bool | None = None,
) -> str:
    """Return ``G`` as DOT text (and write it atomically to ``path`` when given).

    ``rankdir`` is ``"LR"``/``"TB"``/``"BT"``/``"RL"``; by default ``LR`` when the graph has more
    topological generations than its widest generation has nodes (deep and narrow), else ``TB``.
    ``edge_labels`` (default: when there are at most :data:`EDGE_LABEL_LIMIT` edges) adds a short
    label (placed beside the edge, on a white box) and a tooltip to each edge. ``legend`` (default:
    when edges carry a ``weight``) draws a key under the picture saying what width, colour, labels,
    dashes and node shapes mean; edges whose ``learned`` attribute is false (gates that could not
    learn) are drawn dotted and labelled "fixed". :func:`graphwire.io.load` restores every attribute with
    its type.
    """
    validate(G)
    rankdir = _check_rankdir(rankdir)
    gens = generations(G)
    if rankdir is None:
        rankdir = "LR" if len(gens) > max(len(g) for g in gens) else "TB"
    if edge_labels is None:
        edge_labels = G.number_of_edges() <= EDGE_LABEL_LIMIT
    names = _dot_names(G)

    wmax = style.gate_scale(d.get("weight") for *_, d in G.edges(data=True))  # gates: absolute, 1 is thickest

    lines = ["digraph graphwire {"]
    graph_attrs = {
        "newrank": "true",
        "rankdir": rankdir,
        "compound": "true",
        "fontname": '"Helvetica"',
        "gw_graph": _gw_value(graph_record(G)),
    }
    if G.number_of_edges() > EDGE_LABEL_LIMIT:
        graph_attrs["splines"] = "line"
    if edge_labels:
        graph_attrs["forcelabels"] = "true"
    key = _legend(G, wmax, edge_labels) if legend is None or legend else None
    if key is not None:
        graph_attrs.update(label=key, labelloc="b", labeljust="l", fontsize="10")
    lines.extend(f"  {k}={v};" for k, v in graph_attrs.items())
    lines.append('  node [fontname="Helvetica", fontsize=10, shape=ellipse];')
    lines.append('  edge [arrowsize=0.6, color="#444444", fontname="Helvetica", fontsize=8, fontcolor="#555555"];')

    # Nodes in G's order with all their attributes (loading restores this order) ...
    for n, data in G.nodes(data=True):
        attrs = _node_style(G, n)
        attrs["gw_id"] = _gw_value(jsonable(n, f"node label {n!r}"))
        attrs.update(_gw_attrs(data, f"node {n!r}", reserved=("id", "extra")))
        lines.append(f"  {names[n]} {_attr_list(attrs)};")

    # ... then the clusters, by mention (a node mentioned in a cluster belongs to it) ...
    stages: dict = {}
    for n, data in G.nodes(data=True):
        st = data.get("stage")
        if isinstance(st, numbers.Integral) and not isinstance(st, bool):
            stages.setdefault(int(st), []).append(n)
    for st in sorted(stages):
        lines.append(f"  subgraph cluster_stage_{st} {{")
        lines.append(f'    label="stage {st}"; style="rounded"; color="#9e9e9e"; fontcolor="#616161";')
        lines.append("    " + " ".join(names[n] + ";" for n in stages[st]))
        lines.append("  }")

    # ... one rank per topological generation ...
    for gen in gens:
        lines.append("  { rank=same; " + " ".join(names[n] + ";" for n in gen) + " }")

    # ... and the edges, in G's order.
    for u, v, data in G.edges(data=True):
        attrs = _edge_style(data, wmax, edge_labels, u, v)
        attrs.update(_gw_attrs(data, f"edge ({u!r}, {v!r})", reserved=("extra",)))
        suffix = " " + _attr_list(attrs) if attrs else ""
        lines.append(f"  {names[u]} -> {names[v]}{suffix};")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    if path is not None:
        atomic_write(path, text)
    return text


# ---------------------------------------------------------------- reading
def _unquote(raw: str) -> str:
    """The value of a DOT ID as pydot returns it (quotes kept): strip quotes, undo ``\\"``."""
    s = raw.strip()
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        s = s[1:-1]
        s = s.replace("\\\r\n", "").replace("\\\n", "").replace('\\"', '"')
    elif len(s) >= 2 and s[0] == "<" and s[-1] == ">":  # HTML-like label
        s = s[1:-1]
    return s


def _node_key(raw: str) -> str:
    """The node name of an edge endpoint or node statement, without quotes or port."""
    s = raw.strip()
    if s.startswith('"'):
        i = 1
        while i < len(s):
            if s[i] == "\\":
                i += 2
                continue
            if s[i] == '"':
                break
            i += 1
        return _unquote(s[: i + 1])
    return s.split(":", 1)[0]


def _decode_gw(raw: str, where: str) -> Any:
    text = _unquote(raw)
    if text.startswith("b64:"):
        try:
            text = base64.b64decode(text[4:].encode("ascii"), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeError, ValueError):
            raise FormatError(f"{where} holds invalid base64") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise FormatError(f"{where} is not valid JSON ({e.msg}): {text[:60]!r}") from None
    except _NonFinite as e:
        raise FormatError(f"{where} holds {e.args[0]}: JSON has no NaN or infinity; write a finite number") from None
    except RecursionError:
        raise FormatError(f"{where} is nested too deeply") from None


def _plain_value(raw: str, kind: type, where: str) -> Any:
    s = _unquote(raw)
    if kind is int:
        return int(s) if _INT_RE.fullmatch(s.strip()) else s
    if kind is bool:
        low = s.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise FormatError(f"{where} must be true or false, got {s!r}")
    return s


def _decode_attrs(attrs: dict, where: str, plain: dict[str, type]) -> tuple[dict, Any]:
    """Attributes of one element: plain schema ones, then every ``gw_`` one. Returns (attrs, gw_id)."""
    out: dict = {}
    gw_id = None
    for key, raw in attrs.items():
        if raw is None or not isinstance(raw, str):
            raise FormatError(f"{where}: attribute {key!r} has no value")
        if key in plain:
            out[key] = _plain_value(raw, plain[key], f"{where}: attribute {key!r}")
    for key, raw in attrs.items():
        if not key.startswith("gw_"):
            continue
        name = key[3:]
        value = _decode_gw(raw, f"{where}: attribute {key!r}")
        if name == "id":
            gw_id = value
        elif name == "extra":
            if not isinstance(value, dict):
                raise FormatError(f"{where}: attribute 'gw_extra' must hold a JSON object")
            out.update(value)
        else:
            out[name] = value
    return out, gw_id


def _endpoint_keys(end: Any) -> list[str]:
    """Node names of an edge endpoint: a name, or a subgraph such as ``{b c}``."""
    if isinstance(end, str):
        return [_node_key(end)]
    nodes = end.get("nodes", {}) if hasattr(end, "get") else {}
    keys = [_node_key(k) for k in nodes]
    for sub in (end.get("subgraphs", {}) or {}).values() if hasattr(end, "get") else ():
        for s in sub:
            keys.extend(_endpoint_keys(s))
    if not keys:
        raise FormatError(f"unsupported DOT edge endpoint {end!r:.60}")
    return keys


def _walk(graph, nodes: dict, edges: list) -> None:
    """Collect node statements (merged by name, in order) and edges from a pydot graph tree."""
    for node in graph.get_nodes():
        raw = node.get_name()
        if raw in ("node", "edge", "graph"):  # default-attribute statements
            continue
        key = _node_key(raw)
        nodes.setdefault(key, {}).update(node.get_attributes())
    for edge in graph.get_edges():
        srcs, dsts = _endpoint_keys(edge.get_source()), _endpoint_keys(edge.get_destination())
        for k in srcs + dsts:
            nodes.setdefault(k, {})
        for s in srcs:
            for d in dsts:
                edges.append((s, d, edge.get_attributes()))
    for sub in graph.get_subgraphs():
        _walk(sub, nodes, edges)


def _parse(text: str, where: str):
    import pydot  # lazy: pyparsing is slow to import

    captured = _io.StringIO()
    try:
        with contextlib.redirect_stdout(captured), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # pyparsing's about pydot's parser
            graphs = pydot.graph_from_dot_data(text)
    except Exception as e:
        raise FormatError(f"{where}: malformed DOT ({type(e).__name__}: {e})") from None
    if graphs is None:
        detail = [line for line in captured.getvalue().splitlines() if line.strip()]
        msg = detail[-1] if detail else "pydot could not parse it"
        raise FormatError(f"{where}: malformed DOT: {msg}")
    if len(graphs) != 1:
        raise FormatError(f"{where}: expected one DOT graph, found {len(graphs)}")
    return graphs[0]


def _undirected_edge(text: str) -> bool:
    """Whether DOT text uses the undirected edge operator ``--`` (outside strings and comments);
    pydot turns it into ``->`` inside a digraph, which would hide the mistake."""
    code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)            # quoted strings
    code = re.sub(r"/\*.*?\*/", " ", code, flags=re.S)          # block comments
    code = re.sub(r"(//|#)[^\n]*", " ", code)                    # line comments
    return "--" in code


def parse_dot(text: str, where: str) -> nx.DiGraph:
    """A validated graph from DOT text; ``where`` prefixes error messages.

    DOT written by :func:`to_dot` comes back with every attribute and its type (from the
    ``gw_`` attributes). Hand-written DOT works too: node names (numerals become ints), edges
    and the plain schema attributes ``role, op, agg, channels, stride, stage, block`` (edges:
    ``op, active``); when no node has a ``role``, sources become inputs and sinks outputs
    (:func:`graphwire.graph.assign_roles`). The graph is then validated (a cycle raises
    :class:`~graphwire.errors.CycleError`). Malformed DOT raises
    :class:`~graphwire.errors.FormatError`. Nothing is ever evaluated.
    """
    pg = _parse(text, where)
    if pg.get_type() != "digraph":
        raise FormatError(f"{where}: is an undirected 'graph'; graphwire needs a 'digraph' (edges with ->)")
    if _undirected_edge(text):
        raise FormatError(f"{where}: uses the undirected edge operator '--' inside a digraph; write edges as a -> b")

    G = nx.DiGraph()
    graph_attrs = dict(pg.get_attributes())
    for stmt in pg.get_node("graph"):  # `graph [...]` statements
        graph_attrs.update(stmt.get_attributes())
    if "gw_graph" in graph_attrs:
        record = _decode_gw(graph_attrs["gw_graph"], f"{where}: graph attribute 'gw_graph'")
        if not isinstance(record, dict):
            raise FormatError(f"{where}: graph attribute 'gw_graph' must hold a JSON object")
        G.graph.update(record)

    nodes: dict[str, dict] = {}
    edges: list = []
    _walk(pg, nodes, edges)
    return _build(G, nodes, edges, where)


def _build(G: nx.DiGraph, nodes: dict[str, dict], edges: list, where: str) -> nx.DiGraph:
    """Add DOT nodes (name -> raw attributes) and edges ``(name, name, raw attributes)`` to ``G``, typed
    from their ``gw_`` attributes; roles assigned when none is given; validated."""
    labels: dict[str, Hashable] = {}
    for key, attrs in nodes.items():
        where_n = f"{where}: node {key!r}"
        data, gw_id = _decode_attrs(attrs, where_n, _PLAIN_NODE)
        if gw_id is None:
            label: Hashable = int(key) if _INT_RE.fullmatch(key) else key
        elif isinstance(gw_id, str) or (isinstance(gw_id, int) and not isinstance(gw_id, bool)):
            label = gw_id
        else:
            raise FormatError(f"{where_n}: 'gw_id' must be an integer or a string, got {gw_id!r}")
        if label in G:
            raise FormatError(f"{where}: two DOT nodes stand for the node {label!r}")
        labels[key] = label
        G.add_node(label, **data)
    for s, d, attrs in edges:
        u, v = labels[s], labels[d]
        data, _ = _decode_attrs(attrs, f"{where}: edge ({u!r}, {v!r})", _PLAIN_EDGE)
        if G.has_edge(u, v):
            raise FormatError(f"{where}: edge ({u!r}, {v!r}) is given twice; graphwire graphs have no parallel edges")
        G.add_edge(u, v, **data)

    if not any("role" in d for _, d in G.nodes(data=True)):
        G = assign_roles(G)
    return validate(G)



def from_nx_dot(M: nx.Graph) -> nx.DiGraph:
    """The graphwire graph that ``networkx.drawing.nx_pydot.read_dot`` (or ``nx.nx_agraph.read_dot``)
    returned for a DOT file written by :func:`to_dot`: attributes under their own names with their
    types (``weight`` a float, ``active`` a bool...), node labels as they were, Graphviz' drawing
    attributes dropped, validated.

    networkx's readers keep DOT values as the strings pydot parsed, and graphwire stores its
    attributes as ``gw_<name>`` (JSON) so that Graphviz' own ``weight``, ``label``... keep their
    drawing meaning. This maps the one to the other.

    >>> import io, networkx as nx, graphwire as gw
    >>> G = gw.generators.chain(1)
    >>> G.edges[0, 1]["weight"] = 0.25
    >>> M = nx.nx_pydot.read_dot(io.StringIO(gw.io.to_dot(G)))
    >>> from_nx_dot(M).edges[0, 1]["weight"]
    0.25
    """
    if not isinstance(M, nx.Graph):
        raise ParameterError(f"from_nx_dot takes the graph networkx's read_dot returned, got {type(M).__name__}")
    if not M.is_directed():
        raise FormatError("from_nx_dot: the DOT graph is undirected; graphwire needs a digraph")
    where = "DOT read by networkx"
    G = nx.DiGraph()
    attrs = dict(M.graph)
    if isinstance(attrs.get("graph"), dict):  # nx_pydot keeps `graph [...]` attributes under "graph"
        attrs.update(attrs["graph"])
    if "gw_graph" in attrs:
        record = _decode_gw(str(attrs["gw_graph"]), f"{where}: graph attribute 'gw_graph'")
        if not isinstance(record, dict):
            raise FormatError(f"{where}: graph attribute 'gw_graph' must hold a JSON object")
        G.graph.update(record)
    nodes = {str(n): {k: str(v) for k, v in d.items()} for n, d in M.nodes(data=True) if str(n) not in
             ("node", "edge", "graph", "\\n")}
    edges = []
    for e in (M.edges(keys=True, data=True) if M.is_multigraph() else M.edges(data=True)):
        u, v, d = e[0], e[1], e[-1]
        edges.append((str(u), str(v), {k: str(x) for k, x in d.items()}))
    return _build(G, {_node_key(k): d for k, d in nodes.items()},
                  [(_node_key(u), _node_key(v), d) for u, v, d in edges], where)
