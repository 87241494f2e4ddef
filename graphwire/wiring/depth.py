"""``depth``: a categorical distribution over the depth of a residual chain (variational depth search).

After Antorán, Allingham & Hernández-Lobato ("Depth Uncertainty in Neural Networks" /
"Variational Depth Search in ResNets"). The graph is a residual chain built by
:func:`graphwire.models.depth_chain`: the input block is depth 0, residual block ``d`` adds
``f_d(a_{d-1})`` to the previous activation, and every activation ``a_d`` (``d = 0..D``) feeds an
output *tap* node through a *tap edge* marked ``tap=True, depth=d``; the network's output is the
taps concatenated in depth order, so ONE forward pass yields every depth's features on both
executors. (A shared output head cannot be a node, nodes never share parameters: it lives in
:class:`graphwire.models.LearntDepthNet`, which applies it to every tap.)

This wiring owns the variational parameters: ``q(d) = softmax(logits)`` over ``d = 0..D``
(logits start at 0: uniform), the prior ``p(d)`` proportional to ``prior_rate ** (d + 1)``
(``prior="exponential"``, rate 0.85 as in the reference code) or uniform (``prior="uniform"``, as
DUN), and ``regularizer() = KL(q || p) / n_train`` (the ELBO's KL term per training example;
zero when ``n_train`` is not given). ``fixed=True`` pins ``q`` to a one-hot on ``D`` (a
fixed-depth baseline: no KL). Every edge coefficient is a constant 1 (the chain is not gated).

Pruning rule (``rule="mode"``, the reference code's "95th_depth"): ``d_opt`` is the smallest ``d``
with ``q(d) > level * max q`` (level 0.95); ``rule="cdf"`` takes the smallest ``d`` whose
cumulative mass reaches ``level`` instead. ``write_back`` puts ``weight = q(d)`` on tap edges and
``weight = P(depth >= d)`` on the edges of block ``d``, ``active = (d <= d_opt)``, and (through
``node_attributes``) node ``depth_prob`` and ``active``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ParameterError, WiringError
from ..contract import boolean, unit
from .base import Wiring, WiringSpec, WriteBack, check_bool, check_number
from .registry import register_wiring

__all__ = ["DepthWiring", "depth_prior", "depth_cutoff", "fold_tail", "categorical_kl"]


def depth_prior(max_depth: int, kind: str = "exponential", rate: float = 0.85) -> torch.Tensor:
    """The prior over ``d = 0..max_depth``: ``rate ** (d + 1)`` normalised, or uniform."""
    if kind == "uniform":
        return torch.full((max_depth + 1,), 1.0 / (max_depth + 1))
    if kind != "exponential":
        raise ParameterError(f"prior must be 'exponential' or 'uniform', got {kind!r}")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 < rate <= 1.0:
        raise ParameterError(f"prior_rate must be a number in (0, 1], got {rate!r}")
    p = torch.tensor([rate ** (d + 1) for d in range(max_depth + 1)], dtype=torch.float64)
    return (p / p.sum()).to(torch.get_default_dtype())


def categorical_kl(q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``KL(q || p)`` of categoricals, with ``q`` clamped at 1e-10 inside the log (as the reference)."""
    return (q * (q.clamp_min(1e-10).log() - p.log())).sum(-1)


def depth_cutoff(q, rule: str = "mode", level: float = 0.95) -> int:
    """``d_opt`` from ``q`` (a sequence or tensor over ``d = 0..D``).

    ``"mode"``: smallest ``d`` with ``q(d) > level * max q``; ``"cdf"``: smallest ``d`` with
    ``sum_{k <= d} q(k) >= level``.

    >>> depth_cutoff([0.0, 0.1, 0.3, 0.295, 0.305])
    2
    >>> depth_cutoff([0.0, 0.1, 0.3, 0.295, 0.305], rule="cdf")
    4
    """
    q = torch.as_tensor(q, dtype=torch.float64).flatten()
    if q.numel() == 0:
        raise ParameterError("q is empty")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 < level <= 1.0:
        raise ParameterError(f"level must be a number in (0, 1], got {level!r}")
    if rule == "mode":
        return int(torch.nonzero(q > level * q.max())[0])
    if rule == "cdf":
        c = torch.cumsum(q, 0)
        hit = torch.nonzero(c >= level * float(c[-1]) - 1e-12)
        return int(hit[0])
    raise ParameterError(f"rule must be 'mode' or 'cdf', got {rule!r}")


def fold_tail(q: torch.Tensor, d: int) -> torch.Tensor:
    """``q`` truncated to ``0..d`` with the mass of every deeper ``k > d`` added onto ``d``."""
    q = torch.as_tensor(q)
    if not 0 <= d < q.numel():
        raise ParameterError(f"depth {d} is outside 0..{q.numel() - 1}")
    out = q[: d + 1].clone()
    out[d] = q[d:].sum()
    return out


@dataclass(frozen=True)
class Depth(WiringSpec):
    """``wiring="depth"``: a categorical posterior over the depth of a residual chain."""

    prior: str = "exponential"
    prior_rate: float = 0.85
    n_train: int | None = None
    fixed: bool = False
    rule: str = "mode"
    level: float = 0.95

    def __post_init__(self):
        depth_prior(0, self.prior, self.prior_rate)  # argument checks
        if self.n_train is not None:
            check_number("depth", "n_train", self.n_train, lambda v: v > 0, "> 0")
        check_bool("depth", "fixed", self.fixed)
        depth_cutoff([1.0], self.rule, self.level)  # argument checks


