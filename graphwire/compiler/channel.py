"""The single-channel node op of Discovering Neural Wirings: ``channel``.

A channel node is one feature map: BatchNorm -> ReLU -> k x k depthwise convolution (one input
channel, one output channel; ``stride`` on the node's first convolution). ``norm="instance"``
(op option) swaps the BatchNorm for an affine InstanceNorm, as the reference's tiny models have. A node fed a
``C``-channel tensor (``in_channels = C > 1``, only possible at a graph's input, e.g. the image)
first reduces it to its own channel with a ``stem_kernel`` convolution -- its slice of a stem
convolution such as MobileNet's ``conv1`` -- and then runs BatchNorm -> ReLU -> depthwise conv.

The fused form runs a step of G channel nodes as ONE BatchNorm over G channels and ONE grouped
(depthwise) convolution; the batched executor's aggregation over earlier steps (one matmul per
source step against a ``[G, J]`` coefficient block) is then exactly a masked 1 x 1 convolution
over the earlier channels. A ``layered`` graph of channel nodes therefore runs as one masked 1 x 1
conv over earlier blocks plus one grouped depthwise conv per block, with no per-node Python.

>>> import torch, graphwire as gw
>>> G = gw.generators.layered([4, 8, 8, 2])
>>> net = gw.compile(G, in_channels=1, channels=1, default_op="channel")
>>> len(net.plan.steps), net(torch.randn(2, 1, 8, 8)).shape
(4, torch.Size([2, 2, 8, 8]))
"""

from __future__ import annotations

import contextlib
import gc
import math

import networkx as nx
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError, ShapeError
from .ops import _bn, _cat, _conv, fused_batch_norm, register_op

__all__ = ["NORMS", "ChannelNode", "fast_compile"]

#: The channel op's ``norm`` option: BatchNorm (default) or affine InstanceNorm (the reference's tiny models).
NORMS = ("batch", "instance")

_COMPILE_ARGS = ("in_channels", "channels", "default_op", "output_op", "dims", "wiring", "executor", "resize",
                 "op_options", "init_from")


