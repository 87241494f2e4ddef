"""``WiredNet``: the module a graph compiles to, and ``graphwire.compile``.

Node modules live in ``net.nodes`` keyed by node label (``net.nodes["7"]``), so state_dict keys
are stable and readable and ``compile(pruned, init_from=net)`` can carry parameters over by label.
The graph (what) is kept apart from the executor (how): ``net.executor`` can be switched between
``"batched"`` and ``"reference"`` at any time and both run the same plan.
"""

from __future__ import annotations

import warnings
from typing import Any

import networkx as nx
import torch
from torch import nn

from ..errors import ParameterError, ShapeError, WiringError
from ..wiring import Wiring, make_wiring
from .executors import EXECUTORS
from .ops import build_op
from ..graph import copy_graph
from .plan import Plan, build_plan

__all__ = ["WiredNet", "compile"]


class WiredNet(nn.Module):
    """A neural network whose wiring is a graph. Build it with :func:`graphwire.compile`."""

    def __init__(self, plan: Plan, wiring: Wiring, *, executor: str = "batched", resize: str = "area",
                 op_options: dict | None = None):
        super().__init__()
        self.plan = plan
        self.resize = resize
        op_options = op_options or {}
        self.nodes = nn.ModuleDict()
        for nd in plan.nodes:
            where = f" at node {nd.label!r}"
            self.nodes[nd.key] = build_op(nd.op, nd.in_ch, nd.out_ch, stride=nd.stride, dims=plan.dims,
                                          options=op_options.get(nd.op), where=where)
        self.wiring = wiring
        wiring.bind(plan)
        self._step_modules = [[self.nodes[plan.nodes[p].key] for p in st.nodes] for st in plan.steps]
        self._invalidate()
        self._index_names: list[tuple[int, str, str]] = []
        for st in plan.steps:
            for name, t in st.tensors().items():
                buf = f"_plan_{st.index}_{name}"
                self.register_buffer(buf, t, persistent=False)
                self._index_names.append((st.index, name, buf))
        self.executor = executor
        #: In inference (eval, no_grad), a node whose inputs are closed for every sample is not computed.
        self.skip_closed = True
        self.register_load_state_dict_post_hook(lambda module, keys: module._invalidate())

    # ---- properties
    @property
    def graph(self) -> nx.DiGraph:
        """The (validated) graph this network was compiled from. Do not mutate it."""
        return self.plan.graph

    @property
    def executor(self) -> str:
        return self._executor

    @executor.setter
    def executor(self, name: str) -> None:
        if name not in EXECUTORS:
            raise ParameterError(f"unknown executor {name!r}; known executors: {sorted(EXECUTORS)}")
        self._executor = name

    @property
    def in_channels(self) -> int:
        return self.plan.in_channels

    @property
    def out_channels(self) -> int:
        """Channels of the output: the output nodes' channels, concatenated in label order."""
        return self.plan.out_channels

    # ---- plumbing for the batched executor
    def _invalidate(self) -> None:
        """(Re)build, eagerly, per step the lists of node parameters its fused kernel concatenates.

        Eager so that a forward never fills a cache (which would make torch.compile recompile)."""
        self._fused = [type(m[0]).fusion_params(m) if len(m) > 1 and hasattr(m[0], "fused") else None
                       for m in self._step_modules]

    def _fusion_params(self) -> list:
        return self._fused

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        for si, name, buf in self._index_names:
            self.plan.steps[si].bind(name, getattr(self, buf))
        self._invalidate()
        return out

    # ---- forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        want = self.plan.dims + 2
        if x.dim() != want or x.shape[1] != self.plan.in_channels:
            shape = "[B, C]" if self.plan.dims == 0 else "[B, C" + ", L" * (self.plan.dims == 1) + ", H, W" * (self.plan.dims == 2) + "]"
            raise ShapeError(
                f"input of shape {list(x.shape)} does not fit: the graph's input node(s) "
                f"{[self.plan.nodes[i].label for i, n in enumerate(self.plan.nodes) if n.role == 'input'][:4]} "
                f"expect {shape} with C = {self.plan.in_channels}")
        return EXECUTORS[self._executor](self, x)

    # ---- what training learned
    def regularizer(self) -> torch.Tensor:
        """The wiring's penalty term (add it to the loss); zero for methods without one."""
        return self.wiring.regularizer()

    def mask_edges(self, edges) -> None:
        """Close the given edges (``(u, v)`` pairs) from now on; ``None`` reopens every edge."""
        if edges is None:
            self.wiring.set_mask(None)
            return
        ids = self.plan.edge_ids()
        keep = torch.ones(len(ids))
        for e in edges:
            if tuple(e) not in ids:
                raise ParameterError(f"edge {tuple(e)!r} is not in the graph")
            keep[ids[tuple(e)]] = 0.0
        self.wiring.set_mask(keep)

    @torch.no_grad()
    def collect_stats(self, loader, *, model: nn.Module | None = None, batches: int | None = None) -> dict:
        """Run ``model`` (default: this net) in eval mode over ``loader`` and let the wiring gather
        per-edge / per-node statistics, which ``write_back`` then puts on the graph (e.g. ``ddw``)."""
        model = model or self
        device = next(self.parameters()).device
        was = model.training
        model.eval()
        self.wiring.start_stats()
        try:
            for i, batch in enumerate(loader):
                if batches is not None and i >= batches:
                    break
                x = batch[0] if isinstance(batch, (list, tuple)) else batch
                model(x.to(device))
        finally:
            stats = self.wiring.finish_stats()
            model.train(was)
        return stats

    def write_back(self) -> nx.DiGraph:
        """A copy of the graph with what the wiring learned on each edge (``weight``, ``active``, ...)."""
        self.wiring.check_write_back()
        H = copy_graph(self.graph)
        attrs = self.wiring.edge_attributes()
        for key, values in attrs.items():
            for (u, v), val in zip(self.plan.edges, values):
                if val is not None:  # a method may describe only some edges
                    H.edges[u, v][key] = val
        # share: the fraction of its target's input an edge carries. A node's sum is normalised
        # by its BatchNorm, so only these ratios matter (an only input always carries all of it).
        for v in H:
            ins = list(H.in_edges(v, data=True))
            total = sum(abs(d["weight"]) for *_, d in ins)
            for *_, d in ins:
                d["share"] = abs(d["weight"]) / total if total > 0 else 0.0
        for key, values in self.wiring.node_attributes().items():
            for nd, val in zip(self.plan.nodes, values):
                if val is not None:
                    H.nodes[nd.label][key] = val
        H.graph.setdefault("graphwire", {"version": 1})["wiring"] = self.wiring.name
        return H

    def count_flops(self, input_shape) -> int:
        """FLOPs of one forward pass (see :func:`graphwire.flops.count_flops`)."""
        from ..flops import count_flops

        return count_flops(self, input_shape)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def extra_repr(self) -> str:
        return (f"nodes={len(self.plan.nodes)}, edges={len(self.plan.edges)}, steps={len(self.plan.steps)}, "
                f"wiring={self.wiring.name!r}, executor={self._executor!r}")