@register_wiring
class DepthWiring(Wiring):
    name = "depth"
    mode = "edge"
    Options = Depth
    attributes = (("node", "depth_prob", unit, "posterior probability that the network ends at this block"),
                  ("node", "active", boolean, "whether the block is kept (depth <= the chosen depth)"))

    def __init__(self, plan, edge_data, options: Depth):
        super().__init__(plan, edge_data, options)
        prior, prior_rate, n_train = options.prior, options.prior_rate, options.n_train
        fixed, rule, level = options.fixed, options.rule, options.level
        edges = self.edges
        self.unit_edges = frozenset(range(len(edges)))
        taps: dict[int, int] = {}
        self.edge_depth: list[int | None] = []
        for i, ((u, v), d) in enumerate(zip(edges, edge_data)):
            dep = d.get("depth")
            if dep is not None and (isinstance(dep, bool) or not isinstance(dep, int) or dep < 0):
                raise WiringError(f"depth wiring: edge ({u!r}, {v!r}) has depth {dep!r}, expected an int >= 0")
            self.edge_depth.append(dep)
            if d.get("tap"):
                if dep is None or dep in taps:
                    raise WiringError(f"depth wiring: tap edge ({u!r}, {v!r}) needs a unique 'depth', got {dep!r}")
                taps[dep] = i
        if not taps or sorted(taps) != list(range(len(taps))):
            raise WiringError("depth wiring: the graph needs tap edges (tap=True) with depth 0..D, one each; "
                              "build it with graphwire.models.depth_chain")
        self.max_depth = len(taps) - 1
        self.taps = [taps[d] for d in range(len(taps))]
        self.n_train = n_train
        self.fixed = bool(fixed)
        self.rule, self.level = rule, level
        self.register_buffer("log_prior", depth_prior(self.max_depth, prior, prior_rate).log())
        self.prior_kind = prior
        if self.fixed:
            self.register_buffer("logits", torch.full((self.max_depth + 1,), -math.inf).index_fill(
                0, torch.tensor([self.max_depth]), 0.0))
        else:
            self.logits = nn.Parameter(torch.zeros(self.max_depth + 1))

    # ---- the distribution
    def q(self) -> torch.Tensor:
        """``q(d)`` over ``d = 0..D``."""
        return torch.softmax(self.logits, 0)

    def prior(self) -> torch.Tensor:
        return self.log_prior.exp()

    def kl(self) -> torch.Tensor:
        """``KL(q || p)`` (0 for a fixed depth)."""
        if self.fixed:
            return self.log_prior.new_zeros(())
        return categorical_kl(self.q(), self.prior())

    def regularizer(self) -> torch.Tensor:
        if self.n_train is None or self.fixed:
            return self.log_prior.new_zeros(())
        return self.kl() / self.n_train

    def d_opt(self, rule: str | None = None, level: float | None = None) -> int:
        return depth_cutoff(self.q().detach(), rule or self.rule, self.level if level is None else level)

    def set_q(self, q: torch.Tensor) -> None:
        """Set ``q`` (probabilities over ``0..D``; zeros allowed)."""
        q = torch.as_tensor(q, dtype=self.logits.dtype, device=self.logits.device)
        if q.shape != self.logits.shape:
            raise WiringError(f"q must have {self.max_depth + 1} entries, got {list(q.shape)}")
        with torch.no_grad():
            self.logits.copy_(q.clamp_min(0).log())

    # ---- executor side: a plain, ungated chain
    def coefficients(self) -> torch.Tensor:
        return self.log_prior.new_ones(len(self.edges))

    # ---- write-back
    def describe(self) -> WriteBack:
        edges = self._edge_attributes()
        q = self.q().detach().cpu()
        d_opt = self.d_opt()
        states = {self.edges[e][0]: d for d, e in enumerate(self.taps)}
        prob: dict = {}
        active: dict = {}
        for label, d in self.node_depths().items():
            active[label] = d <= d_opt
            if label in states:
                prob[label] = float(q[d])
        return WriteBack(edges=edges, nodes={"depth_prob": prob, "active": active})

    def _edge_attributes(self) -> dict:
        q = self.q().detach().cpu().double()
        survive = torch.flip(torch.cumsum(torch.flip(q, [0]), 0), [0])  # P(depth >= d)
        d_opt = self.d_opt()
        tap_of = {e: d for d, e in enumerate(self.taps)}
        weight, active = [], []
        for i, dep in enumerate(self.edge_depth):
            if i in tap_of:
                weight.append(float(q[tap_of[i]]))
            elif dep is not None and dep <= self.max_depth:
                weight.append(float(survive[dep]))
            else:
                weight.append(1.0)
            active.append(dep is None or dep <= d_opt)
        return {"weight": weight, "active": active}

    def node_depths(self) -> dict:
        """``{node label: depth}`` for the nodes the chain's edges place at a depth."""
        out: dict = {}
        for (u, v), dep in zip(self.edges, self.edge_depth):
            if dep is not None:
                out.setdefault(v, dep)
        for d, e in enumerate(self.taps):
            out[self.edges[e][0]] = d
        return out
