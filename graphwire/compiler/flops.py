"""What a network costs: the *training cost* (what runs) and the *inference cost* of its chosen wiring.

Two different questions, two functions:

* :func:`training_cost` (and :func:`count_flops`, the same count in FLOPs) runs one forward pass
  under PyTorch's ``FlopCounterMode`` and counts what actually executes: a wired core aggregates
  over *every* candidate edge with dense block matmuls, whether an edge is chosen or not, and
  every node runs. For a DNW channel graph that is the dense 1x1 work over all 6.98M candidate
  edges of MobileNet x0.225 (about 1.3 GMAC at 224 px): the price of training it.
* :func:`inference_cost` counts what the papers report: the network the chosen wiring deploys
  to. Only *chosen* edges count (a coefficient that is not exactly 0 and an edge the user did not
  mask), only *alive* nodes run (on a path from an input to an output over chosen edges; a node
  whose inputs are all closed outputs exactly zero, and a node that reaches no output changes
  nothing), and modules outside the wired core count when they run in evaluation (an auxiliary
  head that only runs in training does not).

The inference cost adds up three parts, in multiply-adds (MACs, the papers' "FLOPs"):

* ``node_ops``: each alive node's op, measured with ``FlopCounterMode`` on its real input shape
  (convolutions and matmuls, as the counter counts them; pooling, BatchNorm and activations are
  free);
* ``edges``: one multiply-add per element an edge carries (source channels x the target's map)
  for every chosen edge between alive nodes whose coefficient is a learned value; an edge with
  the constant coefficient 1 is a plain addition and costs nothing. In a DNW channel graph an
  edge *is* a weight of a 1x1 convolution, so this is that convolution over the chosen edges;
  in RandWire it is the weighted sum of a node's inputs;
* ``outside``: the stem, the head and whatever else runs outside the wired core(s), measured with
  ``FlopCounterMode`` in evaluation mode.

Parameters are counted the same way: the alive nodes' op parameters, one per chosen learned edge
(per channel for per-channel coefficients), and the parameters of the outside modules that run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..errors import ParameterError

__all__ = ["Cost", "count_flops", "training_cost", "inference_cost"]


@dataclass
class Cost:
    """A network's cost for one input: ``macs`` (multiply-adds) and ``params``.

    ``parts`` splits ``macs`` (``node_ops``, ``edges``, ``outside`` for an inference cost;
    ``total`` for a training cost) and ``param_parts`` splits ``params`` the same way;
    ``nodes``/``alive_nodes`` and ``edges``/``chosen_edges`` count the wired core(s) before and
    after the chosen wiring is applied (an inference cost only). ``dynamic`` is True when a
    wiring chooses its edges per sample (DDW): every edge is then counted as chosen, an upper bound.
    """

    kind: str
    input_shape: tuple
    macs: int
    params: int
    parts: dict = field(default_factory=dict)
    param_parts: dict = field(default_factory=dict)
    nodes: int = 0
    alive_nodes: int = 0
    edges: int = 0
    chosen_edges: int = 0
    dynamic: bool = False

    @property
    def flops(self) -> int:
        """``2 * macs`` (a multiply-add is two floating-point operations)."""
        return 2 * self.macs

    def __str__(self) -> str:
        text = f"{self.kind} cost at {list(self.input_shape)}: {self.macs / 1e6:,.1f}M MACs, {self.params / 1e6:,.3f}M params"
        if self.kind == "inference":
            text += (f" (node ops {self.parts['node_ops'] / 1e6:,.1f}M, edges {self.parts['edges'] / 1e6:,.1f}M, "
                     f"outside {self.parts['outside'] / 1e6:,.1f}M MACs; {self.alive_nodes}/{self.nodes} nodes, "
                     f"{self.chosen_edges}/{self.edges} edges)")
        return text


def _input(model: nn.Module, input_shape: Any) -> tuple[torch.Tensor, tuple]:
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
        if input_shape is None:
            raise ParameterError("input_shape is needed (e.g. (1, 3, 224, 224)): this model does not record one")
    p = next(iter(model.parameters()), None)
    device = p.device if p is not None else torch.device("cpu")
    dtype = p.dtype if p is not None else torch.get_default_dtype()
    if isinstance(input_shape, torch.Tensor):
        return input_shape, tuple(input_shape.shape)
    if (not isinstance(input_shape, (tuple, list)) or not input_shape
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in input_shape)):
        raise ParameterError(f"input_shape must be a tuple of positive ints such as (1, 3, 224, 224), got {input_shape!r}")
    return torch.zeros(tuple(input_shape), device=device, dtype=dtype), tuple(input_shape)


@contextlib.contextmanager
def _eval(model: nn.Module, training: bool = False) -> Iterator[None]:
    was = {m: m.training for m in model.modules()}
    model.train(training)
    try:
        yield
    finally:
        for m, t in was.items():
            m.training = t


@torch.no_grad()
def count_flops(model: nn.Module, input_shape: tuple[int, ...] | torch.Tensor) -> int:
    """FLOPs of one forward pass in eval mode (2 per multiply-add, convolutions and matmuls only,
    as ``torch.utils.flop_counter`` counts them): what *runs*, :func:`training_cost` in FLOPs.
    Every node runs (closed-node skipping is turned off) and a wired core aggregates over all its
    candidate edges, so for a sparse or dynamic wiring this is the dense upper bound; the cost of
    the chosen wiring is :func:`inference_cost`.

    >>> import graphwire as gw
    >>> net = gw.compile(gw.generators.chain(1), in_channels=3, channels=4)
    >>> count_flops(net, (1, 3, 8, 8)) > 0
    True
    """
    x, _ = _input(model, input_shape)
    wired: list = [m for m in model.modules() if hasattr(m, "skip_closed")]
    saved = [m.skip_closed for m in wired]
    try:
        for m in wired:
            m.skip_closed = False
        with _eval(model), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        for m, s in zip(wired, saved):
            m.skip_closed = s
    return int(counter.get_total_flops())


def training_cost(model: nn.Module, input_shape: tuple[int, ...] | torch.Tensor | None = None) -> Cost:
    """The cost of what runs: multiply-adds of one forward pass (every node, every candidate edge;
    :func:`count_flops` / 2) and every parameter the model holds (auxiliary heads, unchosen
    candidate edges and all). ``input_shape`` defaults to the model's ``input_shape`` attribute.

    >>> import graphwire as gw
    >>> net = gw.compile(gw.generators.chain(1), in_channels=3, channels=4)
    >>> training_cost(net, (1, 3, 8, 8)).macs == count_flops(net, (1, 3, 8, 8)) // 2
    True
    """
    x, shape = _input(model, input_shape)
    macs = count_flops(model, x) // 2
    params = sum(p.numel() for p in model.parameters())
    return Cost("training", shape, macs, params, parts={"total": macs}, param_parts={"total": params})


# ------------------------------------------------------------------ inference cost of a wired core
def _reach(n: int, src: np.ndarray, dst: np.ndarray, gen: np.ndarray, start: np.ndarray, forward: bool) -> np.ndarray:
    """Nodes reachable from ``start`` along the edges (``forward``) or against them, generation by generation."""
    seen = start.copy()
    key = gen[dst] if forward else gen[src]
    order = np.argsort(key if forward else -key, kind="stable")
    key = key[order]
    cuts = np.flatnonzero(np.diff(key)) + 1
    for ids in np.split(order, cuts):
        a, b = (src[ids], dst[ids]) if forward else (dst[ids], src[ids])
        hit = b[seen[a]]
        seen[hit] = True
    return seen


def _node_params(core, nd) -> int:
    op = core.step_op(nd.step)
    if isinstance(op, nn.Module):  # a step's stacked op holds its G nodes' tensors
        return sum(p.numel() for p in op.parameters()) // max(core.plan.steps[nd.step].size, 1)
    return sum(p.numel() for p in core.nodes[nd.key].parameters())


def _is_core(m: nn.Module) -> bool:
    """A compiled graph (``WiredNet``; recognised by what it holds, as this module sits beside it)."""
    return all(hasattr(m, a) for a in ("plan", "runtime", "wiring", "write_back"))


@torch.no_grad()
def _core_cost(core, x_shape: tuple) -> dict:
    """The inference cost of one ``WiredNet`` fed an input of ``x_shape``."""
    from ..wiring.routing import Routing

    plan = core.plan
    n = len(plan.nodes)
    src, dst = plan.edge_positions()
    wiring = core.wiring
    dynamic = isinstance(wiring, Routing)
    was = wiring.training
    wiring.eval()
    try:
        coef = None if dynamic else wiring.coefficients().detach()
    finally:
        wiring.train(was)
    mask = core.runtime.edge_mask.detach().cpu().numpy() != 0
    if coef is None:
        chosen = mask.copy()
    else:
        nz = (coef != 0) if coef.dim() == 1 else (coef != 0).any(-1)
        chosen = nz.cpu().numpy() & mask
    unit = np.zeros(len(chosen), bool)
    if wiring.unit_edges:
        unit[np.fromiter(wiring.unit_edges, np.int64)] = True
    gen = np.array([nd.gen for nd in plan.nodes], np.int64)
    is_in = np.array([nd.role == "input" for nd in plan.nodes], bool)
    is_out = np.zeros(n, bool)
    is_out[plan.outputs] = True
    cs, cd = src[chosen], dst[chosen]
    # a node with no open input outputs exactly 0 when the wiring can close edges; otherwise it runs
    fwd = _reach(n, cs, cd, gen, is_in, True) if getattr(wiring, "may_close", False) or dynamic else np.ones(n, bool)
    bwd = _reach(n, cs, cd, gen, is_out, False)
    alive = fwd & bwd
    live_edge = chosen & alive[src] & alive[dst]

    # spatial sizes, generation by generation: a node's inputs are resized to the smallest (as the
    # executors do, over all of its inputs); every node is sized, only the alive ones are counted
    dims = len(x_shape) - 2
    width = max(dims, 1)
    in_size = np.full((n, width), np.iinfo(np.int64).max, np.int64)
    out_size = np.ones((n, width), np.int64)
    in_size[is_in] = np.array(x_shape[2:], np.int64) if dims else 1
    by_gen: dict[int, list[int]] = {}
    for nd in plan.nodes:
        by_gen.setdefault(nd.gen, []).append(nd.pos)
    e_order = np.argsort(gen[dst], kind="stable")
    e_gen = gen[dst][e_order]
    node_macs = np.zeros(n, np.int64)
    node_params = np.zeros(n, np.int64)
    measured: dict[tuple, tuple[int, tuple, int]] = {}
    for g in sorted(by_gen):
        a, b = np.searchsorted(e_gen, g), np.searchsorted(e_gen, g, side="right")
        ids = e_order[a:b]
        if dims:
            for d in range(dims):
                np.minimum.at(in_size[:, d], dst[ids], out_size[src[ids], d])
        for p in by_gen[g]:
            nd = plan.nodes[p]
            size = tuple(int(s) for s in in_size[p]) if dims else ()
            key = (nd.step, size)
            if key not in measured:
                measured[key] = _measure_node(core, nd, size, x_shape)
            node_macs[p], osize, node_params[p] = measured[key]
            if dims:
                out_size[p] = osize
    per_elem = np.prod(in_size, axis=1) if dims else np.ones(n, np.int64)
    out_ch = np.array([nd.out_ch for nd in plan.nodes], np.int64)
    learned = live_edge & ~unit
    edge_macs = int((out_ch[src[learned]] * per_elem[dst[learned]]).sum())
    per_edge_params = out_ch[src[learned]] if getattr(wiring, "mode", "edge") == "channel" else np.ones(int(learned.sum()), np.int64)
    # the output: the output nodes concatenated (a dead one gives zeros of its shape)
    outs = [plan.nodes[p] for p in plan.outputs]
    spatial = tuple(int(min(out_size[nd.pos, i] for nd in outs)) for i in range(dims)) if dims else ()
    out_shape = (x_shape[0], plan.out_channels) + spatial
    return {"node_ops": int(node_macs[alive].sum()), "edges": edge_macs, "node_params": int(node_params[alive].sum()),
            "edge_params": int(per_edge_params.sum()), "nodes": n, "alive": int(alive.sum()), "edges_n": len(src),
            "chosen": int(live_edge.sum()), "dynamic": dynamic, "out_shape": out_shape}


def _measure_node(core, nd, size: tuple, x_shape: tuple) -> tuple[int, tuple, int]:
    """(MACs, output spatial size, parameters) of node ``nd`` alone on a batch-1 input of ``size``."""
    dev = core.runtime.edge_mask.device
    dtype = core.runtime.edge_mask.dtype
    x = torch.zeros((1, nd.in_ch) + size, device=dev, dtype=dtype)
    module = core.node(nd.label)
    with _eval(module), FlopCounterMode(display=False) as counter:
        y = module(x)
    macs = int(counter.get_total_flops()) // 2 * x_shape[0]
    return macs, tuple(y.shape[2:]), _node_params(core, nd)


class _Stub:
    """Replaces a wired core's forward: records its input shape and returns zeros of its output shape."""

    def __init__(self, core, costs: dict):
        self.core, self.costs = core, costs

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = tuple(x.shape)
        if id(self.core) not in self.costs:
            self.costs[id(self.core)] = _core_cost(self.core, shape)
        return x.new_zeros(self.costs[id(self.core)]["out_shape"])


