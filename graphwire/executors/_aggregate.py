"""How the batched executor forms a step's input from earlier steps' outputs (aggregation).

Three ways, one per kind of step and cost (the executor picks per step, see
:mod:`graphwire.executors.batched`):

- ``blocks`` (:func:`sum_blocks`): a ``sum`` step's input as one product per source step of its
  ``[G, J]`` coefficient block and the source step's stacked output (a GEMM), or, for a sparse block,
  a gather and one ``index_add_`` -- few kernels whatever the edge count: for many small nodes;
- ``edges`` (:func:`sum_edges`): edge by edge, each target's weighted sum of its sources' outputs,
  reading node views in place (no transposed or stacked copies) and, for training, one autograd
  function per step whose backward writes each source's gradient once and each coefficient's as a
  dot product: for few, large nodes, where a block GEMM reads every source for every target;
- ``gather`` (:func:`gather`): ``concat`` and ``max`` steps.

A step's output is an :class:`Out`: its G nodes stacked on the channel axis, or a list of G node
tensors (a step run node by node); either gives node views and, on demand, the stacked tensor.
"""

from __future__ import annotations

import torch

from ._common import Buffers, Forward, masked_max, resize_to, smallest, traced

__all__ = ["Out", "EdgeSpec", "sum_blocks", "sum_edges", "sum_gather", "gather", "edge_spec"]

_LARGE_BLOCK = 1024  # G x J above which a batch-shared block is aggregated by matmul, not bmm
CHANNELS_LAST = torch.channels_last


