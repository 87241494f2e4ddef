"""``static``: fixed coefficients read from each edge's ``weight`` attribute (default 1).

The RandWire baseline (fixed random wiring) and the target of pruning: a written-back graph
compiled with ``static`` reproduces the learned coefficients exactly.
"""

from __future__ import annotations

import torch

from .base import Wiring
from .registry import register_wiring


@register_wiring
class StaticWiring(Wiring):
    name = "static"
    options = ()

    def __init__(self, edges, edge_data, source_channels):
        super().__init__(edges, edge_data, source_channels)
        w = [float(d.get("weight", 1.0)) for d in edge_data]
        self.register_buffer("weight", torch.tensor(w, dtype=torch.get_default_dtype()))
        self._zero = any(x == 0.0 for x in w)
        self._units = {i for i, x in enumerate(w) if x == 1.0}

    def raw_coefficients(self):
        return self.weight

    def may_close_raw(self):
        return self._zero

    def edge_strength(self):
        return self.weight.detach().abs()

    def inference_mask(self):
        return (self.edge_mask > 0) & (self.weight != 0)

    def constant_unit_edges(self):
        return set(self._units)
