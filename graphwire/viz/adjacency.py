"""The learned wiring as a matrix, and degree histograms before/after pruning (matplotlib).

Convention: **row = target node, column = source node**, nodes in (label-ordered) topological
order, so a DAG's matrix is strictly lower-triangular: row ``v`` reads "what ``v`` listens to".
Cells without an edge are blank (NaN).
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any

import networkx as nx

from ..errors import ParameterError
from ..graph import inputs, outputs, sort_key
from ..io import style
from .history import _figure, _label, save_figure

__all__ = ["plot_adjacency", "plot_degrees", "adjacency_matrix", "check_pruning"]


def _graph(G: Any, what: str = "G") -> nx.DiGraph:
    if isinstance(G, nx.DiGraph):
        return G
    if isinstance(G, (str, os.PathLike)):
        from ..io import load

        return load(G, format="dot" if str(G).lower().endswith((".dot", ".gv")) else "json")
    raise ParameterError(f"{what} must be a networkx.DiGraph or the path of a graph file, got {type(G).__name__}")


def _order(G: nx.DiGraph) -> list:
    return list(nx.lexicographical_topological_sort(G, key=sort_key))


def _value(data: dict, attr: str) -> float:
    v = data.get(attr)
    if v is None:
        return 1.0 if attr == "weight" else math.nan  # an unweighted edge is a plain 1
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, numbers.Real):
        return float(v)
    return math.nan


def _numeric_attrs(G: nx.DiGraph) -> list[str]:
    keys: dict[str, None] = {}
    for *_, d in G.edges(data=True):
        keys.update((k, None) for k, v in d.items() if isinstance(v, numbers.Real))
    return list(keys)


def adjacency_matrix(G: nx.DiGraph, attr: str = "weight", nodes: list | None = None):
    """``(nodes, M)``: ``M[i, j]`` is edge ``nodes[j] -> nodes[i]``'s ``attr`` (NaN where no edge).

    ``attr`` is any numeric edge attribute (bools count as 0/1); a missing ``weight`` counts as 1.

    >>> import networkx as nx
    >>> nodes, M = adjacency_matrix(nx.DiGraph([(0, 1, {"weight": 0.5}), (1, 2, {"weight": 0.25})]))
    >>> nodes, float(M[1, 0]), float(M[2, 1]), bool(M[0, 1] != M[0, 1])
    ([0, 1, 2], 0.5, 0.25, True)
    """
    import numpy as np

    if not isinstance(attr, str):
        raise ParameterError(f"attr must be an edge attribute name, got {attr!r}")
    G = _graph(G)
    if attr != "weight" and G.number_of_edges() and not any(
            isinstance(d.get(attr), numbers.Real) for *_, d in G.edges(data=True)):
        raise ParameterError(f"no edge has a numeric {attr!r}; numeric edge attributes here: "
                             f"{_numeric_attrs(G) or 'none'}")
    nodes = _order(G) if nodes is None else list(nodes)
    pos = {n: i for i, n in enumerate(nodes)}
    M = np.full((len(nodes), len(nodes)), np.nan)
    for u, v, d in G.edges(data=True):
        if u in pos and v in pos:
            M[pos[v], pos[u]] = _value(d, attr)
    return nodes, M


def plot_adjacency(G: Any, attr: str = "weight", *, per_stage: bool = False, ax=None,
                   path: str | os.PathLike | None = None, cmap: str | None = None, title: str | None = None,
                   annotate: bool | None = None, dpi: int = 120):
    """Draw the adjacency matrix of ``G`` coloured by the edge attribute ``attr``; return the Figure.

    Rows are target nodes, columns source nodes (topological order, so a DAG fills the lower
    triangle); cells without an edge are blank. ``attr`` is any numeric edge attribute
    (``"weight"``, ``"share"``, ``"p_open"``, ``"ddw_mean"``, ``"ddw_std"``...). With
    ``per_stage=True`` there is one panel per node ``stage`` (edges inside the stage, one shared
    colour scale). Colours and scale are the SVG's (:mod:`graphwire.io.style`): values in [0, 1]
    (gates) from grey at 0 to dark blue at 1, absolutely; other values up to their largest
    magnitude; signed values red (negative) to blue (positive). Edges whose gate could not learn
    (``learned=False``) are hatched. ``annotate`` writes the values
    into the cells (default: for at most 12 nodes). ``path`` saves the figure atomically.

    >>> import graphwire as gw
    >>> G = gw.generators.complete(3)
    >>> fig = plot_adjacency(G)
    >>> fig.axes[0].images[0].get_array().shape
    (5, 5)
    """
    import numpy as np

    G = _graph(G)
    if per_stage:
        stages = sorted({d["stage"] for _, d in G.nodes(data=True)
                         if isinstance(d.get("stage"), int) and not isinstance(d.get("stage"), bool)})
        if not stages:
            raise ParameterError("per_stage=True needs nodes with a 'stage' attribute (graphwire.generators.stack)")
        if ax is not None:
            raise ParameterError("per_stage=True draws several panels; leave ax=None")
        order = _order(G)
        panels = [(f"stage {s}", [n for n in order if G.nodes[n].get("stage") == s]) for s in stages]
    else:
        panels = [(None, _order(G))]
    mats = [(name, *adjacency_matrix(G, attr, nodes)) for name, nodes in panels]
    finite = np.concatenate([M[np.isfinite(M)] for *_, M in mats]) if mats else np.array([])
    # the SVG's scale (graphwire.io.style): gates in [0, 1] absolutely, anything else by its largest magnitude
    scale = style.gate_scale(finite.tolist())
    signed = bool(finite.size) and float(finite.min()) < 0
    vmin, vmax = (-scale, scale) if signed else (0.0, scale)

    import matplotlib
    from matplotlib.colors import LinearSegmentedColormap

    if cmap is not None:
        cmap_obj = matplotlib.colormaps[cmap]
    elif signed:  # negative red, positive blue, as in the SVG
        cmap_obj = matplotlib.colormaps["RdBu"]
    else:  # grey (closing) to dark blue (open), the SVG's edge colours
        cmap_obj = LinearSegmentedColormap.from_list(
            "graphwire", [style.hex_colour(style.GREY), style.hex_colour(style.BLUE)])
    cmap_obj = cmap_obj.with_extremes(bad="#ffffff")
    from matplotlib.patches import Rectangle

    fig, axes = _figure(ax, ncols=len(mats), size=(5.2, 4.6))
    image = None
    for a, (name, nodes, M) in zip(axes, mats):
        image = a.imshow(np.ma.masked_invalid(M), cmap=cmap_obj, vmin=vmin, vmax=vmax, interpolation="nearest")
        n = len(nodes)
        a.set_xlabel("source node")
        a.set_ylabel("target node")
        if n <= 40:
            a.set_xticks(range(n), [_label(x, 8) for x in nodes], rotation=90, fontsize=7)
            a.set_yticks(range(n), [_label(x, 8) for x in nodes], fontsize=7)
        a.set_xticks(np.arange(-0.5, n, 1), minor=True)
        a.set_yticks(np.arange(-0.5, n, 1), minor=True)
        a.grid(which="minor", color="#eeeeee", lw=0.5 if n <= 60 else 0)
        a.tick_params(which="minor", length=0)
        if annotate if annotate is not None else n <= 12:
            for i in range(n):
                for j in range(n):
                    if math.isfinite(M[i, j]):
                        dark = (M[i, j] - vmin) / ((vmax - vmin) or 1.0) < 0.5
                        a.text(j, i, f"{M[i, j]:.2g}", ha="center", va="center", fontsize=6,
                               color="white" if dark and not signed else "black")
        pos = {x: k for k, x in enumerate(nodes)}
        fixed = [(pos[v], pos[u]) for u, v, d in G.edges(data=True)
                 if d.get("learned") is False and u in pos and v in pos]
        for i, j in fixed:  # a gate that could not learn: hatched in the SVG's "fixed" grey
            a.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="....", lw=0.0,
                                  edgecolor=style.hex_colour(style.FIXED), gid="fixed"))
        if fixed:
            a.set_xlabel("source node\n(hatched: fixed, its gate could not learn)")
        if name is not None:
            a.set_title(name, fontsize=10)
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.85, pad=0.02)
        bar.set_label(attr)
    heading = title if title is not None else f"{attr} (rows: target, columns: source)"
    if len(axes) > 1:
        fig.suptitle(heading, fontsize=11)
    elif not axes[0].get_title():
        axes[0].set_title(heading, fontsize=10)
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


def _degrees(G: nx.DiGraph) -> tuple[list[int], list[int]]:
    ins, outs = set(inputs(G)), set(outputs(G))
    return ([d for n, d in G.in_degree() if n not in ins], [d for n, d in G.out_degree() if n not in outs])


def check_pruning(G: nx.DiGraph, H: nx.DiGraph, *, what: str = "pruned", of: str = "G") -> None:
    """A :class:`~graphwire.errors.ParameterError` unless ``H`` is a pruning of ``G``: every node and
    edge of ``H`` is one of ``G``'s."""
    nodes = [n for n in H if n not in G]
    edges = [e for e in H.edges if not G.has_edge(*e)]
    if nodes or edges:
        what_is = (f"{len(nodes)} of its {H.number_of_nodes()} nodes" if nodes else
                   f"{len(edges)} of its {H.number_of_edges()} edges")
        example = nodes[:4] if nodes else edges[:4]
        raise ParameterError(f"{what} is not a pruning of {of}: {what_is} are not in {of} (e.g. {example}); "
                             f"pass the graph that {of} was pruned to (graphwire.prune / graphwire prune)")


