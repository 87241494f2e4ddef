"""``WiredNet``: the module a graph compiles to, its runtime, and ``graphwire.compile``.

A step whose op has a stacked form (the built-in ops) is ONE module in ``net.steps``, its nodes'
tensors stacked on a leading axis (:mod:`graphwire.ops.stacked`); other nodes get a module each in
``net.nodes``. Either way the state dict is keyed by node label (``nodes.7.conv.weight``, through
state-dict hooks), so it is stable and readable, and ``compile(pruned, init_from=net)`` carries
parameters over by label.
The plan (what) is inert data; the :class:`Runtime` holds what an executor reads at each call
(modules, the wiring, index buffers, the edge mask); an executor (how) is a plain function
``(plan, runtime, x) -> y`` that ``net.executor`` switches at any time.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Sequence

import networkx as nx
import numpy as np
import torch
from torch import nn

from ..errors import GraphError, ParameterError, ShapeError
from ..graph import assign_roles, copy_graph, meta
from ..ops.registry import OPS, build_op, get_op
from ..wiring.base import Wiring
from ..wiring.registry import make_wiring
from ..wiring.routing import Routing
from .plan import SPARSE_DENSITY, Plan
from .planners import build_plan

__all__ = ["WiredNet", "Runtime", "compile", "wired_core", "check_input", "step_key"]


class Runtime(nn.Module):
    """What the executors read besides the plan, all of it at each call.

    - ``stacks[i]``: step ``i``'s stacked op (one module for its G nodes, see
      :mod:`graphwire.ops.stacked`), or None when its op has no stacked form; then
      ``step_modules[i]`` are its node modules and ``fused_params(i)`` their parameters for the
      op's fused kernel, read from the modules now (so ``torch.func.functional_call`` and swapped
      parameters are always honoured); ``run_node(pos, x)`` runs one node either way;
    - ``index(i, name)``: the plan's index arrays as buffers (they move with ``.to()``);
    - ``edge_mask`` (a persistent buffer) and ``masked``: edges closed by ``mask_edges``;
    - ``unit_blocks[i][j]``: source block ``j`` of step ``i`` is one edge with the constant
      coefficient 1 (a plain pass-through: no multiply);
    - ``wiring``, ``routing`` (the wiring again when its coefficients depend on activations),
      ``resize``, ``skip_closed``.
    (The modules are owned, and registered, by the net.)
    """

    def __init__(self, plan: Plan, nodes: nn.ModuleDict, steps: nn.ModuleDict, wiring: Wiring, *, resize: str):
        super().__init__()
        # plain references: the net owns (and registers) the node modules, the stacks and the wiring
        self.__dict__["_owned"] = (nodes, wiring)
        self.resize = resize
        self.skip_closed = True
        self.register_buffer("edge_mask", torch.ones(len(plan.edges)))
        self.masked = False
        self._keys = [nd.key for nd in plan.nodes]
        self._where = [(nd.step, nd.slot) for nd in plan.nodes]
        self.__dict__["stacks"] = [steps[step_key(st.index)] if step_key(st.index) in steps else None
                                   for st in plan.steps]
        self.__dict__["step_modules"] = [[] if self.stacks[st.index] is not None else
                                         [nodes[plan.nodes[p].key] for p in st.nodes] for st in plan.steps]
        self._fusable = [len(m) > 1 and hasattr(m[0], "fused") for m in self.step_modules]
        self._index_names: dict[tuple[int, str], str] = {}
        for st in plan.steps:
            for name, arr in st.arrays().items():
                buf = f"s{st.index}_{name}"
                self.register_buffer(buf, torch.from_numpy(np.ascontiguousarray(arr, np.int64)), persistent=False)
                self._index_names[(st.index, name)] = buf
        units = wiring.unit_edges
        self.unit_blocks = [[sb.single is not None and sb.single in units for sb in st.sources] for st in plan.steps]

    @property
    def nodes(self) -> nn.ModuleDict:
        return self.__dict__["_owned"][0]

    @property
    def wiring(self) -> Wiring:
        return self.__dict__["_owned"][1]

    @property
    def routing(self) -> Routing | None:
        w = self.wiring
        return w if isinstance(w, Routing) else None

    def run_node(self, pos: int, x: torch.Tensor) -> torch.Tensor:
        """Node ``pos`` alone on its input ``x``."""
        step, slot = self._where[pos]
        stack = self.stacks[step]
        if stack is not None:
            return stack.node_forward(slot, x)
        return self.nodes[self._keys[pos]](x)

    def index(self, step: int, name: str) -> torch.Tensor:
        return getattr(self, self._index_names[(step, name)])

    def fused_params(self, step: int) -> dict | None:
        if not self._fusable[step]:
            return None
        mods = self.step_modules[step]
        return type(mods[0]).fusion_params(mods)

    def sync_mask(self) -> None:
        self.masked = bool((self.edge_mask == 0).any())


def step_key(index: int) -> str:
    """Submodule name of step ``index``'s stacked op in ``net.steps``."""
    return f"s{index}"


