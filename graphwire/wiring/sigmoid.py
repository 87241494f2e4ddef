"""``sigmoid``: a learnable gate ``sigmoid(w)`` per edge, or per (edge, source channel).

From the gated-DAG blog post (seed 000) and RandWire's positive aggregation weights. The
per-channel variant is the post's "unique feature weights" (one weight per source feature map).
``penalty`` adds ``penalty * mean(gate)`` to ``net.regularizer()`` to push weak edges to zero
before pruning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import WiringError
from .base import Wiring, WriteBack
from .registry import WiringSpec, register_wiring

__all__ = ["SigmoidWiring", "Sigmoid"]


@register_wiring
class SigmoidWiring(Wiring):
    name = "sigmoid"
    options = ("per_channel", "init", "penalty")

    def __init__(self, plan, edge_data, per_channel: bool = False, init: float = 0.0, penalty: float = 0.0):
        super().__init__(plan, edge_data)
        if not isinstance(init, (int, float)) or isinstance(init, bool) or not math.isfinite(init):
            raise WiringError(f"sigmoid wiring: init must be a finite logit, got {init!r}")
        if (not isinstance(penalty, (int, float)) or isinstance(penalty, bool) or not math.isfinite(penalty)
                or penalty < 0):
            raise WiringError(f"sigmoid wiring: penalty must be a finite number >= 0, got {penalty!r}")
        self.per_channel = bool(per_channel)
        self.penalty = float(penalty)
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

    def coefficients(self):
        return torch.sigmoid(self.logit)

    def regularizer(self):
        if self.penalty == 0.0:
            return self.logit.new_zeros(())
        gates = torch.sigmoid(self.logit) * self._valid
        return self.penalty * gates.sum() / self._valid.sum().clamp_min(1.0)

    def strength(self):
        g = torch.sigmoid(self.logit.detach())
        if self.per_channel:
            return (g * self._valid).sum(1) / self._valid.sum(1).clamp_min(1.0)
        return g

    def describe(self) -> WriteBack:
        s = self.strength().cpu()
        out = WriteBack(edges={"weight": s.tolist(), "active": [True] * len(s)})
        if self.per_channel:
            g = torch.sigmoid(self.logit.detach()) * self._valid
            out.edges["channel_weights"] = [[float(x) for x in row[: int(v.sum())]]
                                            for row, v in zip(g.cpu(), self._valid.cpu())]
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


@dataclass(frozen=True)
class Sigmoid(WiringSpec):
    """``wiring="sigmoid"``: a gate per edge (or per edge and source channel)."""

    method = "sigmoid"
    per_channel: bool = False
    init: float = 0.0
    penalty: float = 0.0
