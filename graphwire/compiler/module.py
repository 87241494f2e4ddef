"""``WiredNet``: the module a graph compiles to, its runtime buffers, and ``graphwire.compile``.

A step whose op has a stacked form (the built-in ops) is ONE module in ``net.steps``, its nodes'
tensors stacked on a leading axis (:mod:`graphwire.ops.stacked`); other nodes get a module each in
``net.nodes``. Either way the state dict is keyed by node label (``nodes.7.conv.weight``, through
state-dict hooks), so it is stable and readable, and ``compile(pruned, init_from=net)`` carries
parameters over by label.

Ownership as in torch.fx: the plan (what) is inert data; the net owns every module (node ops,
stacked steps, the wiring) and, in its :class:`Runtime`, every buffer an executor reads (index
arrays, the edge mask). An executor (how) is an interpreter ``(plan, net, x) -> y`` typed against
the plan and :class:`~graphwire.executors.Executable`: it asks the net for step ``i``'s op
(``net.step_op(i)``, a :class:`~graphwire.ops.step.StepOp`) and for index buffers, at each call.
``net.executor`` switches it at any time.
"""

from __future__ import annotations

import functools

import dataclasses
from typing import Any, Sequence

import networkx as nx
import numpy as np
import torch
from torch import nn

from ..contract import SCHEMA_VERSION, meta
from ..errors import ParameterError, ShapeError
from ..executors import EXECUTORS
from ..ops.registry import build_op, get_op
from ..ops.step import ModuleStep, StepOp
from ..wiring.base import Wiring
from ..wiring.routing import Routing
from .assemble import assemble
from ..plan import Plan
from .settings import Settings, resolve

__all__ = ["WiredNet", "Runtime", "check_input", "step_key"]


class Runtime(nn.Module):
    """The net's execution buffers and flags, owned by the net (``net.runtime``); no modules.

    - ``index(i, name)``: the plan's index arrays as buffers (they move with ``.to()``);
    - ``edge_mask`` (a persistent buffer) and ``masked``: edges closed by ``mask_edges``;
    - ``unit_blocks[i][j]``: source block ``j`` of step ``i`` is one edge with the constant
      coefficient 1 (a plain pass-through: no multiply);
    - ``resize``, ``skip_closed``.
    """

    def __init__(self, plan: Plan, unit_edges: frozenset | set, *, resize: str):
        super().__init__()
        self.resize = resize
        self.skip_closed = True
        self.register_buffer("edge_mask", torch.ones(len(plan.edges)))
        self.masked = False
        self._index_names: dict[tuple[int, str], str] = {}
        for st in plan.steps:
            for name, arr in st.arrays().items():
                buf = f"s{st.index}_{name}"
                self.register_buffer(buf, torch.from_numpy(np.ascontiguousarray(arr, np.int64)), persistent=False)
                self._index_names[(st.index, name)] = buf
        self.unit_blocks = [[sb.single is not None and sb.single in unit_edges for sb in st.sources]
                            for st in plan.steps]

    def index(self, step: int, name: str) -> torch.Tensor:
        return getattr(self, self._index_names[(step, name)])

    def sync_mask(self) -> None:
        self.masked = bool((self.edge_mask == 0).any())


def step_key(index: int) -> str:
    """Submodule name of step ``index``'s stacked op in ``net.steps``."""
    return f"s{index}"


