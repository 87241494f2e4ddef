"""The learnt distribution over depth (variational depth search), with fixed-depth baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["plot_depth_posterior"]


def _q_of(source: Any) -> tuple[list[float], list[float] | None, int | None]:
    """``(q, prior, d_opt)`` from a LearntDepthNet, a written-back chain, or a sequence."""
    if hasattr(source, "q") and hasattr(source, "wiring"):
        q = [float(x) for x in source.q().detach().cpu()]
        prior = [float(x) for x in source.wiring.prior().detach().cpu()]
        return q, prior, source.d_opt()
    graph = getattr(source, "graph", None)
    if isinstance(graph, dict) and isinstance(graph.get("graphwire"), dict) and "depth" in graph["graphwire"]:
        rec = graph["graphwire"]["depth"]
        return [float(x) for x in rec["q"]], None, rec.get("d_opt")
    return [float(x) for x in source], None, None


def plot_depth_posterior(source: Any, *, prior: Sequence[float] | None = None, d_opt: int | None = None,
                         fixed_depth: Mapping[int, float] | Sequence[float] | None = None,
                         marginal: float | None = None, pruned: float | None = None,
                         metric: str = "test accuracy", title: str | None = None,
                         path: str | Path | None = None, ax=None):
    """Bars of ``q(d)`` (and the prior as a line), ``d_opt`` marked; optionally, on a second axis,
    a fixed-depth network's ``metric`` at every depth (``fixed_depth``: ``{d: value}`` or a list
    over ``d = 0..``) and the learnt-depth network's marginal / pruned value as horizontal lines.

    ``source`` is a :class:`graphwire.models.LearntDepthNet`, a graph it wrote back, or ``q``
    itself. Returns the matplotlib figure (saved atomically to ``path`` when given).
    """
    from .history import _mpl, save_figure

    q, p0, d0 = _q_of(source)
    prior = prior if prior is not None else p0
    d_opt = d_opt if d_opt is not None else d0
    if ax is None:
        fig = _mpl()(figsize=(6.4, 4.0), dpi=100)  # no pyplot: no global backend switch, nothing kept alive
        ax = fig.subplots()
    else:
        fig = ax.figure
    ds = list(range(len(q)))
    ax.bar(ds, q, color="#4c72b0", alpha=0.85, label="q(d)")
    if prior is not None:
        ax.plot(ds, list(prior)[: len(q)], color="#8c8c8c", ls=":", marker=".", label="prior p(d)")
    if d_opt is not None:
        ax.axvline(d_opt, color="#c44e52", ls="--", lw=1.2, label=f"d_opt = {d_opt}")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("depth d (residual blocks)")
    ax.set_ylabel("probability")
    ax.set_xlim(-0.6, len(q) - 0.4)
    handles, labels = ax.get_legend_handles_labels()
    top = ax
    if fixed_depth is not None or marginal is not None or pruned is not None:
        ax2 = ax.twinx()
        if fixed_depth is not None:
            items = sorted(fixed_depth.items()) if isinstance(fixed_depth, Mapping) else list(enumerate(fixed_depth))
            ax2.plot([d for d, _ in items], [v for _, v in items], color="#55a868", marker="o", ms=3,
                     label=f"fixed depth: {metric}")
        if marginal is not None:
            ax2.axhline(marginal, color="#dd8452", lw=1.2, label=f"learnt depth, marginal ({marginal:.3f})")
        if pruned is not None:
            ax2.axhline(pruned, color="#937860", lw=1.2, ls="-.", label=f"learnt depth, pruned ({pruned:.3f})")
        ax2.set_ylabel(metric)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
        top = ax2
    top.legend(handles, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3,
               frameon=False)
    ax.set_title(title or "learnt distribution over depth")
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path, dpi=100)  # atomic
    return fig