class WiredNet(nn.Module):
    """A neural network whose wiring is a graph. Build it with :func:`graphwire.compile`."""

    def __init__(self, plan: Plan, wiring: Wiring, graph: nx.DiGraph, *, executor: str = "batched",
                 resize: str = "area", op_options: dict | None = None):
        super().__init__()
        self.plan = plan
        self._graph = graph if nx.is_frozen(graph) else nx.freeze(graph)
        op_options = op_options or {}
        self.nodes = nn.ModuleDict()   # nodes whose op has no stacked form, by module key
        self.steps = nn.ModuleDict()   # stacked ops, one per step, by step_key
        stacks = []
        for st in plan.steps:
            nd0 = plan.nodes[st.nodes[0]]
            if get_op(st.op, f" at node {nd0.label!r}").stacked is not None:
                stacks.append(st.index)
                self.steps[step_key(st.index)] = build_op(
                    st.op, st.in_ch, st.out_ch, stride=st.stride, dims=plan.dims, options=op_options.get(st.op),
                    where=f" at node {nd0.label!r}", groups=st.size)
        # initialise node by node in plan order: the same random draws as a module per node
        steps = self.steps
        for nd in plan.nodes:
            key = step_key(nd.step)
            if key in steps:
                steps[key].reset_node(nd.slot)
            else:
                self.nodes[nd.key] = build_op(nd.op, nd.in_ch, nd.out_ch, stride=nd.stride, dims=plan.dims,
                                              options=op_options.get(nd.op), where=f" at node {nd.label!r}")
        # per stacked step: its node keys (state-dict keys stay nodes.<key>.<name>)
        self._stacked = {step_key(i): [plan.nodes[p].key for p in plan.steps[i].nodes] for i in stacks}
        self.wiring = wiring
        self.runtime = Runtime(plan, self.nodes, self.steps, wiring, resize=resize)
        self.executor = executor
        self.register_state_dict_post_hook(_per_node_keys)
        self.register_load_state_dict_pre_hook(_upgrade_state_dict)
        self.register_load_state_dict_pre_hook(_stack_node_keys)
        self.register_load_state_dict_post_hook(_after_load)

    # ---- properties
    @property
    def graph(self) -> nx.DiGraph:
        """A frozen copy of the graph this network was compiled from (mutating the caller's graph
        afterwards changes nothing here)."""
        return self._graph

    @property
    def executor(self) -> str:
        return self._executor

    @executor.setter
    def executor(self, name: str) -> None:
        from ..executors import EXECUTORS

        EXECUTORS.get(name)
        self._executor = name

    @property
    def resize(self) -> str:
        return self.runtime.resize

    @property
    def skip_closed(self) -> bool:
        """In inference (eval, no_grad), a node whose inputs are closed for every sample is not computed."""
        return self.runtime.skip_closed

    @skip_closed.setter
    def skip_closed(self, value: bool) -> None:
        self.runtime.skip_closed = bool(value)

    @property
    def in_channels(self) -> int:
        return self.plan.in_channels

    @property
    def out_channels(self) -> int:
        """Channels of the output: the output nodes' channels, concatenated in label order."""
        return self.plan.out_channels

    # ---- forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from ..executors import EXECUTORS

        plan = self.plan
        ins = [nd.label for nd in plan.nodes if nd.role == "input"][:4]
        check_input(x, channels=plan.in_channels, dims=plan.dims, dtype=self.runtime.edge_mask.dtype,
                    where=f"the graph's input node(s) {ins}")
        return EXECUTORS.get(self._executor)(plan, self.runtime, x)

    # ---- nodes
    def node(self, label) -> nn.Module:
        """Node ``label``'s op as a module of its own: the module itself for ops without a stacked
        form, else a view of its slice of the step's stacked tensors (reading it or editing it in
        place reads or edits this network; gradients of calling it reach the view, not the net)."""
        nd = self.plan.by_label.get(label)
        if nd is None:
            raise ParameterError(f"node {label!r} is not in the graph")
        key = step_key(nd.step)
        return self.steps[key].node_module(nd.slot) if key in self.steps else self.nodes[nd.key]

    def node_state(self) -> dict[str, dict[str, torch.Tensor]]:
        """Every node's tensors by module key, then name (views into stacked tensors): the
        per-node view of the state dict, without building one."""
        out: dict[str, dict[str, torch.Tensor]] = {key: m.state_dict(keep_vars=True) for key, m in self.nodes.items()}
        for skey, keys in self._stacked.items():
            tensors = self.steps[skey].state_dict(keep_vars=True)
            for g, key in enumerate(keys):
                out[key] = {name: t[g] for name, t in tensors.items()}
        return out

    # ---- what training learned
    def regularizer(self) -> torch.Tensor:
        """The wiring's penalty term (add it to the loss); zero for methods without one."""
        return self.wiring.regularizer()

    def wiring_parameters(self) -> list[nn.Parameter]:
        """The wiring's learnable parameters (the edge gates of ``sigmoid``/``l0``...): give them their own
        learning rate, see :func:`graphwire.train.param_groups`."""
        return list(self.wiring.parameters())

    def mask_edges(self, edges: Sequence[tuple] | None) -> None:
        """Close the given edges (``(u, v)`` pairs) from now on; ``None`` reopens every edge."""
        rt = self.runtime
        if edges is None:
            with torch.no_grad():
                rt.edge_mask.fill_(1.0)
            rt.masked = False
            return
        ids = self.plan.edge_ids()
        keep = torch.ones(len(ids))
        for e in edges:
            if not isinstance(e, (tuple, list)) or len(e) != 2:
                raise ParameterError(f"mask_edges takes (u, v) pairs, got {e!r}")
            if tuple(e) not in ids:
                raise ParameterError(f"edge {tuple(e)!r} is not in the graph")
            keep[ids[tuple(e)]] = 0.0
        with torch.no_grad():
            rt.edge_mask.copy_(keep.to(rt.edge_mask))
        rt.sync_mask()

    def write_back(self) -> nx.DiGraph:
        """A copy of the graph with what the wiring learned (``weight``, ``active``, ...): the
        wiring's :meth:`~graphwire.wiring.Wiring.describe`, with masked edges inactive. A compact
        graph's (candidate blocks): the chosen edges as networkx edges, see :mod:`.compact`."""
        if hasattr(self.plan.edges, "cand"):
            from .compact import write_back_compact

            return write_back_compact(self)
        desc = self.wiring.describe()
        H = copy_graph(self._graph)
        edges = self.plan.edges
        for key, values in desc.edges.items():
            if key == "active" and self.runtime.masked:
                mask = self.runtime.edge_mask.detach().cpu().tolist()
                values = [v if v is None else bool(v) and m > 0 for v, m in zip(values, mask)]
            for (u, v), val in zip(edges, values):
                if val is not None:  # a method may describe only some edges
                    H.edges[u, v][key] = val
        for key, by_label in desc.nodes.items():
            for label, val in by_label.items():
                if val is not None:
                    H.nodes[label][key] = val
        record = meta(H)
        record.update(desc.graph)
        record["wiring"] = self.wiring.name
        return H

    def count_flops(self, input_shape) -> int:
        """FLOPs of one forward pass (see :func:`graphwire.compiler.flops.count_flops`)."""
        from .flops import count_flops

        return count_flops(self, input_shape)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def extra_repr(self) -> str:
        return (f"nodes={len(self.plan.nodes)}, edges={len(self.plan.edges)}, steps={len(self.plan.steps)}, "
                f"wiring={self.wiring.name!r}, executor={self._executor!r}")