def plot_degrees(G: Any, pruned: Any = None, *, path: str | os.PathLike | None = None,
                 title: str | None = None, labels: tuple[str, str] = ("before pruning", "after pruning"),
                 dpi: int = 120):
    """Histograms of in-degrees (non-input nodes) and out-degrees (non-output nodes); return the Figure.

    With ``pruned`` (e.g. ``graphwire.prune(G, ...)``) the two graphs' histograms sit side by side
    in each panel, so what pruning did to the fan-in and fan-out reads at a glance.

    >>> import graphwire as gw
    >>> G = gw.generators.complete(4)
    >>> for i, (u, v) in enumerate(G.edges):
    ...     G.edges[u, v]["weight"] = float(15 - i)
    >>> fig = plot_degrees(G, gw.prune(G, keep=0.5))
    >>> [a.get_title() for a in fig.axes]
    ['in-degree', 'out-degree']
    """
    import numpy as np

    G = _graph(G)
    H = _graph(pruned, "pruned") if pruned is not None else None
    if H is not None:
        check_pruning(G, H)
    before = _degrees(G)
    after = _degrees(H) if H is not None else None
    fig, axes = _figure(None, ncols=2, size=(4.4, 3.6))
    for k, (a, name) in enumerate(zip(axes, ("in-degree", "out-degree"))):
        data = [before[k]] + ([after[k]] if after is not None else [])
        top = max((max(d) for d in data if d), default=0)
        bins = np.arange(-0.5, top + 1.5, 1.0)
        a.hist(data, bins=bins, label=list(labels[: len(data)]), color=["#4c72b0", "#dd8452"][: len(data)],
               rwidth=0.9)
        a.set_title(name, fontsize=10)
        a.set_xlabel("degree")
        a.set_ylabel("nodes")
        if top <= 30:
            a.set_xticks(range(0, top + 1, max(1, (top + 1) // 10)))
        a.grid(True, axis="y", alpha=0.3)
        if after is not None:
            a.legend(fontsize=8, frameon=False)
    fig.suptitle(title if title is not None else
                 f"degrees: {G.number_of_edges()} edges" + (f" -> {H.number_of_edges()} after pruning" if H else ""),
                 fontsize=11)
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig
