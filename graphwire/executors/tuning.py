"""How the batched executor chooses, per step, the way it runs: measured on the device and shapes
at the first call (as ``cudnn.benchmark`` does), or by a cost model.

For each plan step the candidates are an aggregation (``blocks``, ``sum_gather`` or ``edges`` for
``sum`` steps, see :mod:`~graphwire.executors._aggregate`) and an op mode (``grouped``: the step
op's one kernel over the G nodes stacked; ``nodes``: node by node, on node tensors never
stacked); for 4-D activations also the network's memory format (``contiguous`` or
``channels_last``).

Measuring times forward + backward on random tensors of the real shapes (noted by the first call)
with copies of the step ops, so nothing of the network changes (BatchNorm statistics, gradients,
hooks, the global RNG); candidates of one decision are timed round-robin, after a warm-up. First
the memory format: one node's op of the largest step in each format. Then, step by step in plan
order (each step sees its sources in the form already chosen for them): ``grouped`` -- its inputs
stacked and its output split back into nodes, as edge sums around it make them -- against G times
one node's op, grouped winning only when faster by :data:`GROUPED_MARGIN` (measured alone, with
warm caches, a grouped step looks faster than it runs among the others); then the aggregations
that can feed the faster op mode. Times are kept per process, and in a JSON file with ``cache=``,
keyed by everything they depend on -- device (CPU model, cores and threads, or GPU name and
capability), torch version, dtype, format, train/eval, autograd, the op and its input shape, the
step's edge structure and its sources' shapes -- so a time measured elsewhere is never used: it is
measured again.

The cost model (``tune="off"``, and steps moving under ``min_bytes`` with ``tune="auto"``): a
step's nodes run ``grouped`` and aggregate by ``blocks``, except nodes of at least
:data:`EDGE_BYTES` (per-node input) aggregate by ``edges`` and those of at least
:data:`NODE_BYTES` run ``nodes``: where per-call overhead is small next to the memory traffic a
block GEMM spends on absent edges, and grouped kernels measured slower than per-node ones
(RandWire stages on a 2-core AMD EPYC: ``benchmarks/executors.py``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch

from ..errors import ParameterError
from ._aggregate import EdgeSpec, Out, edge_spec, gather, sum_blocks, sum_edges, sum_gather
from ._common import Coefficients, Executable

if TYPE_CHECKING:  # pragma: no cover
    from ..plan import Plan, Step

__all__ = ["StepChoice", "Schedule", "TuningOptions", "TUNE_MODES", "MEMORY_FORMATS", "EDGE_BYTES", "NODE_BYTES",
           "model_schedule", "measure_schedule", "clear_memo"]

TUNE_MODES = ("auto", "measure", "off")
MEMORY_FORMATS = ("auto", "contiguous", "channels_last")
#: Per-node input bytes from which the cost model aggregates edge by edge (calibrated on a CPU).
EDGE_BYTES = 1 << 17
#: Per-node input bytes from which the cost model runs a step node by node (calibrated on a CPU).
NODE_BYTES = 1 << 20
#: A grouped step is chosen over node-by-node only when measured this much faster (a ratio).
GROUPED_MARGIN = 0.8
_EDGE_LIMIT = 4096
_CACHE_VERSION = 1


@dataclass(frozen=True)
class StepChoice:
    """How one step runs: ``agg`` (``input``, ``blocks``, ``edges`` or ``gather``) and ``op``
    (``grouped`` or ``nodes``)."""

    agg: str
    op: str


@dataclass
class Schedule:
    """How every step runs for one input shape: ``memory_format``, ``steps`` (a
    :class:`StepChoice` each), the edge lists of ``edges`` steps, whether it was ``measured``,
    and the ``seconds`` measuring took."""

    memory_format: str
    steps: list[StepChoice]
    edges: dict[int, EdgeSpec] = field(default_factory=dict)
    measured: bool = False
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        """How many steps run each way (``"edges/nodes": 7``...)."""
        out: dict[str, int] = {}
        for c in self.steps:
            k = f"{c.agg}/{c.op}"
            out[k] = out.get(k, 0) + 1
        return out


@dataclass(frozen=True)
class TuningOptions:
    """The batched executor's options (see :class:`~graphwire.executors.batched.Batched`)."""

    tune: str = "auto"
    memory_format: str = "auto"
    cache: str | None = None
    min_bytes: int = 1 << 19
    max_edges: int = 256
    max_nodes: int = 64
    repeats: int = 3

    def __post_init__(self):
        def bad(name: str, value: Any, expect: str) -> ParameterError:
            return ParameterError(f"batched executor option {name} must be {expect}, got {value!r}")

        if self.tune not in TUNE_MODES:
            raise bad("tune", self.tune, f"one of {TUNE_MODES}")
        if self.memory_format not in MEMORY_FORMATS:
            raise bad("memory_format", self.memory_format, f"one of {MEMORY_FORMATS}")
        if self.cache is not None and not isinstance(self.cache, (str, os.PathLike)):
            raise bad("cache", self.cache, "None or a file path")
        if self.cache is not None:
            object.__setattr__(self, "cache", os.fspath(self.cache))
        for name, lo, hi in (("min_bytes", 0, None), ("max_edges", 0, _EDGE_LIMIT), ("max_nodes", 1, None),
                             ("repeats", 1, 100)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
                raise bad(name, v, f"an integer in [{lo}, {hi if hi is not None else 'inf'})"
                          if hi is None else f"an integer in [{lo}, {hi}]")


# ---------------------------------------------------------------- candidates and the cost model
def _candidates(st: "Step", n_edges: int | None, opts: TuningOptions) -> list[StepChoice]:
    ops = ["grouped"] + (["nodes"] if 1 < st.size <= opts.max_nodes else [])
    if st.is_input:
        return [StepChoice("input", o) for o in ops]
    if st.agg != "sum":
        return [StepChoice("gather", o) for o in ops]
    out = [StepChoice("blocks", "grouped")]
    if n_edges is not None and 0 < n_edges <= opts.max_edges:
        out += [StepChoice("sum_gather", "grouped")] + [StepChoice("edges", o) for o in ops]
    return out


def _model_choice(st: "Step", cands: list[StepChoice], node_bytes: int) -> StepChoice:
    agg = cands[0].agg
    if node_bytes >= EDGE_BYTES and any(c.agg == "edges" for c in cands):
        agg = "edges"
    op = "nodes" if node_bytes >= NODE_BYTES and any(c.op == "nodes" and c.agg == agg for c in cands) else "grouped"
    return StepChoice(agg, op)


def _n_edges(E: int, st: "Step", opts: TuningOptions) -> int | None:
    """The step's edge count when edge-wise aggregation may run it (``E``: the plan's edge count)."""
    if st.is_input or st.agg != "sum" or opts.max_edges == 0:
        return None
    n = st.num_edges(E)
    return n if n <= opts.max_edges else None


def _finish(plan: "Plan", net: Executable, steps: list[StepChoice], fmt: str, device: torch.device) -> Schedule:
    edges: dict[int, EdgeSpec] = {}
    if any(c.agg in ("edges", "sum_gather") for c in steps):
        units, E, sizes = net.wiring.unit_edges, len(plan.edges), [st.size for st in plan.steps]
        edges = {st.index: edge_spec(st, E, device, units, sizes) for st, c in zip(plan.steps, steps)
                 if c.agg in ("edges", "sum_gather")}
    return Schedule(fmt, steps, edges)


_PLAIN = TuningOptions()


def provisional_schedule(plan: "Plan", net: Executable, device: torch.device) -> Schedule:
    """Every step grouped, aggregated by blocks/gather: what runs while shapes are not yet known."""
    return Schedule("contiguous", [_candidates(st, None, _PLAIN)[0] for st in plan.steps])


def model_schedule(plan: "Plan", net: Executable, shapes: list, opts: TuningOptions, device: torch.device,
                   itemsize: int) -> Schedule:
    """The cost model's schedule (see the module doc) for the step shapes ``shapes``."""
    steps = []
    E = len(plan.edges)
    for st, (in_shape, _) in zip(plan.steps, shapes):
        cands = _candidates(st, _n_edges(E, st, opts), opts)
        steps.append(_model_choice(st, cands, math.prod(in_shape) * itemsize))
    fmt = "channels_last" if opts.memory_format == "channels_last" else "contiguous"
    return _finish(plan, net, steps, fmt, device)


# ---------------------------------------------------------------- measuring
_MEMO: dict[str, float] = {}
_FILES: dict[str, dict[str, float]] = {}


def clear_memo() -> None:
    """Forget every time measured in this process (files given as ``cache=`` stay)."""
    _MEMO.clear()
    _FILES.clear()


def device_key(device: torch.device) -> str:
    """What a measured time depends on besides shapes: the device (CPU model and threads, or
    GPU name and capability) and the torch version."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        cap = ".".join(map(str, torch.cuda.get_device_capability(device)))
        desc = f"cuda:{name}:{cap}"
    else:
        model = "cpu"
        try:
            with open("/proc/cpuinfo") as f:
                model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "cpu")
        except OSError:
            pass
        desc = f"{device.type}:{model}:{os.cpu_count()}cores:{torch.get_num_threads()}threads"
    return f"{desc}|torch {torch.__version__}"


def _load_file(path: str) -> dict[str, float]:
    """A cache file's valid entries (a missing, unreadable or foreign file gives none)."""
    got = _FILES.get(path)
    if got is not None:
        return got
    entries: dict[str, float] = {}
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        data = None
    if isinstance(data, dict) and data.get("version") == _CACHE_VERSION and isinstance(data.get("times"), dict):
        for k, v in data["times"].items():
            if isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) \
                    and math.isfinite(v) and v > 0:
                entries[k] = float(v)
    _FILES[path] = entries
    return entries


