"""The evolution of the wiring during training: one line per edge over the snapshots of a History.

Plots are drawn on a plain :class:`matplotlib.figure.Figure` (no pyplot, so the global backend
and any open windows are left alone); ``path=`` saves it atomically, the format taken from the
suffix. matplotlib is imported on first use (``pip install graphwire[viz]``).
"""

from __future__ import annotations

import io as _io
import math
import os
from pathlib import Path
from typing import Any, Sequence

from ..errors import ParameterError
from ..graph import sort_key
from ..io import style
from ..io._atomic import atomic_write

__all__ = ["plot_edge_history"]


# ---------------------------------------------------------------- shared helpers (viz.adjacency uses them)
def _mpl():
    """matplotlib's Figure class, with a clear error when matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise ParameterError(
            "plotting needs matplotlib: pip install 'graphwire[viz]' (or pip install matplotlib)") from None
    return Figure


def _figure(ax=None, *, ncols: int = 1, size: tuple[float, float] = (7.0, 4.2)):
    """``(figure, [axes])``: the given axes' figure, or a fresh Figure with ``ncols`` panels."""
    if ax is not None:
        return ax.figure, [ax]
    Figure = _mpl()
    fig = Figure(figsize=(size[0] * ncols if ncols > 1 else size[0], size[1]), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Save ``fig`` atomically to ``path`` (format from the suffix: png, svg, pdf...).

    >>> import os, tempfile
    >>> from matplotlib.figure import Figure
    >>> save_figure(Figure(), os.path.join(tempfile.mkdtemp(), "empty.svg")).suffix
    '.svg'
    """
    target = Path(os.fspath(path))
    fmt = target.suffix.lstrip(".").lower()
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ParameterError(
            f"cannot save a plot as {target.name!r}: use one of the suffixes {sorted('.' + k for k in supported)}")
    buf = _io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    return atomic_write(target, buf.getvalue())


def _as_history(history: Any):
    from ..io.history import History

    if isinstance(history, History):
        return history
    if isinstance(history, (str, os.PathLike, dict, bytes)):
        return History.load(history)
    raise ParameterError(
        f"expected a graphwire.io.History (or the path of a saved one), got {type(history).__name__}")


def _source_colours(sources: list, cmap_name: str = "tab10"):
    """One colour per distinct source node (qualitative palette when few, viridis otherwise)."""
    import matplotlib

    distinct = sorted(set(sources), key=sort_key)
    if len(distinct) <= 10:
        cmap = matplotlib.colormaps[cmap_name]
        return {s: cmap(i % cmap.N) for i, s in enumerate(distinct)}, distinct
    cmap = matplotlib.colormaps["viridis"]
    n = max(len(distinct) - 1, 1)
    return {s: cmap(i / n) for i, s in enumerate(distinct)}, distinct


def _label(x: Any, limit: int = 18) -> str:
    s = str(x)
    return s if len(s) <= limit else s[: limit - 1] + "\u2026"


# ---------------------------------------------------------------- edge-weight evolution
def plot_edge_history(history: Any, attr: str = "weight", *, edges: Sequence[tuple] | None = None,
                      ax=None, path: str | os.PathLike | None = None, title: str | None = None,
                      max_legend: int = 12, dpi: int = 120):
    """Plot how every edge's ``attr`` evolved over training; return the matplotlib Figure.

    ``history`` is a :class:`graphwire.io.History` or the path of a saved one. One line per edge
    (or per edge in ``edges``), x = epoch (fractional for ``snapshot_every`` snapshots), coloured
    by the edge's *source node* so the fan-out of each node reads as one colour; edges that end
    inactive are dashed and edges whose gate could not learn (``learned=False``) dotted grey, as in
    the SVG; gates are drawn on their absolute scale, 0 to 1. The legend names the source nodes (up to ``max_legend``, else a
    colour bar). ``ax`` draws into existing axes; ``path`` saves the figure (atomically).

    >>> from graphwire.io import History
    >>> h = History(edges=[(0, 1), (0, 2), (1, 2)])
    >>> h.add({"weight": [0.5, 0.5, 0.5], "active": [True] * 3}, epoch=0, step=0)
    >>> h.add({"weight": [0.9, 0.2, 0.6], "active": [True, False, True]}, epoch=1, step=10)
    >>> fig = plot_edge_history(h)
    >>> len(fig.axes[0].lines)
    3
    """
    h = _as_history(history)
    if not h.snapshots:
        raise ParameterError("the history has no snapshots (was the model a wired network?)")
    if attr in ("active", "learned"):
        raise ParameterError(f"{attr!r} is a flag; plot a numeric attribute such as 'weight' "
                             f"(recorded: {h.attributes()})")
    x, rows = h.series(attr)
    index = {e: i for i, e in enumerate(h.edges)}
    if edges is None:
        chosen = list(range(len(h.edges)))
    else:
        chosen = []
        for e in edges:
            e = tuple(e)
            if e not in index:
                raise ParameterError(f"edge {e!r} is not in the history (it has {len(h.edges)} edges)")
            chosen.append(index[e])
    last_active = next((s["active"] for s in reversed(h.snapshots) if "active" in s), None)
    last_learned = next((s["learned"] for s in reversed(h.snapshots) if "learned" in s), None)

    fig, (ax,) = _figure(ax)
    colours, distinct = _source_colours([h.edges[i][0] for i in chosen])
    alpha = 0.9 if len(chosen) <= 30 else max(0.25, 0.9 * 30 / len(chosen))
    width = 1.6 if len(chosen) <= 30 else 1.0
    for i in chosen:
        u, v = h.edges[i]
        ys = [r[i] for r in rows]
        dashed = last_active is not None and last_active[i] is False
        fixed = last_learned is not None and last_learned[i] is False
        if fixed:  # a gate that could not learn: dotted grey, as in the SVG
            ax.plot(x, ys, color=style.hex_colour(style.FIXED), lw=1.0, alpha=0.7, ls=":", gid=f"edge {u}->{v}")
            continue
        ax.plot(x, ys, color=colours[u], lw=width, alpha=alpha * (0.6 if dashed else 1.0),
                ls="--" if dashed else "-", gid=f"edge {u}->{v}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(attr)
    finite = [y for r in rows for y in (r[i] for i in chosen) if isinstance(y, float) and math.isfinite(y)]
    if finite and min(finite) >= 0.0 and max(finite) <= 1.0:
        ax.set_ylim(-0.03, 1.03)
    ax.grid(True, alpha=0.3)
    if len(distinct) <= max_legend:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=colours[s], lw=2, label=_label(s)) for s in distinct]
        if last_active is not None and any(last_active[i] is False for i in chosen):
            handles.append(Line2D([], [], color="0.4", lw=1.5, ls="--", label="inactive at end"))
        if last_learned is not None and any(last_learned[i] is False for i in chosen):
            handles.append(Line2D([], [], color=style.hex_colour(style.FIXED), lw=1.0, ls=":",
                                  label="fixed: could not learn"))
        ax.legend(handles=handles, title="source node", fontsize=8, title_fontsize=8,
                  loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    else:
        import matplotlib
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        sm = ScalarMappable(norm=Normalize(0, len(distinct) - 1), cmap=matplotlib.colormaps["viridis"])
        bar = fig.colorbar(sm, ax=ax, pad=0.01)
        bar.set_label("source node (rank in label order)")
    wiring = h.meta.get("wiring")
    ax.set_title(title if title is not None else
                 f"{attr} of {len(chosen)} edges over training" + (f" ({wiring} wiring)" if wiring else ""),
                 fontsize=10)
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig
