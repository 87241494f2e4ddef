"""``sigmoid``: a learnable gate ``sigmoid(w)`` per edge, or per (edge, source channel).

From the gated-DAG blog post (seed 000) and RandWire's positive aggregation weights. The
per-channel variant is the post's "unique feature weights" (one weight per source feature map).
``penalty`` adds ``penalty * mean(gate)`` to ``net.regularizer()`` to push weak edges to zero
before pruning.

``carry=True`` makes the gates able to close behind BatchNorm. Every built-in op ends in
BatchNorm, which forgets how strongly a node was fed: scaling all of a node's input gates changes
nothing, so a node's only input has a gate that cannot learn. With ``carry`` each node gets a
*strength* ``s(v) = 1 - prod_u (1 - g(u, v) * s(u))`` (a soft "some input is open", 1 for input
nodes) and edge ``(u, v)`` is used with coefficient ``g(u, v) * s(u)``: the strength a node
receives is handed on past its normalisation, so every gate scales what reaches the output and
a gate of 0 cuts its edge's whole upstream contribution. ``write_back`` puts the gate on each
edge as ``weight`` (prune by it) and the coefficient as ``flow``; recompile a pruned graph with
``wiring="sigmoid", carry=True`` (gates carried over) to keep the same function, since a
``static`` recompile would use the gates without the strengths.
"""

from __future__ import annotations

import math

import torch

from ..errors import WiringError
from .base import Wiring
from .registry import register_wiring


def _generations(edges: list[tuple]) -> tuple[int, torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
    """Nodes of ``edges`` numbered in topological order: the count, each edge's source number, and
    per generation of targets the edge ids into it and their targets' numbers."""
    preds: dict = {}
    for u, v in edges:
        preds.setdefault(u, set())
        preds.setdefault(v, set()).add(u)
    level: dict = {}
    remaining = dict(preds)
    gen = 0
    while remaining:
        ready = [n for n, ps in remaining.items() if all(p in level for p in ps)]
        if not ready:
            raise WiringError("sigmoid wiring: carry=True needs an acyclic graph")
        for n in ready:
            level[n] = gen
            del remaining[n]
        gen += 1
    number = {n: i for i, n in enumerate(sorted(level, key=lambda n: (level[n], str(n))))}
    src = torch.tensor([number[u] for u, _ in edges], dtype=torch.long)
    groups: list[tuple[torch.Tensor, torch.Tensor]] = []
    for g in range(1, gen):
        ids = [i for i, (_, v) in enumerate(edges) if level[v] == g]
        if ids:
            groups.append((torch.tensor(ids, dtype=torch.long),
                           torch.tensor([number[edges[i][1]] for i in ids], dtype=torch.long)))
    return len(number), src, groups


#: Built-in ops that end in BatchNorm: behind them only the relative size of a node's gates matters.
_NORMALISING = frozenset({"conv", "sepconv", "linear"})


@register_wiring
class SigmoidWiring(Wiring):
    name = "sigmoid"
    mode = "edge"
    options = ("per_channel", "init", "penalty", "carry")

    def __init__(self, edges, edge_data, source_channels, per_channel: bool = False,
                 init: float = 0.0, penalty: float = 0.0, carry: bool = False):
        super().__init__(edges, edge_data, source_channels)
        if not isinstance(init, (int, float)) or isinstance(init, bool) or not math.isfinite(init):
            raise WiringError(f"sigmoid wiring: init must be a finite logit, got {init!r}")
        if not isinstance(penalty, (int, float)) or isinstance(penalty, bool) or penalty < 0:
            raise WiringError(f"sigmoid wiring: penalty must be a number >= 0, got {penalty!r}")
        if not isinstance(carry, bool):
            raise WiringError(f"sigmoid wiring: carry must be True or False, got {carry!r}")
        if carry and per_channel:
            raise WiringError("sigmoid wiring: carry=True works with one gate per edge, not per_channel=True")
        self.per_channel = bool(per_channel)
        self.penalty = float(penalty)
        self.carry = carry
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
        if carry:
            n, src, groups = _generations(self.edges)
            self._nodes = n
            self.register_buffer("_src", src, persistent=False)
            for i, (ids, tgt) in enumerate(groups):
                self.register_buffer(f"_gen{i}_edges", ids, persistent=False)
                self.register_buffer(f"_gen{i}_targets", tgt, persistent=False)
            self._groups = len(groups)

    def bind(self, plan) -> None:
        # Which gates can learn: without ``carry``, the gate of a node's only input is undone by the
        # BatchNorm that ends every built-in op (scale-invariant), so write_back marks it learned=False.
        indeg: dict = {}
        for _, v in self.edges:
            indeg[v] = indeg.get(v, 0) + 1
        ops = {nd.label: nd.op for nd in getattr(plan, "nodes", ())}
        self._fixed = [not self.carry and indeg[v] == 1 and ops.get(v) in _NORMALISING for _, v in self.edges]

    def _strength(self, gates: torch.Tensor) -> torch.Tensor:
        """Each node's strength ``s`` (numbered in topological order), computed generation by generation."""
        s = gates.new_ones(self._nodes)
        for i in range(self._groups):
            ids, tgt = getattr(self, f"_gen{i}_edges"), getattr(self, f"_gen{i}_targets")
            flow = (gates[ids] * s[self._src[ids]]).clamp(0.0, 1.0 - 1e-6)
            closed = torch.zeros_like(s).index_add(0, tgt, torch.log1p(-flow))  # log prod (1 - flow)
            touched = torch.zeros_like(s).index_add(0, tgt, torch.ones_like(flow)) > 0
            s = torch.where(touched, -torch.expm1(closed), s)
        return s

    def raw_coefficients(self):
        g = torch.sigmoid(self.logit)
        if self.carry:
            return g * self._strength(g)[self._src]
        return g

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
        if hasattr(self, "_fixed"):  # False: a gate normalisation undid (drawn "fixed" by to_dot)
            attrs["learned"] = [not f for f in self._fixed]
        if self.carry:  # what the edge passes on: its gate times its source's strength
            with torch.no_grad():
                attrs["flow"] = [float(x) for x in self.raw_coefficients().cpu()]
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