def _save_file(path: str, new: dict[str, float]) -> None:
    from ..io._atomic import atomic_write

    entries = dict(_load_file(path))
    entries.update(new)
    _FILES[path] = entries
    atomic_write(Path(path), json.dumps({"version": _CACHE_VERSION, "times": entries}, indent=0, sort_keys=True))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Timer:
    """Times candidates round-robin (after one warm-up call each, a candidate whose warm-up took
    over three times the fastest's is dropped), medians of ``repeats``; remembers times by key."""

    def __init__(self, device: torch.device, opts: TuningOptions, prefix: str):
        self.device, self.opts, self.prefix = device, opts, prefix
        self.file = _load_file(opts.cache) if opts.cache else {}
        self.new: dict[str, float] = {}

    def race(self, cands: dict[Any, tuple[str, Callable[[], Callable[[], None]]]]) -> dict[Any, float]:
        """``{name: (key, make)}`` -> ``{name: seconds}`` (``make()`` builds the timed function)."""
        out: dict[Any, float] = {}
        todo: dict[Any, tuple[str, Callable[[], None]]] = {}
        for name, (key, make) in cands.items():
            key = f"{self.prefix}|{key}"
            t = _MEMO.get(key) or self.file.get(key)
            if t is not None:
                out[name] = t
            else:
                todo[name] = (key, make())
        if not todo:
            return out
        for _, fn in todo.values():  # warm-up: allocations, kernel choices, first touch of memory
            fn()
        warm = {name: self._once(fn) for name, (_, fn) in todo.items()}
        fastest = min(warm.values())
        times: dict[Any, list[float]] = {n: [] for n, w in warm.items() if w <= 3 * fastest}
        # at least ``repeats`` rounds, more for fast candidates (about 50 ms of the fastest's)
        reps = 1 if fastest > 0.25 else max(self.opts.repeats, min(50, int(0.05 / max(fastest, 1e-6))))
        for _ in range(reps):
            for name in times:
                times[name].append(self._once(todo[name][1]))
        for name, (key, _) in todo.items():
            t = statistics.median(times[name]) if name in times else warm[name]
            t = max(t, 1e-9)
            _MEMO[key] = self.new[key] = out[name] = t
        return out

    def _once(self, fn: Callable[[], None]) -> float:
        _sync(self.device)
        t0 = time.perf_counter()
        fn()
        _sync(self.device)
        return time.perf_counter() - t0


