"""graphwire.viz: edge-weight evolution, adjacency heatmaps, degree histograms (matplotlib, no pyplot)."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest

pytest.importorskip("matplotlib")
import matplotlib
from matplotlib.colors import to_rgba

import graphwire as gw
from graphwire import viz
from graphwire.errors import FormatError, ParameterError
from graphwire.io import History

PNG = b"\x89PNG\r\n\x1a\n"


def _history():
    h = History(edges=[(0, 1), (0, 2), (1, 3), (2, 3)], meta={"wiring": "sigmoid"})
    h.add({"weight": [0.5] * 4, "active": [True] * 4}, epoch=0, step=0)
    h.add({"weight": [0.6, 0.4, 0.7, 0.3], "active": [True] * 4, "p_open": [0.9, 0.8, 0.7, 0.6]}, epoch=0.5, step=2)
    h.add({"weight": [0.9, 0.1, 0.8, 0.2], "active": [True, False, True, True]}, epoch=1, step=4)
    return h


def _lines(fig):
    return [ln for ln in fig.axes[0].lines if ln.get_gid()]


def test_edge_history_one_line_per_edge_coloured_by_source(tmp_path):
    backend = matplotlib.get_backend()
    h = _history()
    fig = viz.plot_edge_history(h, path=tmp_path / "evo.png")
    lines = _lines(fig)
    assert [ln.get_gid() for ln in lines] == ["edge 0->1", "edge 0->2", "edge 1->3", "edge 2->3"]
    assert list(lines[0].get_xdata()) == [0, 0.5, 1]
    assert list(lines[1].get_ydata()) == [0.5, 0.4, 0.1]
    colour = [to_rgba(ln.get_color()) for ln in lines]
    assert colour[0] == colour[1] and len({colour[0], colour[2], colour[3]}) == 3  # by source node
    assert lines[1].get_linestyle() == "--" and lines[0].get_linestyle() == "-"  # inactive at the end
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["0", "1", "2", "inactive at end"]
    assert (tmp_path / "evo.png").read_bytes().startswith(PNG)
    assert matplotlib.get_backend() == backend  # no pyplot, no backend switch


def test_edge_history_from_file_other_attribute_and_subset(tmp_path):
    path = _history().save(tmp_path / "h.json")
    fig = viz.plot_edge_history(path, "p_open", edges=[(1, 3)])
    (line,) = _lines(fig)
    y = line.get_ydata()
    assert math.isnan(y[0]) and y[1] == 0.7 and math.isnan(y[2])  # recorded only at epoch 0.5
    assert fig.axes[0].get_ylabel() == "p_open"
    with pytest.raises(ParameterError, match="no per-edge 'ddw_mean'"):
        viz.plot_edge_history(path, "ddw_mean")
    with pytest.raises(ParameterError, match="flag"):
        viz.plot_edge_history(path, "active")
    with pytest.raises(ParameterError, match=r"edge \(3, 0\)"):
        viz.plot_edge_history(path, edges=[(3, 0)])
    with pytest.raises(ParameterError, match="no snapshots"):
        viz.plot_edge_history(History())
    with pytest.raises(FormatError):
        viz.plot_edge_history(tmp_path / "missing.json")


def test_many_sources_get_a_colour_bar():
    edges = [(i, i + 1) for i in range(15)]
    h = History(edges=edges)
    h.add({"weight": [float(i) for i in range(15)]}, epoch=0, step=0)
    fig = viz.plot_edge_history(h)
    assert fig.axes[0].get_legend() is None and len(fig.axes) == 2  # a colour bar instead
    assert len(_lines(fig)) == 15


def _weighted():
    G = gw.generators.complete(3)  # 0 -> 1,2,3 -> 4
    for i, (u, v) in enumerate(G.edges):
        G.edges[u, v]["weight"] = 0.1 * (i + 1)
        G.edges[u, v]["ddw_mean"] = (-1) ** i * 0.2 * (i + 1)
    return G


def test_adjacency_rows_are_targets_columns_sources(tmp_path):
    G = _weighted()
    fig = viz.plot_adjacency(G, path=tmp_path / "adj.svg")
    M = fig.axes[0].images[0].get_array()
    assert M.shape == (5, 5)
    for u, v, d in G.edges(data=True):
        assert M[v, u] == pytest.approx(d["weight"])
    assert M.mask.sum() == 25 - G.number_of_edges()  # blank where there is no edge
    assert np.all(M.mask[np.triu_indices(5)])  # a DAG in topological order: lower triangle only
    assert "<svg" in (tmp_path / "adj.svg").read_text()
    assert fig.axes[0].get_xlabel() == "source node" and fig.axes[0].get_ylabel() == "target node"


def test_adjacency_any_numeric_stat_signed_and_unweighted():
    G = _weighted()
    fig = viz.plot_adjacency(G, attr="ddw_mean")
    im = fig.axes[0].images[0]
    lo, hi = im.get_clim()
    assert lo == -hi and hi == pytest.approx(max(abs(d["ddw_mean"]) for *_, d in G.edges(data=True)))
    assert im.get_cmap().name.startswith("RdBu")
    plain = gw.generators.chain(2)
    M = viz.plot_adjacency(plain).axes[0].images[0].get_array()
    assert M[1, 0] == 1.0 and M[3, 2] == 1.0  # an edge without a weight counts as 1
    with pytest.raises(ParameterError, match="numeric edge attributes here: \\['weight', 'ddw_mean'\\]"):
        viz.plot_adjacency(G, attr="ddw_std")
    nodes, A = viz.adjacency_matrix(G, "weight")
    assert nodes == [0, 1, 2, 3, 4] and A[4, 3] == pytest.approx(G.edges[3, 4]["weight"])


def test_adjacency_per_stage_panels():
    S = gw.generators.stack(gw.generators.watts_strogatz, 3, seed=1, n=6, k=2, p=0.5)
    for u, v in S.edges:
        S.edges[u, v]["ddw_std"] = 0.5
    fig = viz.plot_adjacency(S, attr="ddw_std", per_stage=True)
    panels = [a for a in fig.axes if a.images]
    assert [a.get_title() for a in panels] == ["stage 0", "stage 1", "stage 2"]
    for k, a in enumerate(panels):
        n = sum(1 for _, d in S.nodes(data=True) if d["stage"] == k)
        M = a.images[0].get_array()
        inside = sum(1 for u, v in S.edges if S.nodes[u]["stage"] == S.nodes[v]["stage"] == k)
        assert M.shape == (n, n) and (~M.mask).sum() == inside
    with pytest.raises(ParameterError, match="stage"):
        viz.plot_adjacency(gw.generators.chain(2), per_stage=True)


def test_degrees_before_and_after_pruning(tmp_path):
    G = _weighted()
    P = gw.prune(G, keep=0.5, ensure_path=True)
    assert P.number_of_edges() < G.number_of_edges()
    fig = viz.plot_degrees(G, P, path=tmp_path / "deg.png")
    ax_in, ax_out = fig.axes[:2]
    # in-degree of non-input nodes, grouped as [before bars..., after bars...]
    bars = [p.get_height() for p in ax_in.patches]
    before = [d for n, d in G.in_degree() if n != 0]
    after = [d for n, d in P.in_degree() if P.nodes[n].get("role") != "input"]
    top = max(before)
    assert bars[: top + 1] == [before.count(k) for k in range(top + 1)]
    assert bars[top + 1:] == [after.count(k) for k in range(top + 1)]
    assert ax_out.get_title() == "out-degree" and sum(p.get_height() for p in ax_out.patches) == \
        (G.number_of_nodes() - 1) + (P.number_of_nodes() - 1)
    assert (tmp_path / "deg.png").read_bytes().startswith(PNG)
    single = viz.plot_degrees(nx.DiGraph(G))
    assert sum(p.get_height() for p in single.axes[0].patches) == G.number_of_nodes() - 1


def test_bad_suffix_and_bad_input(tmp_path):
    with pytest.raises(ParameterError, match="suffixes"):
        viz.plot_adjacency(_weighted(), path=tmp_path / "adj.txt")
    assert not list(tmp_path.iterdir())
    with pytest.raises(ParameterError, match="DiGraph"):
        viz.plot_adjacency(42)


def test_docstring_examples():
    import doctest
    import importlib

    for name in ['graphwire.viz.history', 'graphwire.viz.adjacency']:
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, name
