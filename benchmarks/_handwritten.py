"""A hand-written, vectorised wired MLP over a DAG: the limit the scale benchmark chases.

The network is the one ``graphwire.compile(G, in_channels=..., channels=C, default_op="linear",
output_op="identity", dims=0, wiring="sigmoid")`` builds from a generated graph:

* every input node: ``relu(batchnorm(linear(x)))`` from the network input (``in_channels -> C``);
* every hidden node: the sum over its in-edges of ``sigmoid(gate) * source output``, then
  ``relu(batchnorm(linear(.)))`` (``C -> C``), as graphwire's ``linear`` op (Linear ->
  BatchNorm1d -> ReLU, post-activation);
* every output node (``identity``): the gated sum of its inputs; the net returns the output
  nodes' values side by side, ``[B, outputs * C]``.

Written the way a person would write it for speed, with no per-node modules:

* nodes are grouped by topological generation; a generation's weights are stored stacked
  (``[G, C, C]`` weight, ``[G, C]`` bias, ``[G * C]`` BatchNorm affine and running statistics),
  so its linear layers are one batched matmul and its BatchNorms one ``F.batch_norm`` over
  ``[B, G * C]`` (per-channel batch statistics, the same arithmetic as G separate BatchNorm1d);
* a generation's input is gathered edge by edge: for each earlier generation that feeds it,
  ``index_select`` of the source rows, then one multiply by ``sigmoid(gate)`` and one
  ``index_add_`` into ``[B, G, C]``. Work and memory are O(edges), never O(nodes^2).

BatchNorm is matched exactly (training-mode batch statistics, running-stat updates). Given a
compiled graphwire net's parameters (:meth:`HandWiredMLP.load_from_graphwire`) the outputs agree
to float rounding (``--check`` asserts it on ER(1000)). Fresh parameters use the same
distributions as graphwire's but other random draws, and edges are summed in another order.

    python benchmarks/_handwritten.py --check     # ER(1000): node-by-node and graphwire checks, step time
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HandWiredMLP", "step_time"]


class HandWiredMLP(nn.Module):
    """The wired MLP of a DAG, one stacked step per topological generation (see the module doc)."""

    def __init__(self, G: nx.DiGraph, *, in_channels: int, channels: int, momentum: float = 0.1,
                 eps: float = 1e-5):
        super().__init__()
        C = int(channels)
        self.channels, self.momentum, self.eps = C, momentum, eps
        roles = {v: G.nodes[v].get("role", "hidden") for v in G}
        outputs = sorted((v for v in G if roles[v] == "output"), key=_key)
        gens = [sorted((v for v in gen if roles[v] != "output"), key=_key) for gen in nx.topological_generations(G)]
        gens = [g for g in gens if g]
        if not gens or any(roles[v] != "input" for v in gens[0]) or any(roles[v] == "input" for g in gens[1:] for v in g):
            raise ValueError("the first generation must hold exactly the input nodes")
        # slot (generation, position) of every node; outputs form a last step of their own
        steps = [*gens, outputs]
        where = {v: (s, i) for s, nodes in enumerate(steps) for i, v in enumerate(nodes)}
        self.sizes = [len(nodes) for nodes in steps]
        self.labels = steps

        # edges sorted by (target step, source step): each step's edges, and within them each
        # source step's, are contiguous slices of one gate vector
        edges = list(G.edges())
        e = np.array([(*where[u], *where[v]) for u, v in edges], dtype=np.int64).reshape(-1, 4)
        order = np.lexsort((e[:, 0], e[:, 2]))
        e = e[order]
        self.edges = [edges[i] for i in order.tolist()]
        self.gate = nn.Parameter(torch.zeros(len(e)))  # sigmoid(0) = 0.5, as graphwire's init
        self.plan: list[list[tuple[int, int, int]]] = []  # per step: (source step, edge start, edge stop)
        bounds = np.searchsorted(e[:, 2], np.arange(len(steps) + 1))
        for s in range(len(steps)):
            a, b = int(bounds[s]), int(bounds[s + 1])
            pieces = []
            if b > a:
                src_steps = e[a:b, 0]
                cuts = np.flatnonzero(np.diff(src_steps)) + 1
                starts = np.concatenate([[0], cuts]) + a
                stops = np.concatenate([cuts, [b - a]]) + a
                pieces = [(int(e[lo, 0]), int(lo), int(hi)) for lo, hi in zip(starts, stops)]
            self.plan.append(pieces)
            self.register_buffer(f"dst{s}", torch.from_numpy(e[a:b, 3].copy()), persistent=False)
            for src, lo, hi in pieces:
                self.register_buffer(f"src{s}_{src}", torch.from_numpy(e[lo:hi, 1].copy()), persistent=False)

        # stacked per-step parameters (outputs are identity: none)
        self.weight = nn.ParameterList()
        self.bias = nn.ParameterList()
        self.bn_weight = nn.ParameterList()
        self.bn_bias = nn.ParameterList()
        for s, n in enumerate(self.sizes[:-1]):
            fan_in = in_channels if s == 0 else C
            bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default init
            self.weight.append(nn.Parameter(torch.empty(n, C, fan_in).uniform_(-bound, bound)))
            self.bias.append(nn.Parameter(torch.empty(n, C).uniform_(-bound, bound)))
            self.bn_weight.append(nn.Parameter(torch.ones(n * C)))
            self.bn_bias.append(nn.Parameter(torch.zeros(n * C)))
            self.register_buffer(f"running_mean{s}", torch.zeros(n * C))
            self.register_buffer(f"running_var{s}", torch.ones(n * C))

    @torch.no_grad()
    def load_from_graphwire(self, net: nn.Module) -> None:
        """Copy a compiled graphwire net's parameters (``linear`` nodes, ``sigmoid`` wiring) in,
        so both compute the same function: the check that this is the same network."""
        C = self.channels
        for s, nodes in enumerate(self.labels[:-1]):
            for i, v in enumerate(nodes):
                mod = net.node(v)
                self.weight[s][i].copy_(mod.fc.weight)
                self.bias[s][i].copy_(mod.fc.bias)
                self.bn_weight[s][i * C:(i + 1) * C].copy_(mod.bn.weight)
                self.bn_bias[s][i * C:(i + 1) * C].copy_(mod.bn.bias)
        index = {e: i for i, e in enumerate(net.plan.edges)}
        self.gate.copy_(net.wiring.logit[[index[e] for e in self.edges]])

    # Node outputs are kept node-major, ``[G, B, C]``: a gather or scatter along dim 0 then moves
    # whole contiguous ``B * C`` rows, several times faster than along dim 1 of ``[B, G, C]``.
    def _gather(self, s: int, outs: list[torch.Tensor], gates: torch.Tensor) -> torch.Tensor:
        """Step ``s``'s input ``[G, B, C]``: the gated sum over its in-edges, O(its edges)."""
        pieces = self.plan[s]
        _, B, C = outs[0].shape
        agg = outs[0].new_zeros(self.sizes[s], B, C)
        if not pieces:
            return agg
        src = torch.cat([outs[p].index_select(0, getattr(self, f"src{s}_{p}")) for p, _, _ in pieces], 0)
        lo, hi = pieces[0][1], pieces[-1][2]
        return agg.index_add_(0, getattr(self, f"dst{s}"), src * gates[lo:hi].view(-1, 1, 1))

    def _node(self, s: int, x: torch.Tensor) -> torch.Tensor:
        """Step ``s``'s linear nodes, ``[G, B, in] -> [G, B, C]``: one batched matmul, one batch
        norm over ``[B, G * C]`` (per-channel batch statistics, as G BatchNorm1d), one ReLU."""
        n, B, _ = x.shape
        y = torch.baddbmm(self.bias[s].unsqueeze(1), x, self.weight[s].transpose(1, 2))
        y = y.transpose(0, 1).reshape(B, n * self.channels)
        y = F.batch_norm(y, getattr(self, f"running_mean{s}"), getattr(self, f"running_var{s}"),
                         self.bn_weight[s], self.bn_bias[s], self.training, self.momentum, self.eps)
        return F.relu(y).view(B, n, self.channels).transpose(0, 1).contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gates = torch.sigmoid(self.gate)
        outs = [self._node(0, x.unsqueeze(0).expand(self.sizes[0], -1, -1))]
        for s in range(1, len(self.sizes) - 1):
            outs.append(self._node(s, self._gather(s, outs, gates)))
        last = len(self.sizes) - 1
        return self._gather(last, outs, gates).transpose(0, 1).reshape(x.shape[0], -1)