def _carry_over(new: WiredNet, old: WiredNet) -> dict[str, Any]:
    """Copy node parameters by label (slicing concat inputs by predecessor) and edge state by (u, v)."""
    report = {"copied": [], "sliced": [], "skipped": []}
    for nd in new.plan.nodes:
        od = old.plan.by_label.get(nd.label)
        if od is None or od.op != nd.op:
            report["skipped"].append(nd.label)
            continue
        src, dst = old.nodes[od.key].state_dict(), new.nodes[nd.key].state_dict()
        slices = getattr(type(new.nodes[nd.key]), "input_params", {})
        ok = True
        for name, t in dst.items():
            s = src.get(name)
            if s is not None and s.shape == t.shape:
                dst[name] = s.clone()
            elif s is not None and name in slices and nd.agg == "concat":
                dim = slices[name]
                old_ranges, off = {}, 0
                for p in od.preds:
                    c = old.plan.nodes[p].out_ch
                    old_ranges[old.plan.nodes[p].label] = (off, off + c)
                    off += c
                idx = []
                for p in nd.preds:
                    lab = new.plan.nodes[p].label
                    if lab not in old_ranges:
                        ok = False
                        break
                    idx.extend(range(*old_ranges[lab]))
                if ok and len(idx) == t.shape[dim]:
                    dst[name] = s.index_select(dim, torch.tensor(idx)).clone()
                    report["sliced"].append(nd.label)
                else:
                    ok = False
            else:
                ok = False
        if ok:
            new.nodes[nd.key].load_state_dict(dst)
            report["copied"].append(nd.label)
        else:
            report["skipped"].append(nd.label)
    old_ids = old.plan.edge_ids()
    pairs = [(i, old_ids[e]) for i, e in enumerate(new.plan.edges) if e in old_ids]
    new.wiring.load_edges_from(old.wiring, pairs)
    return report


