"""``l0``: one hard-concrete gate per edge with an expected-L0 penalty (Louizos, Welling & Kingma 2018).

Settings of the reference code (``AMLab-Amsterdam/L0_regularization``, ``l0_layers.py``): per edge a
parameter ``log_alpha`` (initialised ``N(log((1 - p) / p), 0.01)`` with drop rate ``p = init_drop
= 0.5``), temperature ``beta = 2/3``, stretch ``(gamma, zeta) = (-0.1, 1.1)``.

* training: a fresh gate per edge at every forward (shared by the batch),
  ``u ~ U(0, 1)``, ``s = sigmoid((log u - log(1 - u) + log_alpha) / beta)``,
  ``z = clamp(s * (zeta - gamma) + gamma, 0, 1)``: exact zeros (closed edges) and ones happen;
* evaluation: the deterministic gate ``clamp(sigmoid(log_alpha) * (zeta - gamma) + gamma, 0, 1)``;
* ``net.regularizer() = lam * sum_e P(z_e != 0)`` with the closed form
  ``P(z != 0) = sigmoid(log_alpha - beta * log(-gamma / zeta))``.

``write_back`` puts ``p_open`` (that probability), ``weight`` (the evaluation gate) and
``active`` (evaluation gate > 0) on every edge. Unlike ``sigmoid`` gates there is no soft/hard
mismatch: training already sees exact zeros, and an edge with ``active = False`` is exactly
closed at inference (``graphwire.prune(G, attr="active")`` removes it without changing outputs).

Defaults: ``lam=0.01`` (each edge's open probability costs 0.01: without a penalty nothing pushes a
gate shut). With the gates on their own learning rate (:func:`graphwire.train.param_groups`, e.g.
``wiring_lr=0.3`` with Adam) they end at exactly 0 or 1 in a few hundred steps (``docs/gates.md``).
A node's only input, behind a normalising op (the built-in ``conv``, ``sepconv``, ``linear``), has
a gate the loss cannot see, because the node's BatchNorm undoes it: such an edge is held open
(coefficient 1, ``p_open`` 1), costs nothing in the penalty, and is written back
``learned=False`` (:func:`graphwire.prune` keeps it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..contract import unit
from .base import Wiring, WiringSpec, WriteBack, check_number, sole_normalised_inputs
from .registry import register_wiring

__all__ = ["L0Wiring", "hard_concrete_sample", "hard_concrete_p_open", "hard_concrete_eval"]

_EPS = 1e-6
#: The default ``lam``: the penalty per expected open edge (chosen with ``benchmarks/gates.py --wiring l0``).
LAM = 0.01


def hard_concrete_sample(log_alpha: torch.Tensor, beta: float = 2 / 3, gamma: float = -0.1, zeta: float = 1.1,
                         u: torch.Tensor | None = None) -> torch.Tensor:
    """One stretched, clamped concrete sample per entry of ``log_alpha`` (``u`` optional uniforms)."""
    if u is None:
        u = torch.rand_like(log_alpha)
    u = u.clamp(_EPS, 1 - _EPS)
    s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + log_alpha) / beta)
    return (s * (zeta - gamma) + gamma).clamp(0.0, 1.0)


def hard_concrete_p_open(log_alpha: torch.Tensor, beta: float = 2 / 3, gamma: float = -0.1,
                         zeta: float = 1.1) -> torch.Tensor:
    """``P(z != 0)``: ``sigmoid(log_alpha - beta * log(-gamma / zeta))``."""
    return torch.sigmoid(log_alpha - beta * math.log(-gamma / zeta))


def hard_concrete_eval(log_alpha: torch.Tensor, gamma: float = -0.1, zeta: float = 1.1) -> torch.Tensor:
    """The deterministic test-time gate ``clamp(sigmoid(log_alpha) * (zeta - gamma) + gamma, 0, 1)``."""
    return (torch.sigmoid(log_alpha) * (zeta - gamma) + gamma).clamp(0.0, 1.0)


@dataclass(frozen=True)
class L0(WiringSpec):
    """``wiring="l0"``: hard-concrete edge gates with an expected-L0 penalty ``lam``.

    Options (defaults in brackets): ``lam`` [0.01] the penalty per expected open edge;
    ``init_drop`` [0.5] the starting probability of a closed gate; ``beta`` [2/3], ``gamma`` [-0.1],
    ``zeta`` [1.1] the hard-concrete temperature and stretch of Louizos, Welling & Kingma,
    "Learning Sparse Neural Networks through L0 Regularization" (2018). Train the gates on their own
    learning rate (:func:`graphwire.train.param_groups`) and add ``net.regularizer()`` to the loss.
    """

    lam: float = LAM
    init_drop: float = 0.5
    beta: float = 2 / 3
    gamma: float = -0.1
    zeta: float = 1.1

    def __post_init__(self):
        check_number("l0", "lam", self.lam, lambda v: v >= 0, ">= 0")
        check_number("l0", "init_drop", self.init_drop, lambda v: 0 < v < 1, "in (0, 1)")
        check_number("l0", "beta", self.beta, lambda v: v > 0, "> 0")
        check_number("l0", "gamma", self.gamma, lambda v: v < 0, "< 0")
        check_number("l0", "zeta", self.zeta, lambda v: v > 1, "> 1")


@register_wiring
class L0Wiring(Wiring):
    name = "l0"
    mode = "edge"
    Options = L0
    # "learned" (False: a gate the node's normalisation undoes, held open) is registered by the sigmoid wiring
    attributes = (("edge", "p_open", unit, "the probability that the edge's hard-concrete gate is open"),)

    may_close = True

    def __init__(self, plan, edge_data, options: L0):
        super().__init__(plan, edge_data, options)
        self.lam, self.beta, self.gamma, self.zeta = (float(options.lam), float(options.beta), float(options.gamma),
                                                      float(options.zeta))
        p = float(options.init_drop)
        self.log_alpha = nn.Parameter(torch.randn(len(self.edges)) * 0.01 + math.log((1 - p) / p))
        # A node's only input, behind a normalising op, has a gate the loss cannot see (BatchNorm undoes
        # it): it is held open (coefficient 1), left out of the penalty and written back learned=False.
        fixed = sole_normalised_inputs(plan)
        self.register_buffer("_fixed", torch.from_numpy(fixed.astype(bool)), persistent=False)
        self._any_fixed = bool(fixed.any())

    def coefficients(self) -> torch.Tensor:
        if self.training:
            z = hard_concrete_sample(self.log_alpha, self.beta, self.gamma, self.zeta)
        else:
            z = hard_concrete_eval(self.log_alpha, self.gamma, self.zeta)
        return torch.where(self._fixed, torch.ones_like(z), z) if self._any_fixed else z

    def p_open(self) -> torch.Tensor:
        p = hard_concrete_p_open(self.log_alpha, self.beta, self.gamma, self.zeta)
        return torch.where(self._fixed, torch.ones_like(p), p) if self._any_fixed else p

    def expected_open(self) -> torch.Tensor:
        """The expected number of open edges (the L0 norm of the gates, in expectation)."""
        return self.p_open().sum()

    def regularizer(self) -> torch.Tensor:
        if self.lam == 0.0:
            return self.log_alpha.new_zeros(())
        if self._any_fixed:  # held-open edges cost nothing: they cannot close
            return self.lam * self.p_open()[~self._fixed].sum()
        return self.lam * self.expected_open()

    def eval_gates(self) -> torch.Tensor:
        g = hard_concrete_eval(self.log_alpha.detach(), self.gamma, self.zeta)
        return torch.where(self._fixed, torch.ones_like(g), g) if self._any_fixed else g

    def strength(self) -> torch.Tensor:
        return self.eval_gates()

    def describe(self) -> WriteBack:
        g = self.eval_gates().cpu()
        return WriteBack(edges={"weight": g.tolist(), "active": (g > 0).tolist(),
                                "p_open": [float(x) for x in self.p_open().detach().cpu()],
                                "learned": (~self._fixed).cpu().tolist()})

    def transfer_from(self, other, pairs):
        if not isinstance(other, L0Wiring):
            return
        with torch.no_grad():
            for new, old in pairs:
                self.log_alpha[new] = other.log_alpha[old]
