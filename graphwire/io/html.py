"""Interactive HTML: the wiring laid out by Graphviz, with a slider over training snapshots.

One self-contained file (inline SVG, CSS and a few lines of JavaScript; no CDN, no network):
Python asks ``dot -Tjson`` for node positions and edge splines once (or, for graphs too dense for
Graphviz, or without it, uses a built-in layered layout), draws them as SVG and embeds
each snapshot's per-edge values as JSON. Moving the slider restyles the edges in the SVG's look
(:mod:`graphwire.io.style`: width, colour and opacity on the same absolute scale for gates; fixed
gates dotted grey), inactive edges are hidden (or dashed, with "show inactive"), nodes cut off from
every active path fade. The page carries the SVG's legend. Hovering an edge or node shows its values.
"""

from __future__ import annotations

import html as _html
import json
import math
import numbers
import os
import shutil
import warnings
from typing import Any

import networkx as nx

from ..errors import ParameterError, RenderError
from ..graph import generations, node_attr, validate
from . import style
from ._atomic import atomic_write
from .dot import EDGE_LABEL_LIMIT, _check_rankdir, _display
from .render import INSTALL_HINT, run_dot

__all__ = ["to_html", "DOT_COST_LIMIT"]

#: Narrowest scale of the drawing (labels stay >= ~9 px); a wider graph scrolls sideways instead.
_MIN_SCALE = 0.85


