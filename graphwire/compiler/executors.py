"""The two interpreters of a plan: ``reference`` (the oracle) and ``batched`` (the fast one).

``reference`` walks nodes in topological order and calls each node's module: short and
obviously right. ``batched`` runs each plan step (nodes of one generation with one signature) as
one fused kernel and aggregates a step's inputs with one matmul (or one gather) per source step;
its Python work grows with the number of steps only. Both follow the semantics documented in
:mod:`graphwire.wiring.base` (closed edges, closed nodes output exactly zero).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:  # pragma: no cover
    from .net import WiredNet

__all__ = ["reference_forward", "batched_forward", "EXECUTORS"]

_NEG_INF = float("-inf")
_LARGE_BLOCK = 1024  # G x J above which a batch-shared block is aggregated by matmul, not bmm


def _resize(y: torch.Tensor, size: tuple, mode: str) -> torch.Tensor:
    """Bring ``y`` ([B, C, *spatial]) to spatial ``size`` (the smallest among a node's inputs)."""
    if tuple(y.shape[2:]) == size:
        return y
    if mode == "area":
        pool = F.adaptive_avg_pool1d if len(size) == 1 else F.adaptive_avg_pool2d
        return pool(y, size)
    return F.interpolate(y, size=size, mode="linear" if len(size) == 1 else "bilinear", align_corners=False)


def _smallest(ys: list[torch.Tensor]) -> tuple:
    shapes = [tuple(y.shape[2:]) for y in ys]
    return tuple(min(s[i] for s in shapes) for i in range(len(shapes[0])))


def _masked_max(vals: torch.Tensor, is_open: torch.Tensor, dim: int) -> torch.Tensor:
    """Max over ``dim`` of the open entries; 0 where none is open (never -inf)."""
    m = torch.where(is_open, vals, _NEG_INF).amax(dim)
    return torch.where(torch.isinf(m), torch.zeros_like(m), m)


# ---------------------------------------------------------------------------- reference
def reference_forward(net: "WiredNet", x: torch.Tensor) -> torch.Tensor:
    """One node at a time, in topological order."""
    plan, ctx = net.plan, net.wiring.context(x)
    close = net.wiring.may_close
    skip = _may_skip(net)
    B = x.shape[0]
    outs: dict[int, torch.Tensor] = {}
    alive: dict[int, torch.Tensor] = {}
    for nd in plan.nodes:
        if nd.role == "input":
            inp, a = x, x.new_ones(B)
        else:
            ys = [outs[p] for p in nd.preds]
            size = _smallest(ys)
            ys = [_resize(y, size, net.resize) for y in ys]
            weighted = [ctx.edge(e, y) * y for e, y in zip(nd.in_edges, ys)]
            if nd.agg == "sum":
                inp = sum(weighted)
            elif nd.agg == "concat":
                inp = torch.cat(weighted, 1)
            else:
                is_open = torch.stack([(ctx.edge(e, y) != 0).expand_as(y) for e, y in zip(nd.in_edges, ys)])
                inp = _masked_max(torch.stack(weighted), is_open, 0)
            a = None
            if close:
                mass = sum(ctx.edge_mass(e) * alive[p] for e, p in zip(nd.in_edges, nd.preds))
                a = (mass > 0).to(x.dtype).expand(B)
        if close and skip and not bool(a.any()):
            y = _closed_output(net, nd, inp)  # closed for the whole batch: not computed at all
        else:
            y = net.nodes[nd.key](inp)
            if close:
                y = y * a.reshape((B,) + (1,) * (y.dim() - 1))
        ctx.observe_node(nd.pos, y, a if close else None)
        outs[nd.pos], alive[nd.pos] = y, a
    return torch.cat([outs[p] for p in plan.outputs], 1)


# ---------------------------------------------------------------------------- batched
def batched_forward(net: "WiredNet", x: torch.Tensor) -> torch.Tensor:
    """One fused kernel per step; inputs aggregated by one matmul/gather per source step."""
    plan, ctx = net.plan, net.wiring.context(x)
    close = net.wiring.may_close
    skip = _may_skip(net)
    training = net.training
    B = x.shape[0]
    outs: list[torch.Tensor] = []
    alive: list[torch.Tensor] = []
    for st, mods, fused in zip(plan.steps, net._step_modules, net._fusion_params()):
        G = st.size
        if st.is_input:
            inp = x if G == 1 else x.repeat((1, G) + (1,) * (x.dim() - 2))
            a = x.new_ones(B, G)
        elif st.agg == "sum":
            inp, a = _aggregate_sum(st, plan.steps, outs, alive, ctx, B, net.resize, close)
        else:
            inp, a = _aggregate_gather(st, plan.steps, outs, alive, ctx, B, net.resize, close)
        if close and skip and not bool(a.any()):
            y = _closed_output(net, plan.nodes[st.nodes[0]], inp, G)  # closed for the whole batch
        elif G == 1:
            y = mods[0](inp)
        elif fused is not None:
            y = mods[0].fused(fused, inp, G, training)
        else:  # an op without a fused form: its modules one by one
            y = torch.cat([m(c) for m, c in zip(mods, inp.chunk(G, 1))], 1)
        if close:
            y = (y.reshape((B, G, -1)) * a.reshape(a.shape[0], G, 1)).reshape(y.shape)
        ctx.observe(st.index, y, a if close else None)
        outs.append(y)
        alive.append(a)
    parts = [outs[s] if whole else outs[s][:, a:b] for s, a, b, whole in plan.output_slices]
    return parts[0] if len(parts) == 1 else torch.cat(parts, 1)


def _may_skip(net) -> bool:
    """Skip nodes closed for the whole batch: inference only (eval mode, autograd off), and never
    while torch.compile traces (the check is data-dependent). The result is the same either way."""
    return (not net.training and net.skip_closed and not torch.is_grad_enabled()
            and not torch.compiler.is_compiling())


def _closed_output(net, nd, inp: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """The zero output of a closed node (or step), shaped like the op's output, without running it."""
    spatial = tuple(-(-s // nd.stride) for s in inp.shape[2:])
    return inp.new_zeros((inp.shape[0], groups * nd.out_ch) + spatial)


def _mass(c: torch.Tensor, a_src: torch.Tensor, mode: str) -> torch.Tensor:
    """Open-edge mass from alive sources into each target node: ``[1|B, G]``."""
    c = c.abs()
    if mode == "channel":
        c = c.sum(-1)                                   # [G, J]
    return torch.matmul(c, a_src.unsqueeze(-1)).squeeze(-1)  # [G,J]@[B,J,1] or [B,G,J]@[B,J,1]


def _aggregate_sum(st, steps, outs, alive, ctx, B, resize, close):
    """sum: the step's input is the sum over its source steps of ``C_block @ Y_source``."""
    size = _smallest([outs[sb.step] for sb in st.sources])
    total, mass = None, None
    for sb in st.sources:
        y = _resize(outs[sb.step], size, resize)
        c = None if sb.unit and not close else ctx.block(sb.edge_index)
        total = _add_block(total, y, c, st.size, steps[sb.step].size, B, size, ctx.mode)
        if close:
            m = _mass(ctx.block(sb.edge_index) if c is None else c, alive[sb.step], ctx.mode)
            mass = m if mass is None else mass + m
    return total, ((mass > 0).to(total.dtype) if close else None)


def _add_block(total, y, c, G: int, J: int, B: int, size: tuple, mode: str) -> torch.Tensor:
    """``total + C @ y`` for one source step's output ``y`` ([B, J*C, *sp]); ``c`` None is a
    single edge with constant coefficient 1."""
    if c is None:
        return y if total is None else total + y
    if G == 1 and J == 1 and mode != "channel":  # one edge: a (per-sample) scalar, fused multiply-add
        cb = c.reshape((-1,) + (1,) * (y.dim() - 1))
        return y * cb if total is None else torch.addcmul(total, y, cb)
    if mode == "channel":
        cs = y.shape[1] // J
        part = torch.einsum("gjc,bjcx->bgcx", c[..., :cs], y.reshape(B, J, cs, -1)).reshape((B, -1) + size)
        return part if total is None else total + part
    yb = y.reshape(B, J, -1)
    if c.dim() == 2 and G * J > _LARGE_BLOCK:
        # A big block shared by the batch (DNW channel graphs): one matmul. bmm over an expanded
        # [B, G, J] coefficient would build and reduce a B x G x J gradient in backward.
        part = torch.matmul(c, yb).reshape((B, -1) + size)
        return part if total is None else total + part
    # small blocks: one small GEMM per sample (no transposed copies of the activations),
    # accumulating in place of an add
    cb = c if c.dim() == 3 else c.expand(B, -1, -1)
    if total is None:
        return torch.bmm(cb, yb).reshape((B, -1) + size)
    return torch.baddbmm(total.reshape(B, cb.shape[1], -1), cb, yb).reshape((B, -1) + size)


def _aggregate_gather(st, steps, outs, alive, ctx, B, resize, close):
    """concat / max: each node's k inputs gathered as ``[B, G, k, C, *sp]`` from the source steps."""
    ys = [outs[s] for s in st.gather_steps]
    size = _smallest(ys)
    ys = [_resize(y, size, resize) for y in ys]
    widths = {y.shape[1] // steps[s].size for y, s in zip(ys, st.gather_steps)}
    if len(widths) > 1:
        return _concat_ragged(st, steps, ys, alive, ctx, B, close)
    cs = widths.pop()
    nsp = len(size)
    bank = torch.cat([y.reshape((B, -1, cs) + size) for y in ys], 1)        # [B, J, C, *sp]
    xs = bank[:, st.gather_index]                                           # [B, G, k, C, *sp]
    coef = ctx.block(st.gather_edges)                                       # [G,k] | [G,k,Cmax] | [B,G,k]
    if ctx.mode == "channel":
        coef = coef[..., :cs]
        w = coef.reshape((1,) + tuple(coef.shape) + (1,) * nsp)
        is_open = (coef != 0).any(-1)
    else:
        w = coef.reshape(tuple(coef.shape if coef.dim() == 3 else (1,) + tuple(coef.shape)) + (1,) * (1 + nsp))
        is_open = coef != 0
    weighted = xs * w
    G = st.size
    if st.agg == "concat":
        inp = weighted.reshape((B, G * st.k * cs) + size)
    else:
        o = is_open.reshape((is_open.shape[0] if is_open.dim() == 3 else 1, G, st.k) + (1,) * (1 + nsp))
        inp = _masked_max(weighted, o, 2).reshape((B, G * cs) + size)
    a = None
    if close:
        a_src = torch.cat([alive[s] for s in st.gather_steps], -1)[:, st.gather_index]   # [B, G, k]
        cabs = coef.abs().sum(-1) if ctx.mode == "channel" else coef.abs()
        a = ((cabs * a_src).sum(-1) > 0).to(inp.dtype)
    return inp, a


def _concat_ragged(st, steps, ys, alive, ctx, B, close):
    """A concat node whose inputs differ in width (always a step of its own, see the plan)."""
    slots = [(s, j) for s in st.gather_steps for j in range(steps[s].size)]
    index, edges = st.gather_cpu
    bank = {}
    for y, s in zip(ys, st.gather_steps):
        for j, part in enumerate(y.chunk(steps[s].size, 1)):
            bank[(s, j)] = part
    parts, mass = [], 0
    for j, e in zip(index, edges):
        y = bank[slots[j]]
        parts.append(ctx.edge(e, y) * y)
        if close:
            mass = mass + ctx.edge_mass(e) * alive[slots[j][0]][:, slots[j][1]]
    a = ((torch.as_tensor(mass) > 0).to(ys[0].dtype).reshape(-1, 1)) if close else None
    return torch.cat(parts, 1), a


EXECUTORS = {"reference": reference_forward, "batched": batched_forward}
