"""``sigmoid``: a learnable gate ``sigmoid(w)`` per edge, or per (edge, source channel).

From the gated-DAG blog post ("learning the connectivity") and RandWire's positive aggregation
weights (Xie et al. 2019). The per-channel variant is the post's "unique feature weights" (one
weight per source feature map).

Defaults (chosen with ``benchmarks/gates.py``, see ``docs/gates.md``): ``carry=True``,
``init=3.0`` (every gate starts open, at 0.95), ``penalty=0.3`` (``penalty * mean(gate)`` is added
to ``net.regularizer()``, a steady push towards 0 that the gates the loss needs resist). With
these, and the gates on their own learning rate (:func:`graphwire.train.param_groups`), the
gates *separate*: most end below 0.1 or above 0.9, and pruning the closed ones changes little.

``carry=True`` makes every gate able to close behind BatchNorm. Every built-in op ends in
BatchNorm, which forgets how strongly a node was fed: scaling all of a node's input gates changes
nothing, so a node's only input has a gate that cannot learn. With ``carry`` each node gets a
*strength* ``s(v) = 1 - prod_u (1 - g(u, v) * s(u))`` (a soft "some input is open", 1 for input
nodes) and edge ``(u, v)`` is used with coefficient ``g(u, v) * s(u)``: the strength a node
receives is handed on past its normalisation, so every gate scales what reaches the output and
a gate of 0 cuts its edge's whole upstream contribution (per channel, ``g(u, v)`` in the strength
is the mean of the edge's channel gates). ``write_back`` puts on each edge its ``gate`` and, as
``weight`` (and ``flow``), the coefficient ``g(u, v) * s(u)`` the edge actually carries: prune by
it, and a pruned graph recompiled with ``wiring="static"`` (coefficient = ``weight``)
computes exactly what the gated network computes with the pruned edges masked. Recompile with
``wiring="sigmoid"`` instead to keep training the gates. An edge closed by ``net.mask_edges`` feeds
no strength to its target, exactly as if it had been pruned.

``carry=False`` is the plain gate. Behind a normalising op only the *relative* size of a node's
gates matters there, and the gate of a node's only input cannot learn: ``write_back`` marks such
edges ``learned=False`` and :func:`graphwire.prune` keeps them unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..contract import boolean, finite
from .base import Wiring, WiringSpec, WriteBack, check_bool, check_number, sole_normalised_inputs
from .registry import register_wiring

__all__ = ["SigmoidWiring", "Sigmoid"]


def _channel_weights(v) -> str | None:
    if not isinstance(v, list) or any(finite(x) for x in v):
        return f"must be a list of finite numbers (one gate per source channel), got {v!r:.60}"
    return None



@dataclass(frozen=True)
class Sigmoid(WiringSpec):
    """``wiring="sigmoid"``: a learnable gate ``sigmoid(w)`` per edge (or per edge and source channel).

    Options (defaults in brackets):

    - ``carry`` [True]: hand each node's strength on past its BatchNorm, so every gate (a node's
      only input too) scales what reaches the output and can close; False: plain gates, only their
      ratio within a node matters behind a normalising op.
    - ``init`` [3.0]: the starting logit of every gate (3.0: open, gate 0.95).
    - ``penalty`` [0.3]: adds ``penalty * mean(gate)`` to ``net.regularizer()``, a push towards 0.
    - ``per_channel`` [False]: one gate per (edge, source channel).

    Train the gates on their own learning rate: ``torch.optim.Adam(graphwire.train.param_groups(net,
    wiring_lr=0.3), lr=1e-3)`` or ``torch.optim.SGD(graphwire.train.param_groups(net, wiring_lr=3.0),
    lr=0.05, momentum=0.9)`` (``net.wiring_parameters()`` are the gates), add ``net.regularizer()`` to the loss, then
    ``net.write_back()`` puts each edge's gate (``gate``) and coefficient (``weight``) on it: prune
    with ``graphwire.prune(G, threshold=0.5)``. ``docs/training-loop.md`` is the whole recipe and
    ``docs/gates.md`` the measurements behind these defaults.
    """

    per_channel: bool = False
    init: float = 3.0
    penalty: float = 0.3
    carry: bool = True

    def __post_init__(self):
        check_bool("sigmoid", "per_channel", self.per_channel)
        check_number("sigmoid", "init", self.init, lambda v: True, "(a logit)")
        check_number("sigmoid", "penalty", self.penalty, lambda v: v >= 0, ">= 0")
        check_bool("sigmoid", "carry", self.carry)


@register_wiring
class SigmoidWiring(Wiring):
    name = "sigmoid"
    Options = Sigmoid
    attributes = (
        ("edge", "channel_weights", _channel_weights, "per_channel: the gate of each source channel"),
        ("edge", "learned", boolean, "False: a gate the node's normalisation undoes (it cannot learn)"),
        ("edge", "flow", finite, "carry: what the edge passes on, its gate times its source's strength"),
        ("edge", "gate", finite, "carry: the gate itself (weight is then the edge's coefficient, its flow)"),
    )

    def __init__(self, plan, edge_data, options: Sigmoid):
        super().__init__(plan, edge_data, options)
        per_channel, init, penalty, carry = options.per_channel, options.init, options.penalty, options.carry
        self.per_channel = bool(per_channel)
        self.penalty = float(penalty)
        self.carry = carry
        self.mode = "channel" if self.per_channel else "edge"
        source_channels = plan.source_channels() if self.per_channel else []
        shape = (len(self.edges), max(source_channels, default=1)) if self.per_channel else (len(self.edges),)
        self.logit = torch.nn.Parameter(torch.full(shape, float(init)))
        cmask = torch.zeros(shape)
        if self.per_channel:
            for e, c in enumerate(source_channels):
                cmask[e, :c] = 1.0
        else:
            cmask.fill_(1.0)
        self.register_buffer("_valid", cmask, persistent=False)
        # Which gates can learn: without ``carry``, the gate of a node's only input is undone by the
        # BatchNorm that ends every built-in op (scale-invariant), so write_back marks it learned=False.
        self._fixed = (sole_normalised_inputs(plan) & (not carry)).tolist()
        target = plan.edge_positions()[1]
        # edges closed by net.mask_edges feed no strength (mask_changed), exactly as if pruned
        self.register_buffer("_open", torch.ones(len(self.edges)), persistent=False)
        if carry:
            # nodes by plan position (a topological order); edges grouped by their target's generation
            self._nodes = len(plan.nodes)
            self.register_buffer("_src", torch.from_numpy(plan.edge_positions()[0].copy()), persistent=False)
            gen = np.array([plan.nodes[t].gen for t in target], np.int64)
            levels = sorted(set(gen.tolist()))
            for i, g in enumerate(levels):
                ids = np.flatnonzero(gen == g)
                self.register_buffer(f"_gen{i}_edges", torch.from_numpy(ids), persistent=False)
                self.register_buffer(f"_gen{i}_targets", torch.from_numpy(target[ids]), persistent=False)
            self._groups = len(levels)

    def _strength(self, gates: torch.Tensor) -> torch.Tensor:
        """Each node's strength ``s`` (by plan position), computed generation by generation."""
        s = gates.new_ones(self._nodes)
        for i in range(self._groups):
            ids, tgt = getattr(self, f"_gen{i}_edges"), getattr(self, f"_gen{i}_targets")
            flow = (gates[ids] * s[self._src[ids]]).clamp(0.0, 1.0 - 1e-6)
            # log prod (1 - flow) per target; scatter_add, not index_add: ONNX exports it with a summing reduction
            closed = torch.zeros_like(s).scatter_add(0, tgt, torch.log(1.0 - flow))
            touched = torch.zeros_like(s).scatter_add(0, tgt, torch.ones_like(flow)) > 0
            s = torch.where(touched, 1.0 - torch.exp(closed), s)  # (ONNX has no expm1)
        return s

    def _edge_gates(self, g: torch.Tensor) -> torch.Tensor:
        """One gate per edge: the mean over an edge's channels with ``per_channel``."""
        if self.per_channel:
            return (g * self._valid).sum(1) / self._valid.sum(1).clamp_min(1.0)
        return g

    def coefficients(self):
        g = torch.sigmoid(self.logit)
        if self.carry:
            s = self._strength(self._edge_gates(g) * self._open)[self._src]
            return g * (s[:, None] if self.per_channel else s)
        return g

    def mask_changed(self, edge_mask: torch.Tensor) -> None:
        """The network's edge mask changed: a closed edge no longer feeds its target's strength."""
        with torch.no_grad():
            self._open.copy_((edge_mask != 0).to(self._open))

    def regularizer(self):
        if self.penalty == 0.0:
            return self.logit.new_zeros(())
        gates = torch.sigmoid(self.logit) * self._valid
        return self.penalty * gates.sum() / self._valid.sum().clamp_min(1.0)

    def strength(self):
        return self._edge_gates(torch.sigmoid(self.logit.detach()))

    def describe(self) -> WriteBack:
        s = self.strength().cpu()
        out = WriteBack(edges={"weight": s.tolist(), "active": [True] * len(s)})
        if self.per_channel:
            g = torch.sigmoid(self.logit.detach()) * self._valid
            out.edges["channel_weights"] = [[float(x) for x in row[: int(v.sum())]]
                                            for row, v in zip(g.cpu(), self._valid.cpu())]
        out.edges["learned"] = [not f for f in self._fixed]  # False: a gate normalisation undid
        if self.carry:  # what the edge passes on: its gate times its source's strength
            with torch.no_grad():
                flow = [float(x) for x in self._edge_gates(self.coefficients()).cpu()]
            # weight is the edge's coefficient, so a static recompile of a pruned graph computes what
            # the gated network computes with the pruned edges masked
            out.edges.update(weight=flow, flow=flow, gate=s.tolist())
        return out

    def transfer_from(self, other, pairs):
        if not isinstance(other, SigmoidWiring) or other.per_channel != self.per_channel or not pairs:
            return
        new, old = (torch.tensor(x, dtype=torch.long) for x in zip(*pairs))
        with torch.no_grad():
            if self.per_channel:
                n = min(self.logit.shape[-1], other.logit.shape[-1])
                self.logit[new, :n] = other.logit.detach()[old, :n].to(self.logit)
            else:
                self.logit[new] = other.logit.detach()[old].to(self.logit)
