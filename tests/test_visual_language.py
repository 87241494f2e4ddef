"""The SVG (DOT), the HTML page and the plots speak one visual language (graphwire.io.style): the same
absolute scale for gates, fixed and inactive edges marked the same way, the same legend."""

from __future__ import annotations

import json
import re

import networkx as nx
import pytest

import graphwire as gw
from graphwire.io import style


def middling_gates() -> nx.DiGraph:
    """complete(3) with gates between 0.44 and 0.56; node 1's only input is a gate that could not learn."""
    G = gw.generators.complete(3)
    for i, (u, v) in enumerate(G.edges):
        G.edges[u, v].update(weight=0.44 + 0.12 * i / (G.number_of_edges() - 1), active=(u, v) != (2, 4),
                             learned=(u, v) != (0, 1))
    return G


def _dot_edges(text: str) -> dict:
    out = {}
    for m in re.finditer(r"^  (\d+) -> (\d+) \[(.*)\];$", text, re.M):
        attrs = dict(re.findall(r'(\w+)=("[^"]*"|[^,\]]+)', m.group(3)))
        out[int(m.group(1)), int(m.group(2))] = attrs
    return out


def _page_data(page: str) -> dict:
    return json.loads(re.search(r'id="gw-data">(.*?)</script>', page, re.S).group(1))


def test_gates_use_the_absolute_scale_everywhere():
    G = middling_gates()
    dot = _dot_edges(gw.io.to_dot(G))
    data = _page_data(gw.io.to_html(G, layout="layered"))
    assert data["style"]["scale"] == 1.0 == style.gate_scale(d["weight"] for *_, d in G.edges(data=True))
    assert data["style"]["width"] == list(style.WIDTH) and data["style"]["alpha"] == list(style.ALPHA)
    for u, v, d in G.edges(data=True):
        if d["learned"]:
            # half a gate is half the width in both pictures, not the thickest line
            assert float(dot[u, v]["penwidth"]) == pytest.approx(style.WIDTH[0] + style.WIDTH[1] * d["weight"], abs=0.01)
            assert float(dot[u, v]["penwidth"]) < 3.0
    k = list(G.edges).index((0, 1))
    assert data["snapshots"][0]["values"]["learned"][k] is False  # the page marks it fixed, as the SVG does
    assert dot[0, 1]["style"] == "dotted" and dot[2, 4]["style"] == "dashed"


def test_other_values_scale_by_their_largest_magnitude():
    G = gw.generators.chain(2)
    for i, (u, v) in enumerate(G.edges):
        G.edges[u, v]["weight"] = [-2.0, 1.0, 4.0][i]
    assert style.gate_scale(d["weight"] for *_, d in G.edges(data=True)) == 4.0
    dot = _dot_edges(gw.io.to_dot(G))
    assert float(dot[2, 3]["penwidth"]) == pytest.approx(4.0)
    assert dot[0, 1]["color"].startswith('"#') and style.edge_colour(-2.0, 4.0)[0][0] > style.edge_colour(1.0, 4.0)[0][0]
    assert _page_data(gw.io.to_html(G, layout="layered"))["style"]["scale"] == 4.0


def test_the_page_carries_the_svg_legend():
    G = middling_gates()
    rows = style.legend_rows([d for *_, d in G.edges(data=True)], roles={"input", "output"})
    dot = gw.io.to_dot(G)
    page = gw.io.to_html(G, layout="layered")
    legend = re.search(r'<div id="gw-legend".*?</div>', page, re.S).group(0)
    for _, text in rows:
        plain = text.replace("'", "&#x27;").replace('"', "&quot;")
        assert plain in legend, text
        assert text.replace("&", "&amp;") in dot or text in dot, text
    assert "how to read this picture" in legend and "absolute" in legend and "fixed" in legend
    assert "gw-legend" in gw.io.to_html(gw.generators.chain(2), layout="layered")  # an empty key without values


def test_plots_share_the_scale_colours_and_marks():
    pytest.importorskip("matplotlib")
    from matplotlib.colors import to_hex

    G = middling_gates()
    fig = gw.viz.plot_adjacency(G)
    im = fig.axes[0].images[0]
    assert im.get_clim() == (0.0, 1.0)  # absolute, not the data's 0.44..0.56
    assert to_hex(im.get_cmap()(1.0)) == style.hex_colour(style.BLUE)
    assert to_hex(im.get_cmap()(0.0)) == style.hex_colour(style.GREY)
    assert len([p for p in fig.axes[0].patches if p.get_gid() == "fixed"]) == 1  # (0, 1) hatched

    h = gw.io.History(edges=list(G.edges))
    h.add({"weight": [0.5] * 10, "active": [True] * 10, "learned": [e != (0, 1) for e in G.edges]}, epoch=0, step=0)
    h.add({"weight": [d["weight"] for *_, d in G.edges(data=True)],
           "active": [d["active"] for *_, d in G.edges(data=True)],
           "learned": [d["learned"] for *_, d in G.edges(data=True)]}, epoch=1, step=5)
    fig = gw.viz.plot_edge_history(h)
    lines = {ln.get_gid(): ln for ln in fig.axes[0].lines}
    assert lines["edge 0->1"].get_linestyle() == ":" and to_hex(lines["edge 0->1"].get_color()) == style.hex_colour(style.FIXED)
    assert lines["edge 2->4"].get_linestyle() == "--"
    assert fig.axes[0].get_ylim() == pytest.approx((-0.03, 1.03))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "fixed: could not learn" in labels and "inactive at end" in labels
