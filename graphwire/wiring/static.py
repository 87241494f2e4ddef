"""``static``: fixed coefficients read from each edge's ``weight`` attribute (default 1).

The RandWire baseline (fixed random wiring) and the target of pruning: a written-back graph
compiled with ``static`` reproduces the learned coefficients exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import Wiring, WiringSpec, WriteBack
from .registry import register_wiring

__all__ = ["StaticWiring", "Static"]


@dataclass(frozen=True)
class Static(WiringSpec):
    """``wiring="static"``: coefficients from each edge's ``weight`` (default 1)."""


@register_wiring
class StaticWiring(Wiring):
    name = "static"
    Options = Static

    def __init__(self, plan, edge_data, options: Static | None = None):
        super().__init__(plan, edge_data, options)
        w = [float(d.get("weight", 1.0)) if d else 1.0 for d in edge_data]
        self.register_buffer("weight", torch.tensor(w, dtype=torch.get_default_dtype()))
        self.may_close = any(x == 0.0 for x in w)
        self.unit_edges = frozenset(i for i, x in enumerate(w) if x == 1.0)

    def coefficients(self):
        return self.weight

    def describe(self) -> WriteBack:
        w = self.weight.detach().cpu()
        return WriteBack(edges={"weight": w.abs().tolist(), "active": (w != 0).tolist()})