class _Specs(dict):
    """Steps' :class:`~graphwire.executors._aggregate.EdgeSpec`, built on first use."""

    def __init__(self, plan: "Plan", device: torch.device, unit_edges):
        super().__init__()
        self.plan, self.device, self.units = plan, device, unit_edges
        self.sizes = [st.size for st in plan.steps]
        self.E = len(plan.edges)

    def __missing__(self, index: int) -> EdgeSpec:
        spec = self[index] = edge_spec(self.plan.steps[index], self.E, self.device, self.units,
                                       self.sizes)
        return spec


class _Probe:
    """Stands in for an executor's per-call state (:class:`~graphwire.executors._common.Forward`)
    with random coefficients, while an aggregation is measured."""

    __slots__ = ("coef", "close", "batch", "skip", "state")

    def __init__(self, coef: Coefficients, batch: int):
        self.coef, self.close, self.batch, self.skip, self.state = coef, False, batch, False, None


def _rand(shape, fmt, dtype, device, gen, grad=True) -> torch.Tensor:
    t = torch.empty(shape, dtype=dtype, device=device)
    t.normal_(generator=gen)
    if len(shape) == 4 and fmt is torch.channels_last:
        t = t.contiguous(memory_format=fmt)
    return t.requires_grad_(grad)


def _params_and_buffers(op) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    mods = [op] if isinstance(op, torch.nn.Module) else list(op.modules)
    params = [p for m in mods for p in m.parameters() if p.requires_grad]
    bufs = [b for m in mods for b in m.buffers()]
    return params, bufs