def check_input(x: Any, *, channels: int, dims: int, dtype: torch.dtype, where: str) -> None:
    """A clear :class:`ShapeError` for an input a network cannot take (not a tensor, wrong dtype,
    rank, channel count, or an empty batch), instead of an error deep inside torch."""
    shape = "[B, C]" if dims == 0 else "[B, C" + ", L" * (dims == 1) + ", H, W" * (dims == 2) + "]"
    if not isinstance(x, torch.Tensor):
        raise ShapeError(f"input must be a torch.Tensor {shape}, got {type(x).__name__}; "
                         f"convert with torch.as_tensor(x, dtype={dtype})")
    if x.dtype != dtype:
        raise ShapeError(f"input dtype {x.dtype} does not match the network's {dtype}; "
                         f"convert with x.to({dtype}) (or the net with net.to({x.dtype}))")
    if x.dim() != dims + 2 or x.shape[1] != channels or x.shape[0] == 0:
        raise ShapeError(f"input of shape {list(x.shape)} does not fit: {where} expect(s) {shape} "
                         f"with C = {channels} and B >= 1")
    if any(s == 0 for s in x.shape[2:]):
        raise ShapeError(f"input of shape {list(x.shape)} has an empty spatial axis: {where} expect(s) {shape} "
                         "with every spatial size >= 1")