class WiredNet(nn.Module):
    """A neural network whose wiring is a graph. Build it with :func:`graphwire.compile`."""

    #: what it was compiled with (set by ``compile``; :meth:`write_back` records it in the graph)
    settings: Settings

    def __init__(self, plan: Plan, wiring: Wiring, graph: nx.DiGraph, *, executor: Any = "batched",
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
        self._step_keys = [[plan.nodes[p].key for p in st.nodes] for st in plan.steps]  # node module keys
        self.wiring = wiring
        self.runtime = Runtime(plan, wiring.unit_edges, resize=resize)
        self.schedules: dict = {}  # the batched executor's measured choices, by input shape (plain data)
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
    def executor(self) -> Any:
        """The executor: a name in ``graphwire.executors.EXECUTORS`` (``"batched"``,
        ``"reference"``) or an executor object such as ``graphwire.executors.Batched(tune="off")``."""
        return self._executor

    @executor.setter
    def executor(self, value: Any) -> None:
        if isinstance(value, str):
            EXECUTORS.get(value)
        elif not callable(value):
            raise ParameterError(f"executor must be a name ({EXECUTORS.list()}) or an executor object such as "
                                 f"graphwire.executors.Batched(...), got {value!r}")
        self._executor = value

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
    @functools.cached_property
    def _input_where(self) -> str:
        """How an input error names the graph's input nodes (built once, not per call)."""
        return f"the graph's input node(s) {[nd.label for nd in self.plan.nodes if nd.role == 'input'][:4]}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        plan = self.plan
        check_input(x, channels=plan.in_channels, dims=plan.dims, dtype=self.runtime.edge_mask.dtype,
                    where=self._input_where)
        ex = self._executor
        return (EXECUTORS.get(ex) if isinstance(ex, str) else ex)(plan, self, x)

    # ---- what the executors run
    @property
    def routing(self) -> Routing | None:
        """The wiring when its coefficients depend on the activations (a :class:`Routing`), else None."""
        w = self.wiring
        return w if isinstance(w, Routing) else None

    def step_op(self, index: int) -> StepOp:
        """Step ``index``'s op (a :class:`~graphwire.ops.step.StepOp`): its stacked module, or the
        adapter over its nodes' modules, looked up in this net now (a module swapped in
        ``net.nodes`` is the one that runs)."""
        key = step_key(index)
        steps = self.steps._modules
        if key in steps:
            return steps[key]  # type: ignore[return-value]
        mods = self.nodes._modules
        return ModuleStep([mods[k] for k in self._step_keys[index]])  # type: ignore[misc]

    def _sync_mask(self) -> None:
        """After the edge mask changed: note whether any edge is closed, and tell a wiring whose
        coefficients depend on which edges are open."""
        self.runtime.sync_mask()
        self.wiring.mask_changed(self.runtime.edge_mask)

    def run_node(self, pos: int, x: torch.Tensor) -> torch.Tensor:
        """Node ``pos`` (plan position) alone on its input ``x``."""
        nd = self.plan.nodes[pos]
        stack = self.steps._modules.get(step_key(nd.step))
        if stack is not None:
            return stack.node_forward(nd.slot, x)  # type: ignore[operator]
        return self.nodes[nd.key](x)

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
            self._sync_mask()
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
        self._sync_mask()

    def write_back(self) -> nx.DiGraph:
        """A copy of the graph with what the wiring learned (``weight``, ``active``, ...: the
        wiring's :meth:`~graphwire.wiring.Wiring.describe`, masked edges inactive), every node's
        ``op`` and ``channels``, and the ``compile`` record (the network input, the wiring to
        rebuild with and its options): ``graphwire.compile(H)`` rebuilds this network's wiring, and
        with ``init_from=net`` its parameters. A compact graph's (candidate blocks) written back
        stays compact, its chosen edges as networkx edges (see :mod:`graphwire.edgeset.blocks`)."""
        wiring, rt = self.wiring, self.runtime
        with torch.no_grad():
            active = wiring.active_mask().detach().cpu().bool()
            if rt.masked:
                active = active & (rt.edge_mask.detach().cpu() > 0)
        described: dict = {}

        def describe(ids):
            wb = wiring.describe() if ids is None else wiring.describe_edges(torch.from_numpy(ids))
            described["wb"] = wb
            return wb.edges

        H = self.plan.edges.write(describe, active.numpy())
        wb = described["wb"]
        for key, by_label in wb.nodes.items():
            for label, val in by_label.items():
                if val is not None:
                    H.nodes[label][key] = val
        for nd in self.plan.nodes:
            data = H.nodes[nd.label]
            data["op"] = nd.op
            if nd.op != "identity" or "channels" in data:  # an identity node follows its input's width
                data["channels"] = nd.out_ch
        record = meta(H)
        record.update(wb.graph)
        record["version"] = SCHEMA_VERSION
        record["wiring"] = wiring.name
        record["compile"] = self.settings.record(wiring.rebuild_spec())
        return H

    def recompile(self, G: nx.DiGraph, *, init_from: nn.Module | None = None, fresh: bool = False,
                  **overrides: Any) -> "WiredNet":
        """A network compiled from ``G`` (a pruned copy of :meth:`write_back`, say) with this
        network's settings and parameters carried over by node label and edge from ``init_from``
        (default: this network; ``fresh=True``: none). Other arguments are
        :func:`graphwire.compile`'s; they override what ``G`` records, which overrides this
        network's settings."""
        fallback = dataclasses.asdict(self.settings) | {"wiring": self.wiring.rebuild_spec()}
        wiring = overrides.pop("wiring", None)
        explicit = {k: overrides.pop(k) for k in list(overrides) if k in _SETTING_NAMES}
        settings = resolve(G, {**explicit, "wiring": wiring, "options": overrides}, fallback=fallback)
        source = None if fresh else (init_from if init_from is not None else self)
        return assemble(type(self), G, settings, init_from=source)

    def count_flops(self, input_shape) -> int:
        """FLOPs of one forward pass (see :func:`graphwire.compiler.flops.count_flops`)."""
        from .flops import count_flops

        return count_flops(self, input_shape)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def extra_repr(self) -> str:
        return (f"nodes={len(self.plan.nodes)}, edges={len(self.plan.edges)}, steps={len(self.plan.steps)}, "
                f"wiring={self.wiring.name!r}, executor={self._executor!r}")


_SETTING_NAMES = {f.name for f in dataclasses.fields(Settings)} - {"wiring"}


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
    module._sync_mask()