def _key(v) -> tuple:
    return (isinstance(v, str), v)


def step_time(model: nn.Module, x: torch.Tensor, *, repeats: int = 5, warmup: int = 1) -> float:
    """Median seconds of one training step's forward + backward (gradients zeroed in between)."""
    model.train()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(x).square().mean().backward()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _check() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from graphwire import generators

    torch.manual_seed(0)
    G = generators.erdos_renyi(1000, 0.0086, seed=1)  # ~4.3k hidden edges
    C, B, cin = 8, 16, 8
    t = time.perf_counter()
    net = HandWiredMLP(G, in_channels=cin, channels=C)
    build = time.perf_counter() - t
    x = torch.randn(B, cin)
    y = net(x)
    assert y.shape == (B, C) and torch.isfinite(y).all()
    # the output is the gated sum of the output node's inputs: recompute it node by node
    net.eval()
    with torch.no_grad():
        ref = _reference(net, G, x)
        got = net(x)
    err = (got - ref).abs().max().item()
    assert err < 1e-4, f"vectorised and node-by-node outputs differ by {err}"
    net.train()
    y = net(x)
    y.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    # and the same function as graphwire's compiled net, given its parameters (training mode)
    import graphwire as gw

    gnet = gw.compile(G, in_channels=cin, channels=C, default_op="linear", dims=0, wiring="sigmoid")
    with torch.no_grad():
        gnet.wiring.logit.normal_()  # distinct gates, so a wrong edge order would show
    net.load_from_graphwire(gnet)
    gnet.train()
    net.train()
    gw_err = (gnet(x) - net(x)).abs().max().item()
    assert gw_err < 1e-3, f"hand-written and graphwire outputs differ by {gw_err}"
    ms = step_time(net, x, repeats=7) * 1000
    print(f"ER(1000): {G.number_of_nodes()} nodes, {G.number_of_edges()} edges, {len(net.sizes) - 2} hidden "
          f"generations; build {build * 1000:.0f} ms; max |diff| node-by-node {err:.1e}, "
          f"vs graphwire.compile with the same parameters {gw_err:.1e}")
    print(f"hand-written forward+backward, batch {B}, C={C}: {ms:.2f} ms (median of 7, "
          f"{torch.get_num_threads()} threads)")
    return 0