class Out:
    """One step's output: ``stacked`` ``[B, G*C, ...]`` and/or ``nodes`` (G tensors ``[B, C, ...]``)."""

    __slots__ = ("stacked", "nodes", "size", "_resized")

    def __init__(self, y: torch.Tensor | list[torch.Tensor], size: int):
        if isinstance(y, torch.Tensor):
            self.stacked, self.nodes = y, None
        else:
            self.stacked, self.nodes = (y[0] if size == 1 else None), y
        self.size = size
        self._resized: dict = {}

    @property
    def shape(self) -> torch.Size:
        return self.stacked.shape if self.stacked is not None else self.nodes[0].shape  # type: ignore[index]

    def whole(self) -> torch.Tensor:
        """The G nodes stacked on the channel axis (concatenated once, on first use)."""
        if self.stacked is None:
            self.stacked = torch.cat(self.nodes, 1)  # type: ignore[arg-type]
        return self.stacked

    def node(self, g: int) -> torch.Tensor:
        if self.nodes is not None:
            return self.nodes[g]
        y = self.stacked
        assert y is not None
        if self.size == 1:
            return y
        w = y.shape[1] // self.size
        return y.narrow(1, g * w, w)

    def split(self) -> list[torch.Tensor]:
        """The G node tensors: views of the stacked output (one autograd node for all of them),
        or, for a channels-last stack of several nodes (whose views would be strided in their
        inner dimension), channels-last copies, made once."""
        if self.nodes is None:
            y = self.stacked
            assert y is not None
            if self.size == 1:
                self.nodes = [y]
            else:
                parts = y.split(y.shape[1] // self.size, 1)
                if y.dim() == 4 and not y.is_contiguous() and y.is_contiguous(memory_format=CHANNELS_LAST):
                    parts = tuple(t.contiguous(memory_format=CHANNELS_LAST) for t in parts)
                self.nodes = list(parts)
        return self.nodes

    def resized(self, size: tuple, mode: str) -> "Out":
        """This output at spatial ``size`` (itself when it has it)."""
        if tuple(self.shape[2:]) == size:
            return self
        r = self._resized.get(size)
        if r is None:
            if self.nodes is not None:
                r = Out([resize_to(y, size, mode) for y in self.nodes], self.size)
            else:
                r = Out(resize_to(self.whole(), size, mode), self.size)
            self._resized[size] = r
        return r


def _mass(c: torch.Tensor, a_src: torch.Tensor, mode: str) -> torch.Tensor:
    """Open-edge mass from alive sources into each target node: ``[1|B, G]``."""
    c = c.abs()
    if mode == "channel":
        c = c.sum(-1)                                   # [G, J]
    return torch.matmul(c, a_src.unsqueeze(-1)).squeeze(-1)  # [G,J]@[B,J,1] or [B,G,J]@[B,J,1]


def sum_blocks(st, steps, outs, alive, fw: Forward, runtime: Buffers, node_major: dict):
    """sum: the step's input is the sum over its source steps of ``C_block @ Y_source``; a sparse
    block (an edge list, see :class:`~graphwire.plan.SourceBlock`) is gathered source by
    source and all of a step's sparse blocks are scattered into it with one ``index_add_``.

    Sparse blocks work node-major (``[J, B, F]``, the source step's output transposed once per
    forward): gathering and scattering whole contiguous rows along dim 0 measured several times
    faster than along dim 1 of ``[B, J, F]`` (benchmarks/sparse_threshold.py)."""
    size = smallest([outs[sb.step].whole() for sb in st.sources])
    close, ctx, B = fw.close, fw.coef, fw.batch
    units = runtime.unit_blocks[st.index]
    total, mass = None, None
    gathered, a_gathered = [], []
    for j, sb in enumerate(st.sources):
        y = resize_to(outs[sb.step].whole(), size, runtime.resize)
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


def gather(st, steps, outs, alive, fw: Forward, runtime: Buffers):
    """concat / max: each node's k inputs gathered as ``[B, G, k, C, *sp]`` from the source steps."""
    close, ctx, B = fw.close, fw.coef, fw.batch
    ys = [outs[s].whole() for s in st.gather_steps]
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


def _concat_ragged(st, steps, ys, alive, fw: Forward, runtime: Buffers):
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


# ---------------------------------------------------------------- edge by edge
class EdgeSpec:
    """A ``sum`` step's edges for :func:`sum_edges` and :func:`sum_gather`. By target slot:
    ``by_target[g]`` lists ``(k, j, s)`` -- position ``k`` in the step's edge order, source block
    ``j``, source slot ``s``; ``eid`` and ``tgt`` (tensors on the network's device): edge ids and
    target slots by ``k``; ``gidx``/``gedge`` ``[G, K]``: each target's sources as slots of its
    source steps' outputs side by side, and their edge ids (``E``, a zero coefficient, pads)."""

    __slots__ = ("by_target", "eid", "tgt", "unit", "n", "gidx", "gedge", "slots", "rows", "slot")

    def __init__(self, by_target: list, eid: torch.Tensor, tgt: torch.Tensor, unit: bool, gidx: torch.Tensor,
                 gedge: torch.Tensor, slot: torch.Tensor):
        self.by_target, self.eid, self.tgt, self.unit = by_target, eid, tgt, unit
        self.gidx, self.gedge, self.slot = gidx, gedge, slot
        self.n = len(eid)
        # the distinct source nodes ``(j, s)`` in first use, and each target's edges as ``(k, i)`` with
        # ``i`` an index into them: what sum_edges reads, worked out once instead of per call
        index: dict[tuple[int, int], int] = {}
        self.rows = [[(k, index.setdefault((j, s), len(index))) for k, j, s in edges] for edges in by_target]
        self.slots = list(index)


def edge_spec(st, E: int, device: torch.device, unit_edges, sizes: list[int]) -> EdgeSpec:
    """The :class:`EdgeSpec` of ``sum`` step ``st`` (``E``: the plan's edge count; ``sizes``: every
    step's node count)."""
    tgt, blk, src, eid = st.edge_list(E)
    by_target: list[list[tuple[int, int, int]]] = [[] for _ in range(st.size)]
    for k, (g, j, s) in enumerate(zip(tgt.tolist(), blk.tolist(), src.tolist())):
        by_target[g].append((k, j, s))
    ids = eid.tolist()
    unit = bool(ids) and all(e in unit_edges for e in ids) and all(len(es) == 1 for es in by_target)
    offsets, off = [], 0
    for sb in st.sources:
        offsets.append(off)
        off += sizes[sb.step]
    K = max((len(es) for es in by_target), default=0)
    gidx = [[offsets[j] + s for _, j, s in es] + [0] * (K - len(es)) for es in by_target]
    gedge = [[ids[k] for k, _, _ in es] + [E] * (K - len(es)) for es in by_target]
    slot = [offsets[j] + s for j, s in zip(blk.tolist(), src.tolist())]  # edge k's source among the bank's
    return EdgeSpec(by_target, torch.as_tensor(eid, device=device), torch.as_tensor(tgt, device=device), unit,
                    torch.tensor(gidx, dtype=torch.long, device=device),
                    torch.tensor(gedge, dtype=torch.long, device=device),
                    torch.tensor(slot, dtype=torch.long, device=device))


def _weights(c: torch.Tensor, mode: str, nsp: int) -> list[torch.Tensor]:
    """Edge coefficients ``[n]``, ``[n, C]`` or ``[B, n]`` as n tensors that broadcast against a
    node's ``[B, C, *sp]``."""
    if mode == "edge":
        return list(c.unbind(0))
    if mode == "channel":
        return [w.reshape((1, -1) + (1,) * nsp) for w in c.unbind(0)]
    return [w.reshape((-1, 1) + (1,) * nsp) for w in c.unbind(1)]


def _rows(a: torch.Tensor) -> torch.Tensor | None:
    """``a`` as ``[B, rest]`` without a copy, or None."""
    expect = 1
    for size, stride in zip(reversed(a.shape[1:]), reversed(a.stride()[1:])):
        if size != 1 and stride != expect:
            return None
        expect *= size
    return a.view(a.shape[0], -1)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(a * b).sum()`` without the temporary when the layouts allow it."""
    if a.dim() == 4 and a.is_contiguous(memory_format=CHANNELS_LAST) and b.is_contiguous(memory_format=CHANNELS_LAST):
        return torch.dot(a.permute(0, 2, 3, 1).reshape(-1), b.permute(0, 2, 3, 1).reshape(-1))
    ra, rb = _rows(a), _rows(b)
    if ra is not None and rb is not None:
        if ra.is_contiguous() and rb.is_contiguous():
            return torch.dot(ra.view(-1), rb.view(-1))
        return torch.bmm(ra.unsqueeze(1), rb.unsqueeze(2)).sum()
    return (a * b).sum()


def _reduce(g: torch.Tensor, y: torch.Tensor, mode: str) -> torch.Tensor:
    """The gradient of one edge's coefficient: ``g * y`` summed to the coefficient's shape."""
    if mode == "edge":
        return _dot(g, y)
    if mode == "channel":
        return (g * y).sum([d for d in range(g.dim()) if d != 1])
    return (g * y).flatten(1).sum(1)


def _sums(by_target, ws, parts, as_list: bool, inplace: bool):
    """Each target's weighted sum of its sources (``ws[k]`` None: a plain add): G tensors, or
    (not ``as_list``) stacked on the channel axis."""
    outs: list[torch.Tensor] = []
    for edges in by_target:
        acc = None
        for k, i in edges:
            y, w = parts[i], ws[k]
            if acc is None:
                acc = y if w is None else y * w
                if inplace and w is None:
                    acc = acc.clone()
            elif not inplace:
                acc = acc + y if w is None else torch.addcmul(acc, y, w)
            elif w is None:
                acc.add_(y)
            else:
                acc.addcmul_(y, w)
        assert acc is not None
        outs.append(acc)
    if as_list:
        return outs
    return outs[0] if len(outs) == 1 else torch.cat(outs, 1)


class _EdgeSums(torch.autograd.Function):
    """Training-time edge sums: the backward writes each source node's gradient once (its edges'
    contributions accumulated in place) and each coefficient's gradient as a dot product."""

    @staticmethod
    def forward(ctx, meta, coef, *parts):  # type: ignore[override]
        by_target, width, as_list, mode, nsp = meta
        out = _sums(by_target, _weights(coef, mode, nsp), parts, as_list, inplace=True)
        ctx.meta = meta
        ctx.save_for_backward(coef, *parts)
        return tuple(out) if as_list else out

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        by_target, width, as_list, mode, nsp = ctx.meta
        coef, *parts = ctx.saved_tensors
        ws = _weights(coef, mode, nsp)
        need_c = ctx.needs_input_grad[1]
        need = ctx.needs_input_grad[2:]
        gparts: list[torch.Tensor | None] = [None] * len(parts)
        dots = []
        G = len(by_target)
        for g, edges in enumerate(by_target):
            gg = grads[g] if as_list else (grads[0] if G == 1 else grads[0].narrow(1, g * width, width))
            for k, i in edges:
                if need_c:
                    dots.append(_reduce(gg, parts[i], mode))
                if need[i]:
                    buf = gparts[i]
                    if buf is None:
                        gparts[i] = gg * ws[k]
                    else:
                        buf.addcmul_(gg, ws[k])
        gcoef = torch.stack(dots, 1 if mode == "sample" else 0) if need_c else None
        return (None, gcoef, *gparts)