class ChannelNode(nn.Module):
    """[stem conv C->1 when C > 1] -> norm -> ReLU -> k x k depthwise conv, on one channel.

    Parameters: ``bn`` (a 1-channel BatchNorm) or, with ``norm="instance"``, ``norm`` (a
    1-channel affine InstanceNorm), ``weight`` (``[1, 1, k(, k)]``, the depthwise kernel) and,
    for ``in_channels > 1``, ``stem`` (``[1, C, s(, s)]``). Kernels start as ``nn.Conv2d`` would
    (uniform in +-1/sqrt(fan_in)), as in the DNW code.

    ``norm``: ``"batch"`` (default; running statistics in evaluation) or ``"instance"``: the
    reference's static tiny model (allenai/dnw ``StaticNeuralGraph``) normalises each node with
    ``InstanceNorm2d(affine=True)``, i.e. per-sample statistics over the node's own map, the same
    computation in training and evaluation, and no running statistics.
    """

    input_params = {"stem": 1}

    def __init__(self, in_channels: int, out_channels: int = 1, stride: int = 1, dims: int = 2,
                 kernel_size: int = 3, stem_kernel: int | None = None, norm: str = "batch"):
        super().__init__()
        if norm not in NORMS:
            raise ParameterError(f"channel op: norm must be one of {', '.join(map(repr, NORMS))}, got {norm!r}")
        if out_channels != 1:
            raise ShapeError(f"channel op: a channel node has exactly one output channel, got "
                             f"out_channels={out_channels} (compile with channels=1)")
        if dims not in (1, 2):
            raise ParameterError(f"channel op: dims must be 1 or 2, got {dims!r}")
        for name, k in (("kernel_size", kernel_size), ("stem_kernel", stem_kernel)):
            if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0):
                raise ParameterError(f"channel op: {name} must be an odd positive integer, got {k!r}")
        sk = kernel_size if stem_kernel is None else stem_kernel
        self.dims, self.stride, self.kernel_size, self.stem_kernel = dims, stride, kernel_size, sk
        self.cin = in_channels
        if in_channels > 1:
            bound = 1.0 / math.sqrt(in_channels * sk ** dims)
            self.stem = nn.Parameter(torch.empty((1, in_channels) + (sk,) * dims).uniform_(-bound, bound))
        else:
            self.stem = None
        self.norm_kind = norm
        if norm == "batch":
            self.bn = _bn(dims, 1)
        else:
            self.norm = (nn.InstanceNorm1d if dims == 1 else nn.InstanceNorm2d)(1, affine=True)
        bound = 1.0 / math.sqrt(kernel_size ** dims)
        self.weight = nn.Parameter(torch.empty((1, 1) + (kernel_size,) * dims).uniform_(-bound, bound))

    def extra_repr(self) -> str:
        stem = f"stem {self.cin}->1 ({self.stem_kernel}), " if self.stem is not None else ""
        norm = ", norm='instance'" if self.norm_kind == "instance" else ""
        return f"{stem}kernel_size={self.kernel_size}, stride={self.stride}, dims={self.dims}{norm}"

    def _run(self, x, stem, bn, weight, groups, training):
        conv = _conv(self.dims)
        s_dw = self.stride
        if stem is not None:
            x = conv(x, stem, None, self.stride, self.stem_kernel // 2, 1, groups)
            s_dw = 1
        x = F.relu(bn(x, training))
        return conv(x, weight, None, s_dw, self.kernel_size // 2, 1, groups)

    def forward(self, x):
        norm = self.bn if self.norm_kind == "batch" else self.norm
        return self._run(x, self.stem, lambda y, _: norm(y), self.weight, 1, self.training)

    @staticmethod
    def fusion_params(mods):
        if mods[0].norm_kind == "batch":
            p = {"bn": [m.bn for m in mods]}
        else:
            p = {"in": [m.norm for m in mods]}
        p["w"] = [m.weight for m in mods]
        if mods[0].stem is not None:
            p["stem"] = [m.stem for m in mods]
        return p

    def fused(self, p, x, groups: int, training: bool):
        stem = _cat(p["stem"]) if "stem" in p else None
        if "bn" in p:
            def norm(y, t):
                return fused_batch_norm(y, p["bn"], t)
        else:
            def norm(y, t):  # G nodes' InstanceNorms: one per-sample, per-channel normalisation
                ins = p["in"]
                return F.instance_norm(y, weight=_cat([m.weight for m in ins]), bias=_cat([m.bias for m in ins]),
                                       eps=ins[0].eps)
        return self._run(x, stem, norm, _cat(p["w"]), groups, training)


register_op("channel", ChannelNode, spatial=True)


# ---------------------------------------------------------------------------------------------
# fast_compile: compile() for graphs whose every node reads a contiguous range of labels
# ---------------------------------------------------------------------------------------------
def fast_compile(G, *, in_channels: int, channels: int | None = None, default_op: str = "conv",
                 output_op: str | None = "identity", dims: int = 2, wiring: str = "static",
                 executor: str = "batched", resize: str = "area", op_options: dict | None = None,
                 init_from=None, **options):
    """:func:`graphwire.compile` for *interval graphs*, planned with array arithmetic.

    An interval graph has integer labels ``0..N-1`` in which every node's predecessors are one
    contiguous label range below it, every node's successors one contiguous range, and topological
    generations never decrease with the label -- ``generators.layered`` graphs and DNW's chains of
    channel graphs are. For these the plan (steps, edge ids, ``[G, J]`` edge-index blocks) is
    computed from per-node ranges instead of per-edge Python, which makes compiling a graph of
    millions of edges a matter of seconds. The result is the same :class:`WiredNet` (same plan,
    same edge order, interchangeable state dicts). Any other graph is handed to
    :func:`graphwire.compile` unchanged, and so is any graph the checks below find invalid (so the
    error messages are compile's).

    Checked as ``compile`` does: node attributes, roles, every node on an input -> output path,
    channel counts, and the attributes of every edge.
    """
    from .net import compile as _compile

    kwargs = dict(in_channels=in_channels, channels=channels, default_op=default_op, output_op=output_op,
                  dims=dims, wiring=wiring, executor=executor, resize=resize, op_options=op_options,
                  init_from=init_from, **options)
    if resize not in ("area", "bilinear") or not isinstance(wiring, str):
        return _compile(G, **kwargs)
    with _no_gc():
        return _fast_compile(G, kwargs)


@contextlib.contextmanager
def _no_gc():
    """Pause the cyclic garbage collector while millions of small objects (edges, node plans) are
    built: its full passes would rescan them over and over (seconds on a 7M-edge graph)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _fast_compile(G, kwargs):
    from .net import compile as _compile

    built = _interval_plan(G, in_channels=kwargs["in_channels"], channels=kwargs["channels"],
                           default_op=kwargs["default_op"], output_op=kwargs["output_op"], dims=kwargs["dims"])
    if built is None:
        return _compile(G, **kwargs)
    plan, edge_data = built
    options = {k: v for k, v in kwargs.items() if k not in _COMPILE_ARGS}
    from .net import _assemble

    out_ch = np.array([nd.out_ch for nd in plan.nodes], np.int64)
    outdeg = np.array([len(plan.graph._succ[nd.label]) for nd in plan.nodes], np.int64)
    src_ch = np.repeat(out_ch, outdeg).tolist()  # plan.edges is u-major
    # stacklevel 3: the warning names the caller of fast_compile (-> _fast_compile -> _assemble)
    return _assemble(plan, edge_data, src_ch, kwargs["wiring"], options, executor=kwargs["executor"],
                     resize=kwargs["resize"], op_options=kwargs["op_options"], init_from=kwargs["init_from"],
                     stacklevel=3)


def _interval_plan(G, *, in_channels, channels, default_op, output_op, dims):
    """The plan ``build_plan`` would make, or None when ``G`` is not an (acceptable) interval graph."""
    from ..graph import EDGE_CHECKS, NODE_CHECKS, SCHEMA_VERSION, node_attr
    from .ops import get_op
    from .plan import NodePlan, Plan, SourceBlock, group_steps, module_key

    if not isinstance(G, nx.DiGraph) or G.is_multigraph() or G.number_of_nodes() == 0:
        return None
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        return None
    if channels is not None and (isinstance(channels, bool) or not isinstance(channels, int) or channels < 1):
        return None
    if dims not in (0, 1, 2):
        return None
    record = G.graph.get("graphwire")
    if record is not None:
        version = record.get("version", SCHEMA_VERSION) if isinstance(record, dict) else None
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= SCHEMA_VERSION:
            return None
    N = G.number_of_nodes()
    succ, pred = G._succ, G._pred  # read-only: the adjacency dicts networkx keeps
    if list(succ) != list(range(N)) or any(type(n) is not int for n in succ):
        return None

    # ---- per-node ranges (C-speed passes over the adjacency dicts) and edge attributes
    lo = np.zeros(N, np.int64)
    hi = np.zeros(N, np.int64)
    slo = np.zeros(N, np.int64)
    outdeg = np.zeros(N, np.int64)
    edge_keys = set(EDGE_CHECKS)
    for v in range(N):
        P = pred[v]
        if P:
            a, b = min(P), max(P) + 1
            if b - a != len(P) or b > v:
                return None
            lo[v], hi[v] = a, b
        S = succ[v]
        if S:
            a, b = min(S), max(S) + 1
            if b - a != len(S) or a <= v:
                return None
            slo[v], outdeg[v] = a, b - a
            keys = np.fromiter(S, np.int64, len(S))
            if len(S) > 1 and not bool((np.diff(keys) == 1).all()):
                return None  # successor dicts out of order: G.edges order would not be u-major sorted
            for d in S.values():
                if d and not edge_keys.isdisjoint(d):
                    for key in edge_keys.intersection(d):
                        if EDGE_CHECKS[key](d[key]):
                            return None
    indeg = hi - lo
    out_start = np.zeros(N + 1, np.int64)
    np.cumsum(outdeg, out=out_start[1:])
    E = int(out_start[-1])

    # ---- node attributes and roles (validate's checks)
    for n, data in G.nodes(data=True):
        for key, check in NODE_CHECKS.items():
            if key in data and check(data[key]):
                return None
    roles = [node_attr(G, n, "role") for n in range(N)]
    is_in = np.array([r == "input" for r in roles])
    is_out = np.array([r == "output" for r in roles])
    if not is_in.any() or not is_out.any() or (is_in & (indeg > 0)).any() or (is_out & (outdeg > 0)).any():
        return None
    reach = np.zeros(N, bool)  # from an input
    prefix = np.zeros(N + 1, np.int64)
    gen = np.zeros(N, np.int64)
    for v in range(N):
        if indeg[v]:
            reach[v] = prefix[hi[v]] - prefix[lo[v]] > 0
            gen[v] = int(gen[lo[v]:hi[v]].max()) + 1
        else:
            reach[v] = is_in[v]
        prefix[v + 1] = prefix[v] + reach[v]
    coreach = is_out.copy()  # reaches an output: a successor range [slo, slo+outdeg) holds one
    cprefix = np.zeros(N + 1, np.int64)
    for u in range(N - 1, -1, -1):
        if outdeg[u]:
            coreach[u] = cprefix[slo[u]] - cprefix[slo[u] + outdeg[u]] > 0
        cprefix[u] = cprefix[u + 1] + coreach[u]
    if not (reach & coreach).all():
        return None
    if N > 1 and (np.diff(gen) < 0).any():
        return None  # generations must not decrease with the label (then position == label)

    # ---- node plans
    nodes = []
    outch = np.zeros(N, np.int64)
    for v in range(N):
        data = G.nodes[v]
        role = roles[v]
        op = data.get("op") or (output_op if role == "output" and output_op else default_op)
        try:
            spec = get_op(op)
        except Exception:  # noqa: BLE001 - compile raises the proper error
            return None
        if (spec.spatial is True and dims == 0) or (spec.spatial is False and dims != 0):
            return None
        agg = node_attr(G, v, "agg")
        a, b = int(lo[v]), int(hi[v])
        if role == "input":
            cin = in_channels
        else:
            arr = outch[a:b]
            cin = int(arr.sum()) if agg == "concat" else int(arr[0])
            if agg != "concat" and (arr != arr[0]).any():
                return None
        if op == "identity" and "channels" not in data:
            cout = cin
        else:
            cout = data.get("channels", channels)
            if cout is None:
                return None
        outch[v] = cout
        ids = (out_start[a:b] + (v - slo[a:b])).tolist()
        nodes.append(NodePlan(label=v, key=module_key(v), pos=v, op=op, role=role, agg=agg,
                              stride=node_attr(G, v, "stride"), in_ch=cin, out_ch=cout, gen=int(gen[v]),
                              preds=list(range(a, b)), in_edges=ids))

    # ---- steps: each generation grouped by signature, as build_plan does
    bounds = np.flatnonzero(np.diff(gen)) + 1
    starts = [0] + bounds.tolist()
    ends = bounds.tolist() + [N]
    steps = group_steps(nodes, (range(s0, s1) for s0, s1 in zip(starts, ends)))

    node_step = np.array([nd.step for nd in nodes], np.int64)
    node_slot = np.array([nd.slot for nd in nodes], np.int64)
    t_lo, t_hi, t_slo, t_start = (torch.from_numpy(x) for x in (lo, hi, slo, out_start[:-1]))
    for st in steps:
        if st.is_input:
            continue
        hit = np.zeros(N, bool)
        for v in st.nodes:
            hit[lo[v]:hi[v]] = True
        src_steps = sorted(set(node_step[hit].tolist()))
        vs = torch.tensor(st.nodes, dtype=torch.long)
        if st.agg == "sum":
            for s in src_steps:
                us = torch.tensor(steps[s].nodes, dtype=torch.long)
                inside = (us[None, :] >= t_lo[vs][:, None]) & (us[None, :] < t_hi[vs][:, None])
                eid = t_start[us][None, :] + (vs[:, None] - t_slo[us][None, :])
                idx = torch.where(inside, eid, torch.full_like(eid, E))
                single = int(idx[0, 0]) if st.size == 1 and len(us) == 1 else None
                st.sources.append(SourceBlock(step=s, edge_index=idx, single=single))
        else:
            base, off = {}, 0
            for s in src_steps:
                base[s] = off
                off += steps[s].size
            k = int(max(indeg[v] for v in st.nodes))
            gidx = torch.zeros((st.size, k), dtype=torch.long)
            gedge = torch.full((st.size, k), E, dtype=torch.long)
            for g, v in enumerate(st.nodes):
                a, b = int(lo[v]), int(hi[v])
                us = np.arange(a, b)
                pos = np.array([base[s] for s in node_step[a:b].tolist()], np.int64) + node_slot[a:b]
                gidx[g, : b - a] = torch.from_numpy(pos)
                gedge[g, : b - a] = torch.from_numpy(out_start[us] + (v - slo[us]))
            st.gather_steps, st.gather_index, st.gather_edges, st.k = src_steps, gidx, gedge, k
            st.gather_cpu = (gidx[0].tolist(), gedge[0].tolist())

    # ---- edges in G.edges order (u-major; successor ranges ascending) and their attribute dicts
    edges, edge_data = [], []
    for u in range(N):
        if outdeg[u]:
            S = succ[u]
            edges.extend(zip([u] * len(S), S))
            edge_data.extend(S.values())
    outs = [v for v in range(N) if is_out[v]]
    plan = Plan(graph=G, nodes=nodes, edges=edges, steps=steps, outputs=outs, in_channels=in_channels,
                dims=dims, by_label={nd.label: nd for nd in nodes})
    return plan, edge_data