def _reference(net: HandWiredMLP, G: nx.DiGraph, x: torch.Tensor) -> torch.Tensor:
    """The same network evaluated one node at a time in plain Python (eval mode): the oracle."""
    gate = {e: torch.sigmoid(net.gate[i]) for i, e in enumerate(net.edges)}
    val = {}
    C = net.channels
    for s, nodes in enumerate(net.labels):
        for i, v in enumerate(nodes):
            if s == 0:
                h = x
            else:
                h = sum(gate[(u, v)] * val[u] for u in G.predecessors(v))
            if s == len(net.labels) - 1:
                val[v] = h
                continue
            y = h @ net.weight[s][i].T + net.bias[s][i]
            sl = slice(i * C, (i + 1) * C)
            rm, rv = getattr(net, f"running_mean{s}")[sl], getattr(net, f"running_var{s}")[sl]
            y = (y - rm) / torch.sqrt(rv + net.eps) * net.bn_weight[s][sl] + net.bn_bias[s][sl]
            val[v] = torch.relu(y)
    return torch.cat([val[v] for v in net.labels[-1]], 1)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="hand-written vectorised wired MLP (the scale benchmark's limit)")
    ap.add_argument("--check", action="store_true", help="build ER(1000), check it node by node, time a step")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sys.exit(_check() if args.check else ap.print_help() or 0)
