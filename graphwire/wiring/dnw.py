"""``dnw``: Discovering Neural Wirings (Wortsman et al. 2019): top-k edges, straight-through.

Every edge ``(u, v)`` has a real weight ``w_uv``. Each forward pass uses only the ``k`` edges of
largest ``|w|`` (the others' coefficient is exactly 0, so they are closed), and the backward pass
gives *every* edge the gradient it would get if it were used: ``dL/dw_uv = <Z_u, dL/dI_v>``, the
inner product of the source's output and the target's aggregated-input gradient. The gradient
"flows to, but not through" the unused edges, so a strong unused edge can replace a weak one.

Differences from the reference code (allenai/dnw), on purpose:

* only the graph's edges are ranked -- the reference ranks a whole dense matrix, including
  entries its forward pass never reads, which waste budget until weight decay shrinks them
  (``k_over="dense"`` does the same, see below);
* selection is ``torch.topk`` per group (exactly ``k``), not a full sort, and can be refreshed
  every ``refresh`` training forward passes instead of every pass (state lives in buffers, so
  ``torch.compile`` does not recompile as the step counter moves).

Options:

* ``k``: an edge count (int), a fraction of the graph's edges in (0, 1] (rounded up), or with
  ``group_by`` a mapping ``group -> count | fraction``. Default 0.5.
* ``refresh``: select the top-k every ``refresh`` training forward passes (default 1, every pass,
  as in the paper). Evaluation and ``write_back`` use the last selection -- the wiring the network
  was trained with (``net.wiring.update_mask()`` selects from the current weights on demand;
  ``eval_mask="current"`` does it on every evaluation pass, as the reference does).
* ``group_by``: an edge attribute splitting the edges into independently budgeted groups (DNW
  ranks each graph of a chain on its own). Edges without the attribute are structural: fixed
  coefficient 1, never ranked, always active.

Options that copy the reference code (allenai/dnw, static tiny model) where graphwire differs:

* ``k_over``: ``"edges"`` (default: ``k`` is counted over, and chosen among, the group's edges)
  or ``"dense"``: ``k`` is counted over the dense ``n x n`` matrix of the ``n`` nodes the group's
  edges touch, and all ``n^2`` entries are ranked, as the reference's ``ChooseTopEdges`` ranks its
  whole ``dim x dim`` weight. The ``n^2 - E`` entries that are no edge (``unread``: backward,
  same-block and missing pairs) are parameters the forward never reads: they get a zero gradient
  (so weight decay and momentum still move them, as in the reference) and use up budget while
  they are large. Every entry starts uniform in ``+-1/sqrt(n)`` (the reference's dense conv).
  (The reference's MobileNet graphs rank a smaller sources x targets matrix; not offered.)
  :meth:`DNWWiring.selected_edges` says how many of the ``k`` are real edges.
* ``closed_nodes``: ``"zero"`` (default: a node whose open inputs all come from closed nodes
  outputs exactly 0, so a masked network equals its pruned copy, and its closed in-edges get no
  gradient) or ``"run"``: every node runs on whatever reaches it, as in the reference, where a
  node with no active input still emits ``conv(relu(beta))`` of its norm's bias and its unused
  in-edges get a gradient. Training and evaluation both run closed nodes; a pruned copy then
  drops their constant contribution (it does not equal the network exactly).
* ``eval_mask``: ``"last"`` (default: evaluation uses the last training selection) or
  ``"current"``: evaluation re-selects the top-k from the current weights on every forward pass,
  as the reference does (the selection is kept, so ``write_back`` describes what was evaluated).

Edge weights start as ``nn.Conv2d`` initialises DNW's 1 x 1 graph convolution: uniform in
``+-1/sqrt(fan_in)``, ``fan_in`` = the number of distinct source nodes in the edge's group.

``write_back`` puts on every edge ``weight`` (the coefficient used at inference: the signed
``w`` for active edges, 0 for the others, so a written-back graph compiled with ``static`` --
pruned or not -- computes what the DNW network computes), ``magnitude`` (``|w|``, what DNW ranks;
prune by it with ``attr="magnitude"``) and ``active`` (in the last selection).
"""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..contract import finite
from ..errors import WiringError
from .base import Wiring, WiringSpec, WriteBack, check_choice, check_int
from .registry import register_wiring

__all__ = ["CLOSED_NODES", "EVAL_MASKS", "K_OVER", "DNWWiring", "DNW", "StraightThrough", "budget", "dense_size",
           "topk_mask"]

#: Allowed values of the options that copy the reference code (the first is the default).
K_OVER = ("edges", "dense")
CLOSED_NODES = ("zero", "run")
EVAL_MASKS = ("last", "current")