def _upgrade_state_dict(module, state_dict, prefix, local_metadata, strict, missing, unexpected, errors):
    """State dicts saved before the runtime existed kept the edge mask in the wiring."""
    old = prefix + "wiring.edge_mask"
    if old in state_dict and prefix + "runtime.edge_mask" not in state_dict:
        state_dict[prefix + "runtime.edge_mask"] = state_dict.pop(old)


def _per_node_keys(module: WiredNet, state_dict, prefix, local_metadata) -> None:
    """``steps.s3.fc.weight`` ``[G, ...]`` -> ``nodes.<key>.fc.weight`` per node: the state dict
    is keyed by node label whether a node is stacked or not. With ``keep_vars=True`` (the
    parameters themselves, as tracers and wrappers ask for them) the stacked parameters keep their
    step keys: a slice of a parameter is not one."""
    head = f"{prefix}steps."
    by_step: dict[str, list[str]] = {}
    for k in [k for k in state_dict if k.startswith(head)]:  # one pass over the keys
        skey, _, name = k[len(head):].partition(".")
        by_step.setdefault(skey, []).append(name)
    if any(isinstance(state_dict[head + skey + "." + n], nn.Parameter) for skey, ns in by_step.items() for n in ns):
        return
    for skey, names in by_step.items():
        tensors = [state_dict.pop(f"{head}{skey}.{n}") for n in names]
        for g, key in enumerate(module._stacked[skey]):
            node = f"{prefix}nodes.{key}."
            for name, t in zip(names, tensors):
                state_dict[node + name] = t[g]


def _stack_node_keys(module: WiredNet, state_dict, prefix, local_metadata, strict, missing, unexpected, errors):
    """The inverse of :func:`_per_node_keys` before loading. A node entry that is absent keeps its
    current value and is reported missing (by its per-node key); one of the wrong shape is reported
    as a size mismatch by its per-node key."""
    absent: list[str] = []
    for skey, keys in module._stacked.items():
        base = f"{prefix}steps.{skey}."
        for name, cur in module.steps[skey].state_dict(keep_vars=True).items():
            if base + name in state_dict:  # already stacked
                continue
            parts = []
            for g, key in enumerate(keys):
                k = f"{prefix}nodes.{key}.{name}"
                v = state_dict.pop(k, None)
                here = cur[g].detach()
                if v is None:
                    absent.append(k)
                    v = here
                elif not isinstance(v, torch.Tensor) or v.shape != here.shape:
                    shape = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
                    errors.append(f"size mismatch for {k}: copying a param with shape {shape} from checkpoint, "
                                  f"the shape in current model is {tuple(here.shape)}.")
                    v = here
                parts.append(v.to(device=here.device, dtype=here.dtype))
            state_dict[base + name] = torch.stack(parts)
    module.__dict__["_absent_on_load"] = absent