@torch.no_grad()
def inference_cost(model: nn.Module, input_shape: tuple[int, ...] | torch.Tensor | None = None) -> Cost:
    """The cost of the network the chosen wiring deploys to (see the module docstring): MACs of
    the alive nodes' ops, of the chosen learned edges and of the modules outside the wired core(s)
    that run in evaluation, and the matching parameter count. ``input_shape`` (batch included;
    MACs scale with the batch) defaults to the model's ``input_shape`` attribute.

    The wired cores do not run: each node op is measured once per distinct shape on a batch-1
    input, so counting a large ImageNet model is fast on a CPU.

    >>> import graphwire as gw
    >>> net = gw.compile(gw.generators.chain(2), in_channels=4, channels=4, default_op="sepconv")
    >>> cost = inference_cost(net, (1, 4, 8, 8))  # input + 2 hidden sepconv nodes: 3x3 depthwise + 1x1
    >>> cost.parts["node_ops"] == 3 * 8 * 8 * (9 * 4 + 4 * 4), cost.parts["edges"]
    (True, 0)
    """
    x, shape = _input(model, input_shape)
    cores = [m for m in model.modules() if _is_core(m)]
    if not cores:
        raise ParameterError(f"inference_cost: {type(model).__name__} holds no compiled graph (WiredNet); "
                             "use training_cost for a plain module")
    costs: dict = {}
    ran: set = set()
    inside = {id(m) for c in cores for m in c.modules()}

    def mark(module, args, out):
        ran.add(id(module))

    hooks = [m.register_forward_hook(mark) for m in model.modules() if id(m) not in inside]
    try:
        for c in cores:
            c.forward = _Stub(c, costs)  # type: ignore[method-assign]
        with _eval(model):
            model(x)  # shapes of each core's input (and its analytic cost)
            ran.clear()
            with FlopCounterMode(display=False) as counter:
                model(x)
    finally:
        for c in cores:
            c.__dict__.pop("forward", None)
        for h in hooks:
            h.remove()
    outside = int(counter.get_total_flops()) // 2
    seen: set = set()
    outside_params = 0
    for m in model.modules():
        if id(m) in ran and id(m) not in inside:
            for p in m.parameters(recurse=False):
                if id(p) not in seen:
                    seen.add(id(p))
                    outside_params += p.numel()
    parts = {"node_ops": sum(c["node_ops"] for c in costs.values()),
             "edges": sum(c["edges"] for c in costs.values()), "outside": outside}
    param_parts = {"node_ops": sum(c["node_params"] for c in costs.values()),
                   "edges": sum(c["edge_params"] for c in costs.values()), "outside": outside_params}
    return Cost("inference", shape, sum(parts.values()), sum(param_parts.values()), parts, param_parts,
                nodes=sum(c["nodes"] for c in costs.values()), alive_nodes=sum(c["alive"] for c in costs.values()),
                edges=sum(c["edges_n"] for c in costs.values()), chosen_edges=sum(c["chosen"] for c in costs.values()),
                dynamic=any(c["dynamic"] for c in costs.values()))