class StraightThrough(torch.autograd.Function):
    """``w * mask`` forward; the gradient passes to every entry of ``w`` unchanged (DNW's rule)."""

    @staticmethod
    def forward(ctx, w: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return w * mask

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


class _StraightThroughUnread(torch.autograd.Function):
    """``w * mask``; ``w`` gets the gradient unchanged and the never-read dense entries a zero
    gradient (as entries of the reference's dense weight the forward does not read)."""

    @staticmethod
    def forward(ctx, w: torch.Tensor, unread: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ctx.unread_shape = unread.shape
        return w * mask

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, grad.new_zeros(ctx.unread_shape), None


def dense_size(edges) -> tuple[int, int]:
    """``(n, n * n)`` for ``k_over="dense"``: ``n`` nodes touched by ``edges`` (``(u, v)`` pairs)."""
    nodes = set()
    for u, v in edges:
        nodes.add(u)
        nodes.add(v)
    return len(nodes), len(nodes) ** 2


def _dense_size_runs(edges, runs) -> tuple[int, int]:
    """:func:`dense_size` of the edges in ``runs`` (``(start, stop)`` id ranges), with arrays for
    a compact graph's edges."""
    u, v = edges.arrays()
    if u.dtype == object:  # labels that are not integers
        return dense_size(itertools.chain.from_iterable(edges[a:b] for a, b in runs))
    n = len(np.unique(np.concatenate([x[a:b] for a, b in runs for x in (u, v)])))
    return n, n * n


def topk_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    """A 0/1 mask (``scores``' dtype) with ones at exactly ``k`` largest entries of a 1-D tensor."""
    n = scores.numel()
    if k >= n:
        return torch.ones_like(scores)
    mask = torch.zeros_like(scores)
    return mask.index_fill_(0, torch.topk(scores, k, sorted=False).indices, 1.0)


def budget(k: Any, total: int, what: str = "k", where: str = "dnw wiring") -> int:
    """``k`` as an edge count out of ``total``: an int count 1..total or a fraction in (0, 1]."""
    if isinstance(k, bool) or not isinstance(k, numbers.Real):
        raise WiringError(f"{where}: {what} must be an edge count (int >= 1) or a fraction in (0, 1], "
                          f"got {k!r} ({type(k).__name__})")
    if isinstance(k, numbers.Integral):
        if not 1 <= k <= total:
            raise WiringError(f"{where}: {what}={k!r} is out of range: give a count 1..{total} "
                              f"(the edges it may choose from) or a fraction in (0, 1]")
        return int(k)
    k = float(k)
    if not (math.isfinite(k) and 0.0 < k <= 1.0):
        raise WiringError(f"{where}: {what}={k!r} is out of range: a fraction must lie in (0, 1] "
                          f"(or give an edge count 1..{total})")
    return max(1, min(total, math.ceil(k * total - 1e-9)))


@dataclass(frozen=True)
class DNW(WiringSpec):
    """``wiring="dnw"``: top-k edges by ``|w|``, straight-through gradients to all edges."""

    k: Any = 0.5
    refresh: int = 1
    group_by: str | None = None
    k_over: str = "edges"
    closed_nodes: str = "zero"
    eval_mask: str = "last"

    def __post_init__(self):
        check_int("dnw", "refresh", self.refresh, lambda v: v >= 1,
                  ">= 1 (recompute the top-k every that many training steps)")
        if self.group_by is not None and not isinstance(self.group_by, str):
            raise WiringError(f"dnw wiring: group_by must be an edge attribute name or None, got {self.group_by!r}")
        check_choice("dnw", "k_over", self.k_over, K_OVER)
        check_choice("dnw", "closed_nodes", self.closed_nodes, CLOSED_NODES)
        check_choice("dnw", "eval_mask", self.eval_mask, EVAL_MASKS)


@register_wiring
class DNWWiring(Wiring):
    name = "dnw"
    mode = "edge"
    Options = DNW
    attributes = (("edge", "magnitude", finite, "|w|, what DNW ranks (prune by it with attr='magnitude')"),)

    def __init__(self, plan, edge_data, options: DNW):
        super().__init__(plan, edge_data, options)
        k, refresh, group_by = options.k, options.refresh, options.group_by
        self.k_over, self.closed_nodes, self.eval_mask = options.k_over, options.closed_nodes, options.eval_mask
        E = len(self.edges)
        if E == 0:
            raise WiringError("dnw wiring: the graph has no edges to choose from")
        self.refresh, self.group_by = int(refresh), group_by

        # ---- groups: edge ids ranked together, each with its own budget (runs of equal keys:
        # no per-edge Python beyond reading the attribute, graphs may have millions of edges)
        runs: dict[Any, list[tuple[int, int]]] = {}
        if group_by is None:
            runs[None] = [(0, E)]
        else:
            for g, a, b in self.edges.runs(group_by):
                if g is not None:
                    runs.setdefault(g, []).append((a, b))
        if not runs:
            raise WiringError(f"dnw wiring: group_by={group_by!r} but no edge has the attribute "
                              f"{group_by!r}; set it on the edges to rank, or use group_by=None")
        sizes = {g: sum(b - a for a, b in r) for g, r in runs.items()}
        dense = {}  # group -> (n nodes, n * n entries ranked) for k_over="dense"
        if self.k_over == "dense":
            for g, r in runs.items():
                dense[g] = _dense_size_runs(self.edges, r)
        ranked = {g: dense[g][1] if dense else sizes[g] for g in runs}
        if isinstance(k, dict):
            if group_by is None:
                raise WiringError("dnw wiring: k is a mapping group -> budget, which needs group_by=<edge attribute>")
            missing = [g for g in runs if g not in k]
            extra = [g for g in k if g not in runs]
            if missing or extra:
                raise WiringError(f"dnw wiring: k must give a budget for exactly the groups {sorted(runs, key=repr)} "
                                  f"of group_by={group_by!r}; missing {missing}, unknown {extra}")
            ks = {g: budget(k[g], ranked[g], f"k[{g!r}]") for g in runs}
        else:
            ks = {g: budget(k, ranked[g], "k" if group_by is None else f"k (group {g!r})") for g in runs}
        self.budgets = ks
        self._groups: list[tuple[Any, int, int | None, int]] = []  # (key, k, start or None, size)
        self._unread: list[tuple[int, int]] = []  # per group: (offset, count) in self.unread
        fixed = torch.ones(E, dtype=torch.bool)
        bounds = torch.empty(E)
        unread_bounds = []
        for gi, (g, r) in enumerate(runs.items()):
            t = torch.cat([torch.arange(a, b) for a, b in r])
            fixed[t] = False
            if dense:
                fan_in = dense[g][0]  # the reference's dense conv: fan_in = every node
                n_unread = dense[g][1] - sizes[g]
                self._unread.append((sum(c for _, c in self._unread), n_unread))
                unread_bounds.append(torch.full((n_unread,), 1.0 / math.sqrt(fan_in)))
            else:
                fan_in = self.edges.distinct_sources(r)
            bounds[t] = 1.0 / math.sqrt(fan_in)
            self._groups.append((g, ks[g], r[0][0] if len(r) == 1 else None, sizes[g]))
            self.register_buffer(f"_gids{gi}", t, persistent=False)
        self.register_buffer("_fixed", fixed, persistent=False)
        self._has_fixed = bool(fixed.any())
        self.unit_edges = frozenset(fixed.nonzero().flatten().tolist())
        self.k = sum(ks.values())

        w = (torch.rand(E) * 2 - 1) * bounds
        self.weight = nn.Parameter(w.masked_fill(fixed, 1.0))
        if dense:
            ub = torch.cat(unread_bounds)
            #: k_over="dense": the dense matrix's entries that are no edge (ranked, never read)
            self.unread = nn.Parameter((torch.rand(len(ub)) * 2 - 1) * ub)
        else:
            self.unread = None
        self.register_buffer("mask", self._select(self.weight.detach()))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        # closed_nodes="run": every node runs, closed or not (the reference's behaviour)
        self.may_close = self.closed_nodes != "run" and (
            self.unread is not None or any(kk < size for _, kk, _, size in self._groups))

    # ---- selection
    def _select(self, w: torch.Tensor) -> torch.Tensor:
        """The 0/1 mask of the current top-k per group (fixed edges: 1)."""
        a = w.detach().abs()
        mask = self._fixed.to(a.dtype)
        for gi, (_, k, start, size) in enumerate(self._groups):
            ids = getattr(self, f"_gids{gi}")
            sub = a[start:start + size] if start is not None else a[ids]
            if self.unread is not None:  # rank the whole dense matrix; keep the edges among the top k
                off, n = self._unread[gi]
                ranked = torch.cat([sub, self.unread.detach()[off:off + n].abs()])
                top = torch.topk(ranked, k, sorted=False).indices
                picked = torch.zeros_like(ranked).index_fill_(0, top, 1.0)[:size]
                mask = mask.index_copy(0, ids, picked)
                continue
            if k >= size:
                mask = mask.index_fill(0, ids, 1.0)
                continue
            top = torch.topk(sub, k, sorted=False).indices
            mask = mask.index_fill(0, top + start if start is not None else ids[top], 1.0)
        return mask

    def selected_edges(self) -> dict[Any, tuple[int, int]]:
        """Per group: ``(real edges, budget k)`` in the last selection. They differ only with
        ``k_over="dense"``, where never-read dense entries take the rest of the budget."""
        return {g: (int(self.mask[getattr(self, f"_gids{gi}")].sum()), k)
                for gi, (g, k, _, _) in enumerate(self._groups)}

    def update_mask(self) -> torch.Tensor:
        """Select the top-k of the current weights now (training does it every ``refresh`` steps)."""
        with torch.no_grad():
            self.mask.copy_(self._select(self.weight))
        return self.mask

    def _training_mask(self) -> torch.Tensor:
        if self.refresh == 1:
            m = self._select(self.weight)
            with torch.no_grad():
                self.mask.copy_(m)
        elif torch.compiler.is_compiling():
            due = torch.remainder(self.steps, self.refresh) == 0
            m = torch.cond(due, lambda w, old: self._select(w), lambda w, old: old.clone(),
                           (self.weight.detach(), self.mask))
            with torch.no_grad():
                self.mask.copy_(m)
        else:
            if int(self.steps) % self.refresh == 0:
                with torch.no_grad():
                    self.mask.copy_(self._select(self.weight))
        with torch.no_grad():
            self.steps.add_(1)
        return self.mask

    # ---- the Wiring interface
    def coefficients(self) -> torch.Tensor:
        if self.training:
            mask = self._training_mask()
        elif self.eval_mask == "current":
            mask = self.update_mask()
        else:
            mask = self.mask
        if self.unread is not None:
            c = _StraightThroughUnread.apply(self.weight, self.unread, mask)
        else:
            c = StraightThrough.apply(self.weight, mask)
        if self._has_fixed:
            c = torch.where(self._fixed, torch.ones_like(c), c)
        return c

    def active_mask(self) -> torch.Tensor:
        """Bool ``[E]``: the edges the network uses now (the last selection; fixed edges included)."""
        return self.mask > 0

    def strength(self) -> torch.Tensor:
        return torch.where(self._fixed, torch.ones_like(self.weight), self.weight.detach().abs())

    def describe(self) -> WriteBack:
        active = self.active_mask()
        w = self.weight.detach()
        coef = torch.where(self._fixed, torch.ones_like(w), w) * active.to(w.dtype)
        return WriteBack(edges={"weight": coef.cpu().tolist(), "magnitude": self.strength().cpu().tolist(),
                                "active": active.cpu().tolist()})

    def describe_edges(self, ids: torch.Tensor) -> WriteBack:
        """:meth:`describe` of the edges ``ids`` only (a compact graph's active edges)."""
        ids = ids.to(self.weight.device)
        active = self.active_mask()[ids]
        w = self.weight.detach()[ids]
        coef = torch.where(self._fixed[ids], torch.ones_like(w), w) * active.to(w.dtype)
        return WriteBack(edges={"weight": coef.cpu().tolist(), "magnitude": self.strength()[ids].cpu().tolist(),
                                "active": active.cpu().tolist()})

    def rebuild_spec(self) -> WiringSpec:
        """A written-back DNW graph is its learned wiring: ``weight`` is the coefficient each edge
        had (0 for the edges not chosen), so it compiles with ``static``."""
        from .static import Static

        return Static()

    def transfer_from(self, other: Wiring, pairs: list[tuple[int, int]]) -> None:
        if not isinstance(other, DNWWiring) or not pairs:
            return
        new, old = (torch.tensor(x, dtype=torch.long) for x in zip(*pairs))
        with torch.no_grad():
            w = self.weight.detach().clone()
            w[new] = other.weight.detach()[old.to(other.weight.device)].to(w)
            self.weight.copy_(torch.where(self._fixed, self.weight, w))
            self.mask.copy_(self._select(self.weight))

    def extra_repr(self) -> str:
        ranked = [n + (self._unread[i][1] if self.unread is not None else 0) for i, (_, _, _, n) in enumerate(self._groups)]
        groups = ", ".join(f"{g!r}: {k}/{r}" for (g, k, _, _), r in zip(self._groups, ranked))
        ref = "".join(f", {name}={getattr(self, name)!r}" for name, allowed in
                      (("k_over", K_OVER), ("closed_nodes", CLOSED_NODES), ("eval_mask", EVAL_MASKS))
                      if getattr(self, name) != allowed[0])
        return f"edges={len(self.edges)}, k={self.k}, refresh={self.refresh}, groups={{{groups}}}{ref}"