def _after_load(module: WiredNet, incompatible) -> None:
    incompatible.missing_keys.extend(module.__dict__.pop("_absent_on_load", []))
    module.runtime.sync_mask()


_NODE_OVERHEAD = 8192  # bytes of Python/nn.Module bookkeeping per node module (measured order)
_PARAMLESS = ("identity", "channel")


def estimate_bytes(plan: Plan) -> int:
    """A lower-end estimate of what compiling ``plan`` allocates: node parameters (at least one
    ``in x out`` matrix per op with weights), the index buffers, the edge coefficients and the
    bookkeeping of a module per node (for ops without a stacked form)."""
    item = torch.empty((), dtype=torch.get_default_dtype()).element_size()
    params = sum(nd.in_ch * nd.out_ch for nd in plan.nodes if nd.op not in _PARAMLESS)
    index = sum(a.nbytes for st in plan.steps for a in st.arrays().values())
    modules = sum(st.size for st in plan.steps if get_op(st.op).stacked is None)  # a module per node
    return item * params + index + 4 * item * len(plan.edges) + _NODE_OVERHEAD * modules


def available_bytes() -> int | None:
    """Physical memory of this machine (None where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(plan: Plan) -> None:
    """Fail early, with an estimate, for a graph that cannot fit in memory (instead of a
    MemoryError deep inside torch)."""
    need, have = estimate_bytes(plan), available_bytes()
    if have is not None and need > have:
        raise GraphError(f"the graph needs about {need / 2**30:.1f} GiB to compile ({len(plan.nodes)} nodes, "
                         f"{len(plan.edges)} edges, {sum(nd.in_ch * nd.out_ch for nd in plan.nodes):.3g} weights) "
                         f"but this machine has {have / 2**30:.1f} GiB; use fewer or narrower nodes")


def wired_core(model: nn.Module) -> WiredNet | None:
    """The :class:`WiredNet` inside ``model`` (itself, ``model.wired``, or the first submodule)."""
    if isinstance(model, WiredNet):
        return model
    inner = getattr(model, "module", None)  # DistributedDataParallel
    if isinstance(inner, nn.Module) and inner is not model:
        return wired_core(inner)
    for m in model.modules():
        if isinstance(m, WiredNet):
            return m
    return None


def compile(G: nx.DiGraph, *, in_channels: int, channels: int | None = None, default_op: str = "conv",
            output_op: str | None = "identity", dims: int = 2, wiring: Any = "static",
            executor: str = "batched", resize: str = "area", op_options: dict | None = None,
            init_from: nn.Module | None = None, sparse_density: float = SPARSE_DENSITY, **options) -> WiredNet:
    """Compile a graph into a :class:`WiredNet` (a plain ``nn.Module``).

    ``in_channels``: channels of the network input, fed to every input node. ``channels``: default
    width of nodes without a ``channels`` attribute. ``default_op``/``output_op``: ops of nodes
    without an ``op`` attribute (output nodes aggregate with ``identity`` unless told otherwise).
    ``dims``: 2 for images, 1 for sequences, 0 for vectors. ``wiring``: a method name
    (``"static"``, ``"sigmoid"``, ...; its options as keyword arguments) or a typed spec such as
    ``graphwire.wiring.Sigmoid(penalty=1e-3)``. ``executor``: ``"batched"`` or ``"reference"``.
    ``resize``: how inputs of different spatial size meet (``"area"`` or ``"bilinear"``, to the
    smallest). ``op_options``: ``{op name: {option: value}}`` for the node ops. ``init_from``: a
    network whose node parameters (by label) and edge parameters (by ``(u, v)``) are carried over,
    e.g. after pruning. ``sparse_density``: source blocks of ``sum`` nodes sparser than this
    (edges / (targets x sources), in [0, 1]) are aggregated edge by edge (gather + ``index_add_``,
    O(edges) memory) instead of by a dense block matmul; the default was measured (README,
    Benchmarks). The network keeps a frozen copy of ``G``; a graph whose estimated size exceeds the
    machine's memory raises a :class:`~graphwire.errors.GraphError` before anything is allocated.

    A plain ``nx.DiGraph`` works as it is: when no node has a ``role``, sources become inputs and
    sinks outputs (:func:`graphwire.assign_roles`); labels may be any hashable (tuples from
    ``nx.grid_2d_graph`` too), module names are made safe (:func:`~graphwire.compiler.plan.module_key`).

    >>> import torch, graphwire as gw
    >>> net = gw.compile(gw.generators.resnet(4), in_channels=3, channels=8, wiring="sigmoid")
    >>> net(torch.randn(2, 3, 16, 16)).shape
    torch.Size([2, 8, 16, 16])
    """
    if "device" in options:
        raise ParameterError(f"compile() takes no device (got device={options['device']!r}): it builds the network "
                             "on the CPU; move it afterwards with net.to(device)")
    return _compile(G, copy=True, in_channels=in_channels, channels=channels, default_op=default_op,
                    output_op=output_op, dims=dims, wiring=wiring, executor=executor, resize=resize,
                    op_options=op_options, init_from=init_from, stacklevel=3, sparse_density=sparse_density,
                    **options)


def _compile(G: nx.DiGraph, *, copy: bool, in_channels: int, channels: int | None = None, default_op: str = "conv",
             output_op: str | None = "identity", dims: int = 2, wiring: Any = "static", executor: str = "batched",
             resize: str = "area", op_options: dict | None = None, init_from: nn.Module | None = None,
             stacklevel: int = 3, sparse_density: float = SPARSE_DENSITY, **options) -> WiredNet:
    """``compile``; ``copy=False`` freezes ``G`` itself instead of a copy (for graphs a model
    builder made and nobody else holds: a DNW candidate graph can have millions of edges)."""
    if resize not in ("area", "bilinear"):
        raise ParameterError(f"resize must be 'area' or 'bilinear', got {resize!r}")
    if op_options is not None:
        if not isinstance(op_options, dict):
            raise ParameterError(f"op_options must be a dict {{op name: {{option: value}}}}, got {op_options!r}")
        unknown = sorted(str(k) for k in op_options if k not in OPS)
        if unknown:
            raise ParameterError(f"op_options names unknown op(s) {unknown}; known ops: {OPS.list()}")
    old = None
    if init_from is not None:
        old = wired_core(init_from) if isinstance(init_from, nn.Module) else None
        if old is None:
            raise ParameterError(f"init_from must be a compiled network (a WiredNet or a model holding one), "
                                 f"got {type(init_from).__name__}; load a state dict with net.load_state_dict")
    if isinstance(G, nx.DiGraph) and not any("role" in d for _, d in G.nodes(data=True)):
        G, copy = assign_roles(G), False  # a plain DiGraph: sources are inputs, sinks outputs
    plan, edge_data = build_plan(G, in_channels=in_channels, channels=channels, default_op=default_op,
                                 output_op=output_op, dims=dims, sparse_density=sparse_density)
    check_memory(plan)
    w = make_wiring(wiring, plan, edge_data, options)
    frozen = copy_graph(G) if copy else G
    net = WiredNet(plan, w, frozen, executor=executor, resize=resize, op_options=op_options)
    if old is not None:
        from .carry_over import carry_over

        report = carry_over(net, old)
        net.init_report = report
        if report["skipped"]:
            warnings.warn(f"init_from: {len(report['skipped'])} node(s) kept fresh parameters "
                          f"(new, different op or incompatible shape): {report['skipped'][:8]}",
                          stacklevel=stacklevel)
    return net