class _Grads:
    """Random output gradients, drawn once (at the first call) and reused by every timed call."""

    def __init__(self, gen):
        self.gen, self.grads = gen, None

    def backward(self, outs: list[torch.Tensor], inputs: list[torch.Tensor]) -> None:
        outs = [o for o in outs if o.requires_grad]
        ins = [t for t in inputs if t.requires_grad]
        if outs and ins and torch.is_grad_enabled():
            if self.grads is None:
                self.grads = [torch.empty_like(o).normal_(generator=self.gen) for o in outs]
            torch.autograd.grad(outs, ins, self.grads, allow_unused=True)


def measure_schedule(plan: "Plan", net: Executable, x: torch.Tensor, shapes: list, opts: TuningOptions) -> Schedule:
    """Measure and return the fastest schedule (see the module doc): the memory format from one
    node's op in each format; per step, ``grouped`` against G times one node's op, then the
    aggregations that can feed the faster op mode."""
    t_start = time.perf_counter()
    device, dtype = x.device, x.dtype
    itemsize = x.element_size()
    grad = torch.is_grad_enabled()
    prefix = f"{device_key(device)}|{dtype}|{'train' if net.training else 'eval'}|{'fb' if grad else 'f'}"
    timer = _Timer(device, opts, prefix)
    gen = torch.Generator(device=device)
    gen.manual_seed(0)
    wiring = net.wiring
    forks = [device] if device.type == "cuda" else []
    coef_shape, coef_dtype = shapes[-1]  # as the first call saw them (coefficients() may have effects)
    raw = torch.empty(coef_shape, dtype=coef_dtype, device=device)
    trainable = any(p.requires_grad for p in wiring.parameters())
    mode = wiring.mode
    E = len(plan.edges)  # (counting a networkx graph's edges walks it)
    n_edges = [_n_edges(E, st, opts) for st in plan.steps]
    cands = [_candidates(st, n, opts) for st, n in zip(plan.steps, n_edges)]
    model = model_schedule(plan, net, shapes, opts, device, itemsize)
    specs = _Specs(plan, device, wiring.unit_edges)  # edge lists, built for the steps measured

    def big(st) -> bool:
        in_shape, out_shape = shapes[st.index]
        return opts.tune == "measure" or (math.prod(in_shape) + math.prod(out_shape)) * st.size * itemsize >= opts.min_bytes

    def node_op(st, fmt: str):
        mf = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
        c = StepChoice("-", "nodes" if st.size > 1 else "grouped")
        return _op_key(net, st, c, shapes[st.index][0], fmt, 1), \
            lambda: _op_fn(net, st, c, shapes[st.index][0], mf, dtype, device, gen, 1)

    with torch.random.fork_rng(devices=forks):
        # the memory format: one node's op of the largest measured step, in each format
        fmt = "channels_last" if opts.memory_format == "channels_last" and x.dim() == 4 else "contiguous"
        work = [st for st, cs in zip(plan.steps, cands) if big(st) and (len(cs) > 1 or x.dim() == 4)]
        if x.dim() == 4 and opts.memory_format == "auto" and work:
            st0 = max(work, key=lambda st: math.prod(shapes[st.index][0]) * st.size)
            t = timer.race({f: node_op(st0, f) for f in ("contiguous", "channels_last")})
            fmt = "channels_last" if t["channels_last"] < t["contiguous"] else "contiguous"
        mf = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
        chosen: list[StepChoice] = []
        for st, cs in zip(plan.steps, cands):
            if len(cs) == 1 or not big(st):
                chosen.append(model.steps[st.index] if model.steps[st.index] in cs else cs[0])
                continue
            in_shape = shapes[st.index][0]
            op_t = {"grouped": 0.0, "nodes": math.inf}
            if any(c.op == "nodes" for c in cs):
                grouped = StepChoice("-+forms", "grouped")
                t = timer.race({"grouped": (_op_key(net, st, grouped, in_shape, fmt, st.size) + "+forms",
                                            lambda: _op_fn(net, st, grouped, in_shape, mf, dtype, device, gen,
                                                           st.size)),
                                "node": node_op(st, fmt)})
                # grouped must win clearly: measured alone (caches warm, no neighbours) a grouped
                # step looks faster than it runs among the others
                op_t = {"grouped": t["grouped"] / GROUPED_MARGIN, "nodes": st.size * t["node"]}
            aggs = {c.agg for c in cs}
            times = {c: op_t[c.op] for c in cs if op_t[c.op] <= 1.25 * min(op_t.values())}
            if len(aggs) > 1 or len(times) > 1:
                race = {c: (_agg_key(plan, st, c, chosen, shapes, fmt, mode, raw),
                            lambda c=c: _agg_fn(plan, st, c, chosen, shapes, specs, mf, raw, mode, trainable, net,
                                                gen, dtype))
                        for c in times if c.agg != "input"}
                for c, t_agg in timer.race(race).items():
                    times[c] += t_agg
            pick = min(times, key=times.__getitem__)
            chosen.append(pick)
    if opts.cache and timer.new:
        _save_file(opts.cache, timer.new)
    sched = _finish(plan, net, chosen, fmt, device)
    sched.measured = True
    sched.seconds = time.perf_counter() - t_start
    return sched