def sum_edges(st, spec: EdgeSpec, outs, alive, fw: Forward, runtime: Buffers, as_list: bool):
    """sum, edge by edge (see the module doc): the step's input as a stacked tensor, or (``as_list``)
    as G node tensors; and, when edges can close, which targets are alive ``[B, G]``."""
    srcs = [outs[sb.step] for sb in st.sources]
    size = smallest([o.whole() if o.nodes is None else o.nodes[0] for o in srcs])
    nodes = [o.resized(size, runtime.resize).split() for o in srcs]
    parts = [nodes[j][s] for j, s in spec.slots]
    by_target = spec.rows
    ctx, close, B = fw.coef, fw.close, fw.batch
    nsp = len(size)
    width = st.in_ch
    if spec.unit and not close:  # each target is one source with the constant coefficient 1: no copy
        return _sums(by_target, [None] * spec.n, parts, as_list, inplace=False), None
    c = ctx.block(spec.eid)                                 # [n] | [n, Cmax] | [B, n]
    if ctx.mode == "channel":
        c = c[:, :width]
    meta = (by_target, width, as_list, ctx.mode, nsp)
    if torch.is_grad_enabled() and (c.requires_grad or any(p.requires_grad for p in parts)) and not traced():
        out = _EdgeSums.apply(meta, c, *parts)
        inp = list(out) if as_list else out
    else:
        inp = _sums(by_target, _weights(c, ctx.mode, nsp), parts, as_list, inplace=not torch.is_grad_enabled())
    a = None
    if close:
        cabs = c.abs().sum(-1) if ctx.mode == "channel" else c.abs()          # [n] | [B, n]
        if spec.n:
            a_bank = torch.cat([alive[sb.step] for sb in st.sources], 1)    # [B, J]
            a_src = a_bank[:, spec.slot]                                       # [B, n]
        else:
            a_src = c.new_zeros(B, 0)
        mass = a_src.new_zeros(B, st.size).index_add_(1, spec.tgt, cabs * a_src)
        a = (mass > 0).to(a_src.dtype)
    return inp, a