# ---------------------------------------------------------------- layout
def _layout_dot(G: nx.DiGraph, nodes: list, edges: list, rankdir: str) -> str:
    ids = {n: f"n{i}" for i, n in enumerate(nodes)}
    lines = ["digraph gw {",
             f'  graph [rankdir={rankdir}, newrank=true, nodesep=0.3, ranksep=0.55, fontname="Helvetica", fontsize=10'
             + (", splines=line" if len(edges) > EDGE_LABEL_LIMIT else "") + "];",
             '  node [fontname="Helvetica", fontsize=11, shape=ellipse, margin="0.06,0.03"];']
    for n in nodes:
        op = G.nodes[n].get("op")
        label = _display(n) + (f"\\n{_display(op, 24)}" if isinstance(op, str) else "")
        shape = style.SHAPES.get(node_attr(G, n, "role"), "ellipse")
        lines.append(f'  {ids[n]} [label="{label}", shape={shape}];')
    stages: dict = {}
    for n in nodes:
        st = G.nodes[n].get("stage")
        if isinstance(st, int) and not isinstance(st, bool):
            stages.setdefault(st, []).append(n)
    for st in sorted(stages):
        lines.append(f'  subgraph cluster_stage_{st} {{ label="stage {st}"; ' +
                     " ".join(ids[n] + ";" for n in stages[st]) + " }")
    for gen in generations(G):
        lines.append("  { rank=same; " + " ".join(ids[n] + ";" for n in gen) + " }")
    for k, (u, v) in enumerate(edges):
        lines.append(f'  {ids[u]} -> {ids[v]} [id="e{k}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.replace(",", " ").split()]


def _parse_layout(raw: bytes, n_nodes: int, n_edges: int) -> dict:
    try:
        data = json.loads(raw.decode("utf-8"))
        bb = _floats(data["bb"])
        height = bb[3]
        nodes: dict[int, dict] = {}
        clusters = []
        for obj in data.get("objects", []):
            name = obj.get("name", "")
            if name.startswith("cluster_stage_"):
                x0, y0, x1, y1 = _floats(obj["bb"])
                clusters.append({"label": obj.get("label", ""), "x": x0, "y": height - y1, "w": x1 - x0, "h": y1 - y0})
            elif name.startswith("n") and name[1:].isdigit():
                x, y = _floats(obj["pos"])
                nodes[int(name[1:])] = {"x": x, "y": height - y, "w": float(obj["width"]) * 72,
                                        "h": float(obj["height"]) * 72}
        edges: dict[int, dict] = {}
        for obj in data.get("edges", []):
            k = int(str(obj["id"])[1:])
            spline = str(obj["pos"]).split(";")[0].split()
            end = start = None
            pts = []
            for tok in spline:
                if tok.startswith("e,"):
                    end = _floats(tok[2:])
                elif tok.startswith("s,"):
                    start = _floats(tok[2:])
                else:
                    pts.append(_floats(tok))
            flip = lambda p: (p[0], height - p[1])
            edges[k] = {"pts": [flip(p) for p in pts], "end": flip(end) if end else None,
                        "start": flip(start) if start else None}
    except (KeyError, ValueError, TypeError, IndexError, UnicodeError) as e:
        raise RenderError(f"could not read Graphviz' JSON layout ({type(e).__name__}: {e})") from None
    if len(nodes) != n_nodes or len(edges) != n_edges:
        raise RenderError(f"Graphviz laid out {len(nodes)}/{n_nodes} nodes and {len(edges)}/{n_edges} edges")
    return {"width": bb[2], "height": height, "nodes": nodes, "edges": edges, "clusters": clusters}


#: Above this Graphviz cost estimate (edges + virtual nodes of edges that skip ranks) ``layout="auto"``
#: uses the built-in layered layout: dot's ranking and crossing reduction grow much faster than linearly
#: (a complete DAG on 40 nodes, 780 edges, already takes about 9 s).
DOT_COST_LIMIT = 8000
LAYOUTS = ("auto", "dot", "layered")


def _dot_cost(G: nx.DiGraph, gens: list[list]) -> int:
    rank = {n: i for i, gen in enumerate(gens) for n in gen}
    return sum(max(rank[v] - rank[u], 1) for u, v in G.edges)


def _layered_layout(G: nx.DiGraph, nodes: list, edges: list, gens: list[list], rankdir: str) -> dict:
    """Positions without Graphviz: one column (LR) or row (TB) per topological generation, nodes
    ordered by the mean position of their predecessors, edges as smooth cubic curves."""
    index = {n: i for i, n in enumerate(nodes)}
    size = {}
    for n in nodes:
        op = G.nodes[n].get("op")
        lines = [_display(n)] + ([_display(op, 24)] if isinstance(op, str) else [])
        size[n] = (max(54.0, 7.0 * max(len(t) for t in lines) + 18), 36.0 if len(lines) == 1 else 46.0)
    slot: dict = {}
    ordered = []
    for i, gen in enumerate(gens):
        if i:
            def bary(n):
                ps = [slot[p] for p in G.predecessors(n) if p in slot]
                return sum(ps) / len(ps) if ps else 0.0
            gen = sorted(gen, key=bary)
        for j, n in enumerate(gen):
            slot[n] = j - (len(gen) - 1) / 2
        ordered.append(gen)
    horizontal = rankdir in ("LR", "RL")
    along_gap, across_gap = 70.0, 14.0
    # extent of each generation along the flow, and the across-flow step
    depth = [max((size[n][0] if horizontal else size[n][1]) for n in gen) for gen in ordered]
    step = max((size[n][1] if horizontal else size[n][0]) for n in nodes) + across_gap
    widest = max(len(gen) for gen in ordered)
    pos = {}
    offset = 0.0
    for gen, d in zip(ordered, depth):
        for j, n in enumerate(gen):
            a = offset + d / 2
            b = (j + (widest - len(gen)) / 2) * step + step / 2
            pos[n] = (a, b)
        offset += d + along_gap
    length = offset - along_gap
    if rankdir in ("RL", "BT"):
        pos = {n: (length - a, b) for n, (a, b) in pos.items()}

    def xy(n):
        a, b = pos[n]
        return (a, b) if horizontal else (b, a)

    out_nodes = {index[n]: {"x": xy(n)[0], "y": xy(n)[1], "w": size[n][0], "h": size[n][1]} for n in nodes}
    sign = -1.0 if rankdir in ("RL", "BT") else 1.0
    rank = {n: i for i, gen in enumerate(ordered) for n in gen}
    out_edges = {}
    for k, (u, v) in enumerate(edges):
        (ax, ay), (bx, by) = xy(u), xy(v)
        # edges that skip generations arc away from the nodes they pass (alternating sides by the
        # source's generation), longer skips arc further, like an arc diagram
        skip = rank[v] - rank[u] - 1
        arc = 0.0 if skip <= 0 else (1 if rank[u] % 2 == 0 else -1) * step * (0.6 + 0.5 * min(skip, 12))
        if horizontal:
            start = (ax + sign * size[u][0] / 2, ay)
            tip = (bx - sign * size[v][0] / 2, by)
            base = (tip[0] - sign * 8, tip[1])
            bend = (base[0] - start[0]) / 2
            c1, c2 = (start[0] + bend, start[1] - arc), (base[0] - bend, base[1] - arc)
        else:
            start = (ax, ay + sign * size[u][1] / 2)
            tip = (bx, by - sign * size[v][1] / 2)
            base = (tip[0], tip[1] - sign * 8)
            bend = (base[1] - start[1]) / 2
            c1, c2 = (start[0] - arc, start[1] + bend), (base[0] - arc, base[1] - bend)
        out_edges[k] = {"pts": [start, c1, c2, base], "end": tip, "start": None}
    clusters = []
    stages: dict = {}
    for n in nodes:
        st = G.nodes[n].get("stage")
        if isinstance(st, int) and not isinstance(st, bool):
            stages.setdefault(st, []).append(out_nodes[index[n]])
    for st in sorted(stages):
        ps = stages[st]
        x0 = min(p["x"] - p["w"] / 2 for p in ps) - 8
        x1 = max(p["x"] + p["w"] / 2 for p in ps) + 8
        y0 = min(p["y"] - p["h"] / 2 for p in ps) - 20
        y1 = max(p["y"] + p["h"] / 2 for p in ps) + 8
        clusters.append({"label": f"stage {st}", "x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0})
    # a cubic curve stays inside the hull of its control points and reaches 3/4 of a symmetric bulge
    bulge = [(x, y) for e in out_edges.values() for x, y in e["pts"][1:3]]
    ends = [(x, y) for e in out_edges.values() for x, y in (e["pts"][0], e["end"])]
    curve = [(0.25 * x0 + 0.75 * x, 0.25 * y0 + 0.75 * y) for (x, y), (x0, y0) in zip(bulge, ends)]
    shift_x = -min([0.0] + [c["x"] for c in clusters] + [x - 4 for x, _ in curve])
    shift_y = -min([0.0] + [c["y"] for c in clusters] + [y - 4 for _, y in curve])
    if shift_x or shift_y:
        for p in out_nodes.values():
            p["x"] += shift_x
            p["y"] += shift_y
        for e in out_edges.values():
            e["pts"] = [(x + shift_x, y + shift_y) for x, y in e["pts"]]
            e["end"] = (e["end"][0] + shift_x, e["end"][1] + shift_y)
        for c in clusters:
            c["x"] += shift_x
            c["y"] += shift_y
    width = max([p["x"] + p["w"] / 2 for p in out_nodes.values()] + [c["x"] + c["w"] for c in clusters]
                + [x + shift_x + 4 for x, _ in curve])
    height = max([p["y"] + p["h"] / 2 for p in out_nodes.values()] + [c["y"] + c["h"] for c in clusters]
                 + [y + shift_y + 4 for _, y in curve])
    return {"width": width, "height": height, "nodes": out_nodes, "edges": out_edges, "clusters": clusters}


# ---------------------------------------------------------------- SVG
def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _edge_path(e: dict) -> tuple[str, str]:
    """SVG path of the spline and of its arrowhead (a triangle ending at the edge's tip)."""
    pts = e["pts"]
    d = f"M{_f(pts[0][0])},{_f(pts[0][1])}"
    for i in range(1, len(pts) - 2, 3):
        (a, b), (c, dd), (x, y) = pts[i], pts[i + 1], pts[i + 2]
        d += f" C{_f(a)},{_f(b)} {_f(c)},{_f(dd)} {_f(x)},{_f(y)}"
    if len(pts) == 2 or (len(pts) - 1) % 3:
        d = "M" + " L".join(f"{_f(x)},{_f(y)}" for x, y in pts)
    head = ""
    if e["end"] is not None:
        (bx, by), (tx, ty) = pts[-1], e["end"]
        dx, dy = tx - bx, ty - by
        length = math.hypot(dx, dy) or 1.0
        px, py = -dy / length * 3.5, dx / length * 3.5
        head = f"M{_f(tx)},{_f(ty)} L{_f(bx + px)},{_f(by + py)} L{_f(bx - px)},{_f(by - py)} Z"
    return d, head


def _house(p: dict, inverted: bool) -> str:
    """Graphviz' ``house`` (roof up) or ``invhouse`` (roof down) polygon filling a node's box."""
    x0, x1, y0, y1 = p["x"] - p["w"] / 2, p["x"] + p["w"] / 2, p["y"] - p["h"] / 2, p["y"] + p["h"] / 2
    roof = p["h"] * 0.38
    if inverted:
        pts = [(x0, y0), (x1, y0), (x1, y1 - roof), (p["x"], y1), (x0, y1 - roof)]
    else:
        pts = [(x0, y1), (x1, y1), (x1, y0 + roof), (p["x"], y0), (x0, y0 + roof)]
    return " ".join(f"{_f(a)},{_f(b)}" for a, b in pts)


def _svg(G: nx.DiGraph, nodes: list, edges: list, lay: dict) -> str:
    esc = _html.escape
    w, h = lay["width"], lay["height"]
    least = min(_MIN_SCALE * (w + 8), 4000.0)  # narrower than this, the page scrolls sideways
    out = [(f'<svg id="gw-svg" viewBox="-4 -4 {_f(w + 8)} {_f(h + 8)}" preserveAspectRatio="xMidYMin meet" '
            f'style="max-width:{_f(1.6 * (w + 8))}px;min-width:{_f(least)}px" role="img" aria-label="wiring graph">')]
    for c in lay["clusters"]:
        out.append(f'<g class="cluster"><rect x="{_f(c["x"])}" y="{_f(c["y"])}" width="{_f(c["w"])}" '
                   f'height="{_f(c["h"])}" rx="6"/><text x="{_f(c["x"] + c["w"] / 2)}" y="{_f(c["y"] + 12)}">'
                   f'{esc(str(c["label"]))}</text></g>')
    out.append('<g id="gw-edges">')
    for k, (u, v) in enumerate(edges):
        d, head = _edge_path(lay["edges"][k])
        out.append(f'<g class="edge" id="gw-edge-{k}" data-i="{k}"><path class="hit" d="{d}"/>'
                   f'<path class="line" d="{d}"/>' + (f'<path class="head" d="{head}"/>' if head else "") + "</g>")
    out.append("</g><g id=\"gw-nodes\">")
    for i, n in enumerate(nodes):
        p = lay["nodes"][i]
        role = node_attr(G, n, "role")
        fill = style.FILLS.get(role, style.FILLS["hidden"])
        if role in ("input", "output"):
            shape = f'<polygon points="{_house(p, role == "input")}" fill="{fill}"/>'
        else:
            shape = (f'<ellipse cx="{_f(p["x"])}" cy="{_f(p["y"])}" rx="{_f(p["w"] / 2)}" ry="{_f(p["h"] / 2)}" '
                     f'fill="{fill}"/>')
        op = G.nodes[n].get("op")
        lines = [_display(n)] + ([_display(op, 24)] if isinstance(op, str) else [])
        y0 = p["y"] - 6 * (len(lines) - 1) + 3.5
        cls = ['', ' class="op"']
        text = "".join(f'<tspan x="{_f(p["x"])}" y="{_f(y0 + 12 * j)}"{cls[min(j, 1)]}>{esc(t)}</tspan>'
                       for j, t in enumerate(lines))
        out.append(f'<g class="node {esc(role)}" id="gw-node-{i}" data-i="{i}">{shape}<text>{text}</text></g>')
    out.append("</g></svg>")
    return "".join(out)


# ---------------------------------------------------------------- data
def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return None
    x = float(v)
    return float(f"{x:.5g}") if math.isfinite(x) else None


def _info(value: Any) -> Any:
    """A short JSON-safe rendering of an attribute for the tooltip."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, numbers.Real):
        return _num(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_num(x) if _num(x) is not None else x}" for k, x in list(value.items())[:6])[:120]
    return str(value)[:80]


def _history_data(G: nx.DiGraph, edges: list, history: Any, attr: str) -> tuple[list[dict], list[str]]:
    """Per-snapshot values aligned with ``edges``; edges the history lacks keep G's values."""
    static: dict[str, list] = {}
    keys = {k for *_, d in G.edges(data=True) for k, v in d.items() if _num(v) is not None or isinstance(v, bool)}
    for key in sorted(keys | {attr, "active"}):
        vals = []
        for u, v in edges:
            x = G.edges[u, v].get(key)
            if key == "active":
                vals.append(x is not False)
            elif key == "learned":
                vals.append(None if x is None else x is not False)
            elif key == attr and x is None and attr == "weight":
                vals.append(1.0)  # an unweighted edge is a plain 1
            else:
                vals.append(_num(x))
        static[key] = vals
    if history is None:
        return [{"label": "final", "values": static}], sorted(static)
    if not history.snapshots:
        raise ParameterError("the history has no snapshots to show")
    if attr not in history.attributes():
        raise ParameterError(f"the history has no per-edge {attr!r}; it recorded {history.attributes()}")
    where = {e: i for i, e in enumerate(history.edges)}
    matched = [where.get((u, v)) for u, v in edges]
    if not any(m is not None for m in matched):
        raise ParameterError("none of the graph's edges appear in the history: is it the history of this graph?")
    keys = [k for k in history.attributes()]
    by_epoch = {int(r["epoch"]): r for r in history.epochs if isinstance(r.get("epoch"), numbers.Real)}
    snaps = []
    for s in history.snapshots:
        values: dict[str, list] = {}
        # A snapshot shows its own values only: an edge the history records gets None for a key
        # this snapshot lacks (not the graph's final value); edges the history lacks keep G's.
        for key in sorted(set(keys) | {attr, "active"}):
            row = s.get(key)
            vals = []
            for k, m in enumerate(matched):
                if m is None:
                    vals.append(static.get(key, [None] * len(edges))[k])
                elif row is None:
                    vals.append(True if key == "active" else None)
                else:
                    vals.append(bool(row[m]) if key in ("active", "learned") else _num(row[m]))
            values[key] = vals
        ep = float(s["epoch"])
        label = f"epoch {_epoch(ep)}" + (f" (step {s['step']})" if s.get("step") else "")
        # the metrics of the last finished epoch, so the header keeps its shape between epochs
        done = math.floor(ep + 1e-9)
        rec = by_epoch.get(done)
        metrics = {k: _num(v) for k, v in (rec or {}).items() if k in ("loss", "train_acc", "val_acc")}
        if metrics and not float(ep).is_integer():
            metrics = {f"{k} (epoch {done})": v for k, v in metrics.items()}
        snaps.append({"label": label, "values": values, "metrics": metrics})
    return snaps, sorted(set(keys) | {attr, "active"})


def _epoch(ep: float) -> str:
    """An epoch for the slider: whole epochs as integers, snapshots inside one to two decimals."""
    return f"{ep:.0f}" if abs(ep - round(ep)) < 5e-3 else f"{ep:.2f}"


def _history_from_graphs(G: nx.DiGraph, graphs: list) -> Any:
    """A History of ``G``'s edges with one snapshot per graph: each edge's numeric attributes in
    that graph; an edge missing from a graph is inactive there (weight 0)."""
    from .history import History

    edges = list(G.edges)
    h = History(edges=edges, meta={"steps_per_epoch": 1})
    for i, H in enumerate(graphs):
        if not isinstance(H, nx.DiGraph):
            raise ParameterError(f"snapshots[{i}] must be a networkx DiGraph, got {type(H).__name__}")
        keys = {k for *_, d in H.edges(data=True) for k, v in d.items() if _num(v) is not None}
        attrs: dict[str, list] = {}
        for key in sorted(keys | {"weight"}):
            attrs[key] = [(_num(H.edges[e].get(key)) if H.has_edge(*e) else (0.0 if key == "weight" else None))
                          for e in edges]
            attrs[key] = [math.nan if x is None else x for x in attrs[key]]
        attrs["active"] = [H.has_edge(*e) and H.edges[e].get("active", True) is not False for e in edges]
        epoch = H.graph.get("epoch", i)
        h.add(attrs, epoch=epoch if isinstance(epoch, numbers.Real) and not isinstance(epoch, bool) else i, step=i)
    return h


# ---------------------------------------------------------------- page
def _sample(kind: str) -> str:
    """A small inline SVG line showing a legend row's look."""
    colour, width, dash = {"thick": (style.BLUE, 4.0, ""), "thin": (style.GREY, 1.0, ""),
                           "negative": (style.RED, 4.0, ""), "fixed": (style.FIXED, 1.0, "1 3"),
                           "inactive": (style.INACTIVE, 1.5, "4 3")}.get(kind, (None, 0, ""))
    if colour is None:
        return ""
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<svg width="34" height="10" aria-hidden="true"><line x1="2" y1="5" x2="32" y2="5" '
            f'stroke="{style.hex_colour(colour)}" stroke-width="{width:g}"{d}/></svg>')


def _legend_html(G: nx.DiGraph, attr: str, scale: float) -> str:
    """The key of the page: the SVG's legend rows (:func:`graphwire.io.style.legend_rows`)."""
    esc = _html.escape
    rows = style.legend_rows([d for *_, d in G.edges(data=True)], attr=attr, scale=scale,
                             roles={node_attr(G, n, "role") for n in G})
    if not rows:
        return '<div id="gw-legend"></div>'
    out = ['<div id="gw-legend" role="note"><b>how to read this picture</b>']
    for sample, text in rows:
        if sample.startswith("roles:"):
            cells = "".join(f'<span class="fill" style="background:{style.FILLS[r]}">{r}</span>'
                            for r in sample[6:].split(","))
            out.append(f"<span>{cells} {esc(text)}</span>")
        elif sample == "number":
            continue  # the page shows numbers on hover, not beside the edges
        else:
            out.append(f"<span>{_sample(sample)}{esc(text)}</span>")
    return "".join(out) + "</div>"


_CSS = """
body{font:14px/1.4 Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fff}
header{padding:10px 16px;border-bottom:1px solid #e3e3e3;display:flex;flex-wrap:wrap;gap:10px 18px;align-items:center}
h1{font-size:16px;margin:0 12px 0 0}
#gw-slider{width:min(420px,60vw)}
#gw-label{font-variant-numeric:tabular-nums;min-width:15em;white-space:nowrap}
#gw-metrics{color:#555;font-variant-numeric:tabular-nums;min-width:24em;min-height:1.4em;white-space:nowrap}
main{padding:8px 16px;overflow-x:auto}
#gw-svg{width:100%;height:auto;display:block}
.cluster rect{fill:#fafafa;stroke:#bdbdbd;stroke-dasharray:4 3}
.cluster text{font-size:10px;fill:#757575;text-anchor:middle}
.edge .hit{fill:none;stroke:transparent;stroke-width:9;pointer-events:stroke;cursor:pointer}
.edge .line{fill:none;stroke:#08306b;stroke-linecap:round;pointer-events:none}
.edge .head{fill:#08306b;stroke:none;pointer-events:none}
.edge.neg .line{stroke:#a50f15}.edge.neg .head{fill:#a50f15}
.edge.inactive .line{stroke-dasharray:4 3}
.edge.fixed .line{stroke-dasharray:1 3}
#gw-legend{padding:4px 16px 0;font-size:12px;color:#333;display:flex;flex-wrap:wrap;gap:2px 18px}
#gw-legend b{width:100%}
#gw-legend span{display:inline-flex;align-items:center;gap:6px}
#gw-legend .fill{display:inline-block;padding:0 4px;border:1px solid #999}
.edge.hover .line{stroke:#e6550d !important}.edge.hover .head{fill:#e6550d !important}
.node ellipse,.node rect{stroke:#555;stroke-width:1}
.node text{font-size:11px;text-anchor:middle;fill:#222;pointer-events:none}
.node text .op{fill:#666;font-size:9px}
.node.dead{opacity:.3}
#gw-tip{position:fixed;pointer-events:none;background:#222;color:#fff;font-size:12px;padding:6px 8px;
border-radius:4px;white-space:pre;display:none;z-index:10;max-width:420px}
footer{color:#888;font-size:11px;padding:4px 16px 12px}
"""

_JS = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("gw-data").textContent);
  var slider = document.getElementById("gw-slider");
  var label = document.getElementById("gw-label");
  var metrics = document.getElementById("gw-metrics");
  var showInactive = document.getElementById("gw-show-inactive");
  var play = document.getElementById("gw-play");
  var tip = document.getElementById("gw-tip");
  var edgeEls = [], nodeEls = [];
  var i;
  for (i = 0; i < D.edges.length; i++) edgeEls.push(document.getElementById("gw-edge-" + i));
  for (i = 0; i < D.nodes.length; i++) nodeEls.push(document.getElementById("gw-node-" + i));
  var S = D.style;  // the shared look (graphwire.io.style): absolute scale for gates
  function mix(a, b, t) {
    return "rgb(" + [0, 1, 2].map(function (i) { return Math.round(a[i] + (b[i] - a[i]) * t); }).join(",") + ")";
  }
  var current = 0, hovered = null;

  function fmt(v) {
    if (v === null || v === undefined) return "\u2013";
    if (typeof v === "number") return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : String(+v.toPrecision(4));
    return String(v);
  }

  function show(k) {
    k = Math.max(0, Math.min(D.snapshots.length - 1, k | 0));
    current = k;
    var s = D.snapshots[k], vals = s.values[D.attr] || [], act = s.values.active || [],
        learned = s.values.learned || [];
    var alive = {}, hasIn = {}, hasOut = {};
    for (var e = 0; e < edgeEls.length; e++) {
      var el = edgeEls[e], v = vals[e], on = act[e] !== false, fixed = learned[e] === false;
      var a = v === null || v === undefined ? 0 : Math.min(1, Math.abs(v) / S.scale);
      var line = el.querySelector(".line"), head = el.querySelector(".head");
      var colour = fixed ? mix(S.fixed, S.fixed, 0) : mix(S.grey, typeof v === "number" && v < 0 ? S.red : S.blue, a);
      line.setAttribute("stroke-width", (fixed ? 1 : S.width[0] + S.width[1] * a).toFixed(2));
      line.style.stroke = colour;
      if (head) head.style.fill = colour;
      var alpha = fixed ? 0.7 : S.alpha[0] + S.alpha[1] * a;
      el.setAttribute("opacity", (on ? alpha : Math.max(0.2, alpha * 0.5)).toFixed(3));
      el.classList.toggle("neg", typeof v === "number" && v < 0);
      el.classList.toggle("fixed", fixed);
      el.classList.toggle("inactive", !on);
      el.style.display = on || showInactive.checked ? "" : "none";
      if (on) { hasOut[D.edges[e][0]] = true; hasIn[D.edges[e][1]] = true; }
    }
    for (var n = 0; n < nodeEls.length; n++) {
      var role = D.nodes[n].role;
      var ok = (role === "input" || hasIn[n]) && (role === "output" || hasOut[n]);
      nodeEls[n].classList.toggle("dead", !ok);
    }
    slider.value = String(k);
    label.textContent = s.label + "  (" + (k + 1) + "/" + D.snapshots.length + ")";
    metrics.textContent = Object.keys(s.metrics || {}).map(function (m) { return m + " " + fmt(s.metrics[m]); }).join("  \u00b7  ");
    if (hovered !== null) tip.textContent = hovered();  // the tooltip follows the slider
  }

  function edgeText(e) {
    var s = D.snapshots[current], lines = [D.nodes[D.edges[e][0]].label + " \u2192 " + D.nodes[D.edges[e][1]].label];
    D.keys.forEach(function (key) {
      var row = s.values[key];
      if (row && row[e] !== null && row[e] !== undefined) lines.push(key + ": " + fmt(row[e]));
    });
    var extra = D.edgeInfo[e] || {};
    Object.keys(extra).forEach(function (key) { if (!(key in s.values)) lines.push(key + ": " + fmt(extra[key])); });
    return lines.join("\n");
  }

  function nodeText(n) {
    var info = D.nodes[n], lines = [String(info.label)];
    Object.keys(info.attrs).forEach(function (key) { lines.push(key + ": " + fmt(info.attrs[key])); });
    return lines.join("\n");
  }

  function place(ev) {
    tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 4) + "px";
    tip.style.top = Math.min(ev.clientY + 14, window.innerHeight - tip.offsetHeight - 4) + "px";
  }

  function hover(el, text) {
    el.addEventListener("mouseover", function (ev) {
      hovered = text;
      tip.textContent = text();
      tip.style.display = "block";
      el.classList.add("hover");
      place(ev);
    });
    el.addEventListener("mousemove", place);
    el.addEventListener("mouseout", function () {
      hovered = null; tip.style.display = "none"; el.classList.remove("hover");
    });
  }
  edgeEls.forEach(function (el, e) { hover(el, function () { return edgeText(e); }); });
  nodeEls.forEach(function (el, n) { hover(el, function () { return nodeText(n); }); });

  slider.addEventListener("input", function () { show(parseInt(slider.value, 10)); });
  showInactive.addEventListener("change", function () { show(current); });
  var timer = null;
  play.addEventListener("click", function () {
    if (timer !== null) { clearInterval(timer); timer = null; play.textContent = "\u25b6 play"; return; }
    if (current >= D.snapshots.length - 1) show(0);
    play.textContent = "\u275a\u275a pause";
    timer = setInterval(function () {
      if (current >= D.snapshots.length - 1) { clearInterval(timer); timer = null; play.textContent = "\u25b6 play"; return; }
      show(current + 1);
    }, Math.max(60, Math.min(600, 6000 / D.snapshots.length)));
  });
  if (D.snapshots.length < 2) { slider.disabled = true; play.disabled = true; }
  window.graphwire = {show: show, data: D, current: function () { return current; }};
  show(D.start);
})();
"""


def to_html(G: nx.DiGraph, history: Any = None, path: str | os.PathLike | None = None, *,
            attr: str = "weight", title: str | None = None, rankdir: str | None = None,
            start: int = -1, layout: str = "auto", timeout: float = 120.0) -> str:
    """Write ``G`` as one self-contained interactive HTML page; return the HTML text.

    The nodes and edge routes come from Graphviz (``dot -Tjson``) with ``layout="dot"``, or from a
    built-in layered layout (one column per topological generation, curved edges) with
    ``layout="layered"``. ``layout="auto"`` uses Graphviz unless the graph is too dense for it to
    finish quickly (see :data:`DOT_COST_LIMIT`) or ``dot`` is not installed (then it warns, with
    the install hint, and uses the layered layout); ``layout="dot"`` raises a
    :class:`~graphwire.errors.RenderError` when ``dot`` is missing. With
    ``history`` (a :class:`graphwire.io.History` or the path of a saved one) a slider walks
    through its snapshots (a list of graphs, one per snapshot, works too: each graph's edge
    attributes are that snapshot's values, an edge a graph lacks is inactive there): each edge's width and opacity follow ``attr`` (default ``weight``),
    inactive edges are hidden ("show inactive" draws them dashed), and nodes left without an
    active input or output fade. Without a history the page shows ``G``'s own edge attributes.
    Hovering an edge shows every recorded value at the current snapshot; hovering a node its
    attributes. ``start`` is the snapshot shown first (default: the last). The page needs no
    network (no CDN, no fonts to fetch) and is written atomically to ``path`` when given.

    Edges of ``G`` that the history does not know keep their own values, so a pruned graph can
    be shown with the full network's history.

    >>> import graphwire as gw
    >>> page = gw.io.to_html(gw.generators.chain(2))
    >>> page.startswith("<!DOCTYPE html>") and "gw-slider" in page
    True
    """
    validate(G)
    if not isinstance(attr, str):
        raise ParameterError(f"attr must be an edge attribute name, got {attr!r}")
    rankdir = _check_rankdir(rankdir)
    nodes = list(G.nodes)
    edges = list(G.edges)
    gens = generations(G)
    if rankdir is None:
        rankdir = "LR" if len(gens) > max(len(g) for g in gens) else "TB"
    if isinstance(history, (list, tuple)):
        if not history:
            raise ParameterError("to_html: the list of snapshot graphs is empty")
        history = _history_from_graphs(G, list(history))
    elif history is not None:
        from .history import History

        if not isinstance(history, History):
            history = History.load(history)
        history.check_graph(G)
    if history is None and attr != "weight" and not any(_num(d.get(attr)) is not None for *_, d in G.edges(data=True)):
        numeric = sorted({k for *_, d in G.edges(data=True) for k, v in d.items() if _num(v) is not None})
        raise ParameterError(f"attr {attr!r}: no edge of the graph has a numeric {attr!r} (numeric edge attributes "
                             f"here: {numeric or 'none'}); show one of those, or the default weight")
    snaps, keys = _history_data(G, edges, history, attr)
    if not isinstance(start, int) or isinstance(start, bool) or not -len(snaps) <= start < len(snaps):
        raise ParameterError(f"start must be a snapshot index in [-{len(snaps)}, {len(snaps) - 1}], got {start!r}")
    if layout not in LAYOUTS:
        raise ParameterError(f"layout must be one of {list(LAYOUTS)}, got {layout!r}")
    engine = layout
    if layout == "auto":
        engine = "dot" if _dot_cost(G, gens) <= DOT_COST_LIMIT else "layered"
        if engine == "dot" and shutil.which("dot") is None:
            warnings.warn(f"to_html: the Graphviz 'dot' program was not found, using the built-in layered "
                          f"layout; {INSTALL_HINT}", stacklevel=2)
            engine = "layered"
    if engine == "dot":
        lay = _parse_layout(run_dot(_layout_dot(G, nodes, edges, rankdir), "json", timeout=timeout),
                            len(nodes), len(edges))
    else:
        lay = _layered_layout(G, nodes, edges, gens, rankdir)
    index = {n: i for i, n in enumerate(nodes)}
    node_info = []
    for n in nodes:
        d = G.nodes[n]
        attrs = {"role": node_attr(G, n, "role")}
        attrs.update({k: _info(v) for k, v in d.items() if k != "role"})
        node_info.append({"label": _display(n, 60), "role": attrs["role"], "attrs": attrs})
    # numbers come from the snapshot being shown; only descriptions (an op name...) are fixed
    edge_info = [{k: _info(v) for k, v in G.edges[u, v].items()
                  if k != "active" and _num(v) is None and not isinstance(v, (list, tuple))} for u, v in edges]
    record = G.graph.get("graphwire") if isinstance(G.graph.get("graphwire"), dict) else {}
    wiring = record.get("wiring") if isinstance(record.get("wiring"), str) else (
        history.meta.get("wiring") if history is not None else None)
    heading = title if title is not None else (
        f"graphwire: {G.number_of_nodes()} nodes, {G.number_of_edges()} edges"
        + (f", {wiring} wiring" if isinstance(wiring, str) else ""))
    scale = style.gate_scale(v for s in snaps for v in (s["values"].get(attr) or []))
    look = {"scale": scale, "width": list(style.WIDTH), "alpha": list(style.ALPHA), "grey": list(style.GREY),
            "blue": list(style.BLUE), "red": list(style.RED), "fixed": list(style.FIXED)}
    payload = {"layout": engine, "attr": attr, "keys": keys, "start": start % len(snaps), "snapshots": snaps,
               "style": look,
               "edges": [[index[u], index[v]] for u, v in edges], "nodes": node_info, "edgeInfo": edge_info}
    blob = json.dumps(payload, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    blob = blob.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    esc = _html.escape
    page = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(heading)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<header>",
        f"<h1>{esc(heading)}</h1>",
        '<button id="gw-play" type="button">\u25b6 play</button>',
        f'<input id="gw-slider" type="range" min="0" max="{len(snaps) - 1}" step="1" value="{start % len(snaps)}" '
        f'aria-label="training snapshot">',
        '<span id="gw-label"></span>',
        '<label><input id="gw-show-inactive" type="checkbox"> show inactive edges</label>',
        '<span id="gw-metrics"></span>',
        "</header>",
        _legend_html(G, attr, scale),
        f"<main>{_svg(G, nodes, edges, lay)}</main>",
        f"<footer>The look is the SVG's: {esc(attr)} at the snapshot shown. Hover an edge or a node for its "
        f"values at this snapshot. Layout: {'Graphviz dot' if engine == 'dot' else 'layered'}. "
        "Made with graphwire.</footer>",
        '<div id="gw-tip" role="tooltip"></div>',
        f'<script type="application/json" id="gw-data">{blob}</script>',
        f"<script>{_JS}</script>",
        "</body></html>",
    ]) + "\n"
    if path is not None:
        atomic_write(path, page)
    return page