def _op_key(net: Executable, st: "Step", c: StepChoice, in_shape, fmt: str, groups: int) -> str:
    """What an op's time depends on: the module (a node's, for one node), input shape, format."""
    op = net.step_op(st.index)
    # a stacked op module describes its G nodes; a ModuleStep (a plain view, no repr) by one node's module
    grouped = c.op != "nodes" and st.size > 1 and isinstance(op, torch.nn.Module)
    m = op if grouped else op.node_module(0)
    what = f"{type(m).__name__}:{getattr(op, 'options', '')}:{m!r}".replace("\n", " ")
    return f"op|{what}|{tuple(in_shape)}|{fmt}|{'node' if groups == 1 else f'grouped{groups}'}"


def _isolated(op):
    """A copy of a step op to measure with (the network's buffers, gradients and hooks untouched)."""
    twin = copy.deepcopy(op)
    for m in ([twin] if isinstance(twin, torch.nn.Module) else list(twin.modules)):
        for sub in m.modules():
            for hooks in (sub._forward_hooks, sub._forward_pre_hooks, sub._backward_hooks,
                          sub._backward_pre_hooks):
                hooks.clear()
    return twin


def _op_fn(net: Executable, st: "Step", c: StepChoice, in_shape, mf, dtype, device, gen,
           G: int) -> Callable[[], None]:
    """Forward + backward of the step's op on random inputs: ``grouped`` over its nodes, or
    ``nodes``: ``G`` of its nodes one by one."""
    op = _isolated(net.step_op(st.index))
    params, _ = _params_and_buffers(op)
    grads = _Grads(gen)
    if c.op == "nodes":
        xs = [_rand(tuple(in_shape), mf, dtype, device, gen) for _ in range(G)]

        def run_nodes():
            ys = op.forward_nodes(xs) if G == op.groups else [op.node_forward(g, xs[g]) for g in range(G)]
            grads.backward(ys, xs + params)
        return run_nodes
    if not c.agg.endswith("+forms"):
        shape = (in_shape[0], st.size * in_shape[1]) + tuple(in_shape[2:])
        xg = _rand(shape, mf, dtype, device, gen)

        def run_grouped():
            grads.backward([op(xg)], [xg] + params)
        return run_grouped
    # against node by node: the G inputs stacked first and the output split after, as edge sums
    # around a grouped step make them (channels-last splits are copies)
    xs = [_rand(tuple(in_shape), mf, dtype, device, gen) for _ in range(st.size)]

    def run_grouped_nodes():
        ys = Out(op(torch.cat(xs, 1)), st.size).split()
        grads.backward(ys, xs + params)
    return run_grouped_nodes