def sum_gather(st, spec: EdgeSpec, steps, outs, alive, fw: Forward, runtime: Buffers):
    """sum, by one gather and one batched weighted sum: the source steps' outputs side by side
    ``[B, J, F]``, each target's K sources gathered ``[B, G, K, F]`` and reduced against their
    coefficients ``[G, 1, K]`` by one batched matmul -- a few kernels whatever the edge count, for
    small nodes, touching only the step's edges."""
    srcs = [outs[sb.step] for sb in st.sources]
    size = smallest([o.whole() for o in srcs])
    B = fw.batch
    ys = [o.resized(size, runtime.resize).whole().reshape(B, steps[sb.step].size, -1)
          for o, sb in zip(srcs, st.sources)]
    bank = ys[0] if len(ys) == 1 else torch.cat(ys, 1)                     # [B, J, F]
    xs = bank[:, spec.gidx]                                                 # [B, G, K, F]
    ctx = fw.coef
    c = ctx.block(spec.gedge)                                               # [G,K] | [G,K,Cmax] | [B,G,K]
    G, K = spec.gidx.shape
    if ctx.mode == "channel":
        width = st.in_ch
        c = c[..., :width]
        xc = xs.reshape(B, G, K, width, -1)
        inp = torch.einsum("gkc,bgkcf->bgcf", c, xc)
    elif ctx.mode == "sample":
        inp = torch.matmul(c.unsqueeze(2), xs)                              # [B, G, 1, F]
    else:
        inp = torch.matmul(c.unsqueeze(1), xs)                              # [G,1,K] @ [B,G,K,F]
    inp = inp.reshape((B, -1) + tuple(size))
    a = None
    if fw.close:
        a_bank = torch.cat([alive[sb.step] for sb in st.sources], 1)       # [B, J]
        cabs = c.abs().sum(-1) if ctx.mode == "channel" else c.abs()
        a = ((cabs * a_bank[:, spec.gidx]).sum(-1) > 0).to(inp.dtype)      # [B, G]
    return inp, a
