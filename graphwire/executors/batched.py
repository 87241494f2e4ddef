"""The batched executor: a plan step (G nodes of one signature) at a time, each the way measured
fastest for it on this device and these shapes.

Per step, a *schedule* (:class:`~graphwire.executors.tuning.Schedule`) says how to form its input
(``blocks``: a GEMM per source step, or gather + ``index_add_`` for sparse blocks; ``edges``: edge
by edge weighted sums over node views; ``gather`` for concat/max, see
:mod:`~graphwire.executors._aggregate`) and how to run its op: ``grouped`` (the step op's one
kernel over the G nodes stacked) or ``nodes`` (its per-node forward, node by node, on node
tensors that are never stacked); and, for 2-D data, the memory format (``contiguous`` or
``channels_last``). :class:`Batched` builds the schedule at the first call for an input shape --
measured on the device (``tune``), or by a cost model -- and keeps it, as ``cudnn.benchmark``
does. Either way the numbers, gradients and BatchNorm statistics are the reference executor's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

import os
from typing import Any

from ._aggregate import Out, gather, sum_blocks, sum_edges, sum_gather
from ._common import Executable, Forward, closed_output, traced
from .tuning import Schedule, TuningOptions, measure_schedule, model_schedule, provisional_schedule

if TYPE_CHECKING:  # pragma: no cover
    from ..plan import Plan

__all__ = ["Batched", "batched_forward", "run_schedule"]

CHANNELS_LAST = torch.channels_last


def run_schedule(plan: "Plan", net: Executable, x: torch.Tensor, schedule: Schedule,
                 shapes: list | None = None) -> torch.Tensor:
    """Run ``plan`` a step at a time as ``schedule`` says. ``shapes``: when given, each step's
    (per-node) input and output shapes are appended to it, then the coefficients' shape and
    dtype (what tuning measures with)."""
    fw = Forward(net, x)
    close, B = fw.close, fw.batch
    rt = net.runtime
    fmt = CHANNELS_LAST if schedule.memory_format == "channels_last" and x.dim() == 4 else None
    if fmt is not None:
        x = x.contiguous(memory_format=fmt)
    outs: list[Out] = []
    alive: list[torch.Tensor | None] = []
    node_major: dict = {}  # (step, size) -> that step's output as [J, B, C*sp], for sparse blocks
    for st in plan.steps:
        G = st.size
        choice = schedule.steps[st.index]
        per_node = choice.op == "nodes" and G > 1
        a: torch.Tensor | None
        if st.is_input:
            inp = [x] * G if per_node else (x if G == 1 else x.repeat((1, G) + (1,) * (x.dim() - 2)))
            if fmt is not None and not per_node and G > 1:
                inp = inp.contiguous(memory_format=fmt)  # type: ignore[union-attr]
            a = x.new_ones(B, G) if close else None
        elif st.agg == "sum" and choice.agg == "edges":
            inp, a = sum_edges(st, schedule.edges[st.index], outs, alive, fw, rt, per_node)
        elif st.agg == "sum" and choice.agg == "sum_gather":
            inp, a = sum_gather(st, schedule.edges[st.index], plan.steps, outs, alive, fw, rt)
        elif st.agg == "sum":
            inp, a = sum_blocks(st, plan.steps, outs, alive, fw, rt, node_major)
        else:
            inp, a = gather(st, plan.steps, outs, alive, fw, rt)
        step_in = Out(inp, G)
        in_shape = step_in.node(0).shape if shapes is not None else None
        if fw.skip and a is not None and not bool(a.any()):
            y: torch.Tensor | list = closed_output(st.out_ch, st.stride, step_in.node(0), G)
        else:
            op = net.step_op(st.index)
            if per_node:
                y = op.forward_nodes(step_in.split())
                if a is not None:
                    tail = (1,) * (y[0].dim() - 1)
                    y = [yg * a[:, g].reshape((-1,) + tail) for g, yg in enumerate(y)]
            else:
                y = op(step_in.whole())
                if a is not None:
                    y = (y.reshape((B, G, -1)) * a.reshape(a.shape[0], G, 1)).reshape(y.shape)
        out = Out(y, G)
        if shapes is not None:
            shapes.append((tuple(in_shape), tuple(out.node(0).shape)))  # type: ignore[arg-type]
        if fw.state is not None:
            fw.after_step(st.index, out.whole(), a)
        outs.append(out)
        alive.append(a)
    parts = []
    for s, a0, b0, whole in plan.output_slices:
        o = outs[s]
        if whole:
            parts.append(o.whole())
        elif o.nodes is not None:
            w = plan.steps[s].out_ch
            nodes = o.nodes[a0 // w: b0 // w]
            parts.append(nodes[0] if len(nodes) == 1 else torch.cat(nodes, 1))
        else:
            parts.append(o.whole()[:, a0:b0])
    y = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
    if shapes is not None:
        raw = fw.coef.pad
        shapes.append((tuple(raw.shape[1:]) if fw.coef.mode == "sample" else (raw.shape[0] - 1,) + tuple(raw.shape[1:]),
                       raw.dtype))
    return y.contiguous() if fmt is not None else y


class Batched:
    """The batched executor with its options (``net.executor = Batched(tune="off")``, or
    ``compile(..., executor=Batched(...))``); ``"batched"`` is ``Batched()``.

    - ``tune``: ``"auto"`` (default) measures, at the first call for an input shape, the steps
      that move at least ``min_bytes`` (the others follow the cost model); ``"measure"``: every
      step with a choice; ``"off"``: the cost model only (no timing, the same choice on every
      machine). See :mod:`~graphwire.executors.tuning`.
    - ``memory_format``: ``"auto"`` (measured for 2-D data when tuning, else ``contiguous``),
      ``"contiguous"`` or ``"channels_last"``;
    - ``cache``: a JSON file of measured times, read and extended (None: this process only);
    - ``min_bytes``, ``max_edges`` (edge-by-edge aggregation only for steps with at most this many
      edges), ``max_nodes`` (node-by-node only for steps of at most this many nodes), ``repeats``
      (timed runs per candidate).

    The schedules (one per input shape, dtype, device, train/eval and autograd on/off) are kept
    in ``net.schedules``; ``net.schedules.clear()`` chooses again. While ``torch.compile``,
    ``torch.jit`` or the ONNX exporter traces, or a dispatch mode watches (``FlopCounterMode``,
    fake tensors, a memory tracker), nothing is measured: a schedule an eager call made for the
    shape is used, else the plan's blocks, grouped.
    """

    name = "batched"

    def __init__(self, *, tune: str = "auto", memory_format: str = "auto", cache: str | os.PathLike | None = None,
                 min_bytes: int = 1 << 19, max_edges: int = 256, max_nodes: int = 64, repeats: int = 3):
        self.options = TuningOptions(tune=tune, memory_format=memory_format, cache=cache,  # type: ignore[arg-type]
                                     min_bytes=min_bytes, max_edges=max_edges, max_nodes=max_nodes, repeats=repeats)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self.options).items()
                           if v != getattr(TuningOptions, k))
        return f"Batched({fields})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Batched) and other.options == self.options

    def __hash__(self) -> int:
        return hash(self.options)

    def schedule(self, plan: "Plan", net: Executable, x: torch.Tensor) -> Schedule | None:
        """The schedule for ``x``'s shape, or None before the first call with it."""
        return net.schedules.get(self._key(net, x))

    def _key(self, net: Executable, x: torch.Tensor) -> tuple:
        return (tuple(x.shape), x.dtype, str(x.device), bool(net.training), torch.is_grad_enabled(), self.options)

    def __call__(self, plan: "Plan", net: Executable, x: torch.Tensor) -> torch.Tensor:
        tracing = traced() or _observed()
        if tracing and not all(type(d) is int for d in x.shape):  # symbolic shapes (export, dynamic=True)
            return run_schedule(plan, net, x, provisional_schedule(plan, net, x.device))
        key = self._key(net, x)
        sched = net.schedules.get(key)
        if sched is not None:
            return run_schedule(plan, net, x, sched)
        if tracing:  # no schedule is made while traced or observed: run as the plan's blocks say
            return run_schedule(plan, net, x, provisional_schedule(plan, net, x.device))
        # first call for this shape: run as the plan's blocks say, noting each step's shapes,
        # then choose (measure or model) for the calls to come
        shapes: list = []
        y = run_schedule(plan, net, x, provisional_schedule(plan, net, x.device), shapes)
        opts = self.options
        if opts.tune == "off" or net.routing is not None:
            sched = model_schedule(plan, net, shapes, opts, x.device, x.element_size())
        else:
            sched = measure_schedule(plan, net, x, shapes, opts)
        net.schedules[key] = sched
        return y


try:
    from torch.overrides import _get_current_function_mode_stack
    from torch.utils._python_dispatch import is_in_torch_dispatch_mode
except ImportError:  # pragma: no cover - another torch
    def _get_current_function_mode_stack() -> list:  # type: ignore[misc]
        return []

    def is_in_torch_dispatch_mode(include_infra_modes: bool = False) -> bool:  # type: ignore[misc]
        return False


def _observed() -> bool:
    """Whether a torch dispatch or function mode watches the ops (``FlopCounterMode``, a memory
    tracker, fake tensors...): measuring then would be counted, or would run on fake tensors."""
    return bool(is_in_torch_dispatch_mode() or _get_current_function_mode_stack())


def batched_forward(plan: "Plan", net: Executable, x: torch.Tensor) -> torch.Tensor:
    """The batched executor with its default options (``Batched()``)."""
    return _DEFAULT(plan, net, x)


_DEFAULT = Batched()