def compile(G: nx.DiGraph, *, in_channels: int, channels: int | None = None, default_op: str = "conv",
            output_op: str | None = "identity", dims: int = 2, wiring: str = "static",
            executor: str = "batched", resize: str = "area", op_options: dict | None = None,
            init_from: WiredNet | None = None, **options) -> WiredNet:
    """Compile a graph into a :class:`WiredNet` (a plain ``nn.Module``).

    ``in_channels``: channels of the network input, fed to every input node. ``channels``: default
    width of nodes without a ``channels`` attribute. ``default_op``/``output_op``: ops of nodes
    without an ``op`` attribute (output nodes aggregate with ``identity`` unless told otherwise).
    ``dims``: 2 for images, 1 for sequences, 0 for vectors. ``wiring``: ``"static"``,
    ``"sigmoid"``, ... (its options as keyword arguments). ``executor``: ``"batched"`` or
    ``"reference"``. ``resize``: how inputs of different spatial size meet (``"area"`` or
    ``"bilinear"``, to the smallest). ``init_from``: a network whose node parameters (by label)
    and edge parameters (by ``(u, v)``) are carried over, e.g. after pruning.

    >>> import torch, graphwire as gw
    >>> net = gw.compile(gw.generators.resnet(4), in_channels=3, channels=8, wiring="sigmoid")
    >>> net(torch.randn(2, 3, 16, 16)).shape
    torch.Size([2, 8, 16, 16])
    """
    if resize not in ("area", "bilinear"):
        raise ParameterError(f"resize must be 'area' or 'bilinear', got {resize!r}")
    if not isinstance(wiring, str):
        raise WiringError(f"wiring must be a method name, got {wiring!r}")
    plan = build_plan(G, in_channels=in_channels, channels=channels, default_op=default_op,
                      output_op=output_op, dims=dims)
    src_ch = [plan.by_label[u].out_ch for u, _ in plan.edges]
    return _assemble(plan, [G.edges[e] for e in plan.edges], src_ch, wiring, options, executor=executor,
                     resize=resize, op_options=op_options, init_from=init_from, stacklevel=2)


def _assemble(plan: Plan, edge_data: list, src_ch: list[int], wiring: str, options: dict, *, executor: str,
              resize: str, op_options: dict | None, init_from, stacklevel: int) -> WiredNet:
    """The network of a plan: its wiring (``edge_data``/``src_ch`` aligned with ``plan.edges``),
    modules, and the parameters carried over from ``init_from``. ``stacklevel`` is the caller's,
    for the warning about parameters that could not be carried over."""
    w = make_wiring(wiring, plan.edges, edge_data, src_ch, options)
    plan.mark_unit_edges(w.constant_unit_edges())
    net = WiredNet(plan, w, executor=executor, resize=resize, op_options=op_options)
    if init_from is not None:
        report = _carry_over(net, init_from)
        net.init_report = report
        if report["skipped"]:
            warnings.warn(f"init_from: {len(report['skipped'])} node(s) kept fresh parameters "
                          f"(new, different op or incompatible shape): {report['skipped'][:8]}",
                          stacklevel=stacklevel + 1)
    return net
