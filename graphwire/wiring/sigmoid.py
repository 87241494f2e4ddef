"""``sigmoid``: a learnable gate ``sigmoid(w)`` per edge, or per (edge, source channel).

From the gated-DAG blog post (seed 000) and RandWire's positive aggregation weights. The
per-channel variant is the post's "unique feature weights" (one weight per source feature map).
``penalty`` adds ``penalty * mean(gate)`` to ``net.regularizer()`` to push weak edges to zero
before pruning.
"""

from __future__ import annotations

import math

import torch

from ..errors import WiringError
from .base import Wiring
from .registry import register_wiring


@register_wiring
class SigmoidWiring(Wiring):
    name = "sigmoid"
    mode = "edge"
    options = ("per_channel", "init", "penalty")

    def __init__(self, edges, edge_data, source_channels, per_channel: bool = False,
                 init: float = 0.0, penalty: float = 0.0):
        super().__init__(edges, edge_data, source_channels)
        if not isinstance(init, (int, float)) or isinstance(init, bool) or not math.isfinite(init):
            raise WiringError(f"sigmoid wiring: init must be a finite logit, got {init!r}")
        if not isinstance(penalty, (int, float)) or isinstance(penalty, bool) or penalty < 0:
            raise WiringError(f"sigmoid wiring: penalty must be a number >= 0, got {penalty!r}")
        self.per_channel = bool(per_channel)
        self.penalty = float(penalty)
        self.mode = "channel" if self.per_channel else "edge"
        shape = (len(edges), max(source_channels, default=1)) if self.per_channel else (len(edges),)
        self.logit = torch.nn.Parameter(torch.full(shape, float(init)))
        cmask = torch.zeros(shape)
        if self.per_channel:
            for e, c in enumerate(source_channels):
                cmask[e, :c] = 1.0
        else:
            cmask.fill_(1.0)
        self.register_buffer("_valid", cmask, persistent=False)

    def raw_coefficients(self):
        return torch.sigmoid(self.logit)

    def regularizer(self):
        if self.penalty == 0.0:
            return self.logit.new_zeros(())
        gates = torch.sigmoid(self.logit) * self._valid
        return self.penalty * gates.sum() / self._valid.sum().clamp_min(1.0)

    def edge_strength(self):
        g = torch.sigmoid(self.logit.detach())
        if self.per_channel:
            return (g * self._valid).sum(1) / self._valid.sum(1).clamp_min(1.0)
        return g

    def edge_attributes(self):
        attrs = super().edge_attributes()
        if self.per_channel:
            g = torch.sigmoid(self.logit.detach()) * self._valid
            attrs["channel_weights"] = [[float(x) for x in row[: int(v.sum())]] for row, v in zip(g.cpu(), self._valid.cpu())]
        return attrs

    def load_edges_from(self, other, pairs):
        if not isinstance(other, SigmoidWiring) or other.per_channel != self.per_channel:
            return
        with torch.no_grad():
            for new, old in pairs:
                n = min(self.logit.shape[-1], other.logit.shape[-1]) if self.per_channel else None
                if self.per_channel:
                    self.logit[new, :n] = other.logit[old, :n]
                else:
                    self.logit[new] = other.logit[old]