def _digest(*parts: bytes) -> str:
    """A digest of ``parts`` that is the same in every process (``hash`` of bytes is salted per
    process, so a cache file keyed by it would never match)."""
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()


def _agg_key(plan: "Plan", st: "Step", c: StepChoice, chosen: list[StepChoice], shapes, fmt: str, mode: str,
             raw: torch.Tensor) -> str:
    srcs = [st.sources[j].step for j in range(len(st.sources))] if st.agg == "sum" else list(st.gather_steps)
    src_desc = ",".join(f"{plan.steps[s].size}x{tuple(shapes[s][1])}:{chosen[s].op if plan.steps[s].size > 1 else '-'}"
                        for s in srcs)
    E = len(plan.edges)
    if st.agg == "sum":
        tgt, blk, src, _ = st.edge_list(E)
        struct = _digest(tgt.tobytes(), blk.tobytes(), src.tobytes(), bytes(sb.sparse for sb in st.sources))
    else:
        struct = _digest(f"{st.agg}:{st.k}".encode(),
                         b"" if st.gather_index is None else st.gather_index.tobytes())
    as_list = c.op == "nodes" and st.size > 1
    return (f"agg|{c.agg}|{'list' if as_list else 'stacked'}|G{st.size}|{st.agg}|{struct}|{src_desc}|{fmt}|"
            f"{mode}{tuple(raw.shape[1:]) if mode == 'channel' else ''}")


def _agg_fn(plan: "Plan", st: "Step", c: StepChoice, chosen: list[StepChoice], shapes, specs, mf, raw: torch.Tensor,
            mode: str, trainable: bool, net: Executable, gen, dtype: torch.dtype) -> Callable[[], None]:
    device = raw.device
    srcs = [sb.step for sb in st.sources] if st.agg == "sum" else list(st.gather_steps)
    outs: list[Any] = [None] * len(plan.steps)
    leaves: list[torch.Tensor] = []
    for s in set(srcs):
        G = plan.steps[s].size
        node = tuple(shapes[s][1])
        if chosen[s].op == "nodes" and G > 1:
            ys = [_rand(node, mf, dtype, device, gen) for _ in range(G)]
            leaves += ys
            outs[s] = Out(ys, G)
        else:
            y = _rand((node[0], G * node[1]) + node[2:], mf, dtype, device, gen)
            leaves.append(y)
            outs[s] = Out(y, G)
    coef_raw = _rand(tuple(raw.shape), torch.contiguous_format, raw.dtype, device, gen, grad=trainable)
    as_list = c.op == "nodes" and st.size > 1
    rt = net.runtime
    grads = _Grads(gen)

    def run():
        fw: Any = _Probe(Coefficients(coef_raw, mode, None), shapes[st.index][0][0])
        if c.agg == "edges":
            inp, _ = sum_edges(st, specs[st.index], outs, [], fw, rt, as_list)
        elif c.agg == "sum_gather":
            inp, _ = sum_gather(st, specs[st.index], plan.steps, outs, [], fw, rt)
        elif c.agg == "blocks":
            inp, _ = sum_blocks(st, plan.steps, outs, [], fw, rt, {})
        else:
            inp, _ = gather(st, plan.steps, outs, [], fw, rt)
        res = list(inp) if isinstance(inp, (list, tuple)) else [inp]
        grads.backward(res, leaves + [coef_raw])
    return run
