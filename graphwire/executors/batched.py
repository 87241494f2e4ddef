"""The batched executor: one fused kernel per plan step, and one matmul (or gather) per source
step to aggregate a step's inputs. Its Python work grows with the number of steps, not nodes or
edges."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # pragma: no cover
    from ..plan import Plan
from ._common import Forward, closed_output, masked_max, resize_to, smallest

__all__ = ["batched_forward"]

_LARGE_BLOCK = 1024  # G x J above which a batch-shared block is aggregated by matmul, not bmm


def batched_forward(plan: "Plan", runtime: Any, x: torch.Tensor) -> torch.Tensor:
    """Run ``plan`` a step at a time."""
    fw = Forward(runtime, x)
    close, B = fw.close, fw.batch
    training = runtime.training
    outs: list[torch.Tensor] = []
    alive: list[torch.Tensor | None] = []
    node_major: dict = {}  # (step, size) -> that step's output as [J, B, C*sp], for sparse blocks
    for st in plan.steps:
        G = st.size
        a: torch.Tensor | None
        if st.is_input:
            inp = x if G == 1 else x.repeat((1, G) + (1,) * (x.dim() - 2))
            a = x.new_ones(B, G) if close else None
        elif st.agg == "sum":
            inp, a = _aggregate_sum(st, plan.steps, outs, alive, fw, runtime, node_major)
        else:
            inp, a = _aggregate_gather(st, plan.steps, outs, alive, fw, runtime)
        if fw.skip and a is not None and not bool(a.any()):
            y = closed_output(st.out_ch, st.stride, inp, G)  # closed for the whole batch
        else:
            stack = runtime.stacks[st.index]
            mods = runtime.step_modules[st.index]
            if stack is not None:  # the G nodes' tensors stacked: one module
                y = stack(inp)
            elif G == 1:
                y = mods[0](inp)
            else:
                fused = runtime.fused_params(st.index)
                if fused is not None:
                    y = mods[0].fused(fused, inp, G, training)
                else:  # an op without a fused form: its modules one by one
                    y = torch.cat([m(c) for m, c in zip(mods, inp.chunk(G, 1))], 1)
            if a is not None:
                y = (y.reshape((B, G, -1)) * a.reshape(a.shape[0], G, 1)).reshape(y.shape)
        fw.after_step(st.index, y, a)
        outs.append(y)
        alive.append(a)
    parts = [outs[s] if whole else outs[s][:, a0:b0] for s, a0, b0, whole in plan.output_slices]
    return parts[0] if len(parts) == 1 else torch.cat(parts, 1)


def _mass(c: torch.Tensor, a_src: torch.Tensor, mode: str) -> torch.Tensor:
    """Open-edge mass from alive sources into each target node: ``[1|B, G]``."""
    c = c.abs()
    if mode == "channel":
        c = c.sum(-1)                                   # [G, J]
    return torch.matmul(c, a_src.unsqueeze(-1)).squeeze(-1)  # [G,J]@[B,J,1] or [B,G,J]@[B,J,1]


def _aggregate_sum(st, steps, outs, alive, fw: Forward, runtime, node_major: dict):
    """sum: the step's input is the sum over its source steps of ``C_block @ Y_source``; a sparse
    block (an edge list, see :class:`~graphwire.plan.SourceBlock`) is gathered source by
    source and all of a step's sparse blocks are scattered into it with one ``index_add_``.

    Sparse blocks work node-major (``[J, B, F]``, the source step's output transposed once per
    forward): gathering and scattering whole contiguous rows along dim 0 measured several times
    faster than along dim 1 of ``[B, J, F]`` (benchmarks/sparse_threshold.py)."""
    size = smallest([outs[sb.step] for sb in st.sources])
    close, ctx, B = fw.close, fw.coef, fw.batch
    units = runtime.unit_blocks[st.index]
    total, mass = None, None
    gathered, a_gathered = [], []
    for j, sb in enumerate(st.sources):
        y = resize_to(outs[sb.step], size, runtime.resize)
        if sb.edge_index is None:
            src = runtime.index(st.index, f"src{j}_s")
            key = (sb.step, size)
            yt = node_major.get(key)
            if yt is None:
                yt = node_major[key] = y.reshape(B, steps[sb.step].size, -1).transpose(0, 1).contiguous()
            gathered.append(yt.index_select(0, src))                                     # [n, B, C*sp]
            if close:
                a_gathered.append(alive[sb.step].index_select(1, src))                    # [B, n]
            continue
        index = runtime.index(st.index, f"src{j}")
        c = None if units[j] and not close else ctx.block(index)
        total = _add_block(total, y, c, st.size, steps[sb.step].size, B, size, ctx.mode)
        if close:
            m = _mass(ctx.block(index) if c is None else c, alive[sb.step], ctx.mode)
            mass = m if mass is None else mass + m
    if gathered:
        tgt, eid = runtime.index(st.index, "sp_t"), runtime.index(st.index, "sp_e")
        ys = gathered[0] if len(gathered) == 1 else torch.cat(gathered, 0)             # [n, B, F]
        c = ctx.block(eid)                                   # [n] | [n, Cmax] | [B, n]
        n, F = ys.shape[0], ys.shape[2]
        if ctx.mode == "channel":  # every source of a sum node has the node's input width
            cs = st.in_ch
            w = (ys.reshape(n, B, cs, F // cs) * c[:, None, :cs, None]).reshape(n, B, F)
        elif ctx.mode == "sample":
            w = ys * c.t().unsqueeze(-1)
        else:
            w = ys * c.view(-1, 1, 1)
        part = ys.new_zeros(st.size, B, F).index_add_(0, tgt, w).transpose(0, 1).reshape((B, -1) + size)
        total = part if total is None else total + part
        if close:
            cabs = c.abs().sum(-1) if ctx.mode == "channel" else c.abs()             # [n] | [B, n]
            a_src = a_gathered[0] if len(a_gathered) == 1 else torch.cat(a_gathered, 1)
            m = a_src.new_zeros(B, st.size).index_add_(1, tgt, cabs * a_src)
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


def _aggregate_gather(st, steps, outs, alive, fw: Forward, runtime):
    """concat / max: each node's k inputs gathered as ``[B, G, k, C, *sp]`` from the source steps."""
    close, ctx, B = fw.close, fw.coef, fw.batch
    ys = [outs[s] for s in st.gather_steps]
    size = smallest(ys)
    ys = [resize_to(y, size, runtime.resize) for y in ys]
    widths = {y.shape[1] // steps[s].size for y, s in zip(ys, st.gather_steps)}
    if len(widths) > 1:
        return _concat_ragged(st, steps, ys, alive, fw, runtime)
    cs = widths.pop()
    nsp = len(size)
    bank = torch.cat([y.reshape((B, -1, cs) + size) for y in ys], 1)        # [B, J, C, *sp]
    xs = bank[:, runtime.index(st.index, "gidx")]                           # [B, G, k, C, *sp]
    coef = ctx.block(runtime.index(st.index, "gedge"))                      # [G,k] | [G,k,Cmax] | [B,G,k]
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
        inp = masked_max(weighted, o, 2).reshape((B, G * cs) + size)
    a = None
    if close:
        a_src = torch.cat([alive[s] for s in st.gather_steps], -1)[:, runtime.index(st.index, "gidx")]  # [B, G, k]
        cabs = coef.abs().sum(-1) if ctx.mode == "channel" else coef.abs()
        a = ((cabs * a_src).sum(-1) > 0).to(inp.dtype)
    return inp, a


def _concat_ragged(st, steps, ys, alive, fw: Forward, runtime):
    """A concat node whose inputs differ in width (always a step of its own, see the plan)."""
    close, ctx = fw.close, fw.coef
    slots = [(s, j) for s in st.gather_steps for j in range(steps[s].size)]
    index, edges = st.gather_index[0].tolist(), st.gather_edges[0].tolist()
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
