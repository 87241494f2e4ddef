"""The planner: a validated graph becomes a :class:`~graphwire.plan.Plan`.

One entry point, :func:`build_plan`. It validates the graph once (:func:`graphwire.graph.checked_edges`,
which gives its :class:`~graphwire.edgeset.EdgeSet`), then plans *interval* graphs -- every node reads
one contiguous range of integer labels: ``generators.layered`` graphs and DNW's chains of channel
graphs, millions of edges, compact candidate blocks included -- with array arithmetic, and every
other graph with the general planner. Both give the same plan, edge order and therefore state
dict, and both raise the same errors (node ops and widths are checked by the same helpers).
"""

from __future__ import annotations

from typing import Any, Sequence

import networkx as nx
import numpy as np

from .._gc import paused
from ..contract import node_attr, sort_key
from ..edgeset import EdgeSet, edge_set
from ..edgeset.base import Ranges
from ..errors import ParameterError, ShapeError
from ..graph import checked_edges, generations
from ..ops.registry import get_op
from ..plan import SPARSE_DENSITY, NodePlan, Plan, SourceBlock, group_steps, make_block, module_key

__all__ = ["build_plan", "PLANNERS", "check_sparse_density"]

PLANNERS = ("auto", "general", "interval")


def _check_args(in_channels, channels, dims) -> None:
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ParameterError(f"in_channels must be a positive integer, got {in_channels!r}")
    if channels is not None and (isinstance(channels, bool) or not isinstance(channels, int) or channels < 1):
        raise ParameterError(f"channels must be a positive integer or None, got {channels!r}")
    if dims not in (0, 1, 2):
        raise ParameterError(f"dims must be 0 (vectors), 1 or 2, got {dims!r}")


def build_plan(G: nx.DiGraph, *, in_channels: int, channels: int | None = None, default_op: str = "conv",
               output_op: str | None = "identity", dims: int = 2, planner: str = "auto",
               sparse_density: float = SPARSE_DENSITY) -> tuple[Plan, Sequence[dict]]:
    """Validate ``G`` and plan it; returns ``(plan, edge_data)``, the attribute dicts of
    ``plan.edges``. ``planner``: ``"auto"`` (interval when it applies, else general), or one of
    them explicitly (``"interval"`` raises when the graph is not an interval graph).
    ``sparse_density``: source blocks of ``sum`` steps with fewer than this fraction of their
    ``G x J`` entries as edges are kept as edge lists and aggregated by gather/scatter (0: always
    dense; 1: sparse unless full)."""
    if planner not in PLANNERS:
        raise ParameterError(f"planner must be one of {list(PLANNERS)}, got {planner!r}")
    _check_args(in_channels, channels, dims)
    check_sparse_density(sparse_density)
    es = checked_edges(G, any_labels=True)
    args: dict[str, Any] = dict(in_channels=in_channels, channels=channels, default_op=default_op,
                                output_op=output_op, dims=dims, sparse_density=sparse_density)
    ranges = es.ranges() if planner != "general" else None
    if ranges is not None:
        with paused():
            built = _interval_plan(G, es, ranges, **args)
        if built is not None:
            return built
    if planner == "interval":
        raise ParameterError("planner='interval' needs integer labels 0..N-1 where every node reads one "
                             "contiguous range of labels below it (generators.layered graphs do)")
    full = es.networkx()  # a compact graph that is no interval graph: every candidate as an edge
    return _general_plan(full, es if full is G else edge_set(full), **args)


def check_sparse_density(value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ParameterError(f"sparse_density must be a number in [0, 1] (the block density below which "
                             f"aggregation is sparse), got {value!r}")


# ---------------------------------------------------------------- one node (both planners)
def _node_op(G: nx.DiGraph, n: Any, role: str, default_op: str, output_op: str | None, dims: int) -> str:
    op = G.nodes[n].get("op") or (output_op if role == "output" and output_op else default_op)
    spec = get_op(op, f" at node {n!r}")
    if spec.spatial is True and dims == 0:
        raise ShapeError(f"node {n!r}: op {op!r} needs spatial inputs but compile(dims=0) was given")
    if spec.spatial is False and dims != 0:
        raise ShapeError(f"node {n!r}: op {op!r} works on vectors [B, C]; compile with dims=0")
    return op


def _node_widths(G: nx.DiGraph, n: Any, role: str, op: str, agg: str, preds: Sequence, pch: Any,
                 in_channels: int, channels: int | None) -> tuple[int, int]:
    """``(in, out)`` channels of node ``n`` from its predecessors' widths ``pch``."""
    if role == "input":
        cin = in_channels
    elif agg == "concat":
        cin = int(np.sum(pch))
    else:
        widths = np.asarray(pch)
        if widths.min() != widths.max():
            detail = ", ".join(f"{p!r}: {int(c)}" for p, c in zip(preds, widths.tolist()))
            raise ShapeError(
                f"node {n!r} aggregates by {agg!r} but its inputs have different channel counts "
                f"({detail}); give them equal 'channels' or use agg='concat'")
        cin = int(widths[0])
    data = G.nodes[n]
    if op == "identity" and "channels" not in data:
        return cin, cin
    cout = data.get("channels", channels)
    if cout is None and op == "channel":
        return cin, 1  # a DNW channel node is one channel
    if cout is None:
        raise ParameterError(f"node {n!r} has no 'channels' attribute and compile(channels=...) was not given")
    return cin, cout


# ---------------------------------------------------------------- the general planner
def _general_plan(G: nx.DiGraph, es: EdgeSet, *, in_channels: int, channels: int | None, default_op: str,
                  output_op: str | None, dims: int, sparse_density: float = SPARSE_DENSITY) -> tuple[Plan, Sequence[dict]]:
    """Any valid DAG: per-node and per-edge Python, one pass each."""
    gens = generations(G)
    order = [n for g in gens for n in g]
    pos = {n: i for i, n in enumerate(order)}
    gen_of = {n: gi for gi, g in enumerate(gens) for n in g}
    edges = list(es)
    edge_id = {e: i for i, e in enumerate(edges)}
    E = len(edges)

    nodes: list[NodePlan] = []
    keys: dict[str, object] = {}
    for n in order:
        role = node_attr(G, n, "role")
        op = _node_op(G, n, role, default_op, output_op, dims)
        preds = sorted(G.predecessors(n), key=lambda p: pos[p])
        agg = node_attr(G, n, "agg")
        cin, cout = _node_widths(G, n, role, op, agg, preds, [nodes[pos[p]].out_ch for p in preds],
                                 in_channels, channels)
        key = module_key(n)
        if key in keys:
            raise ParameterError(f"nodes {keys[key]!r} and {n!r} map to the same module name {key!r}")
        keys[key] = n
        nodes.append(NodePlan(label=n, key=key, pos=pos[n], op=op, role=role, agg=agg,
                              stride=node_attr(G, n, "stride"), in_ch=cin, out_ch=cout, gen=gen_of[n],
                              preds=[pos[p] for p in preds], in_edges=[edge_id[(p, n)] for p in preds],
                              stage=G.nodes[n].get("stage", 0)))

    steps = group_steps(nodes, ([pos[n] for n in gen] for gen in gens))

    node_step = np.fromiter((nd.step for nd in nodes), np.int64, len(nodes))
    node_slot = np.fromiter((nd.slot for nd in nodes), np.int64, len(nodes))
    u_pos = np.fromiter((pos[u] for u, _ in edges), np.int64, E)
    v_pos = np.fromiter((pos[v] for _, v in edges), np.int64, E)
    sum_blocks = _edge_blocks(node_step[u_pos], node_slot[u_pos], node_step[v_pos], node_slot[v_pos])
    for st in steps:
        if st.is_input:
            continue
        if st.agg == "sum":
            for s, (tgt, src, eid) in sum_blocks.get(st.index, []):
                st.sources.append(make_block(s, st.size, steps[s].size, tgt, src, eid, E, sparse_density))
        else:
            src_steps = sorted({nodes[p].step for q in st.nodes for p in nodes[q].preds})
            offset, base = 0, {}
            for s in src_steps:
                base[s] = offset
                offset += steps[s].size
            k = max(len(nodes[q].preds) for q in st.nodes)
            gidx = np.zeros((st.size, k), np.int64)
            gedge = np.full((st.size, k), E, np.int64)
            for g, q in enumerate(st.nodes):
                for j, (p, e) in enumerate(zip(nodes[q].preds, nodes[q].in_edges)):
                    gidx[g, j] = base[nodes[p].step] + nodes[p].slot
                    gedge[g, j] = e
            st.gather_steps, st.gather_index, st.gather_edges, st.k = src_steps, gidx, gedge, k

    outs = [pos[n] for n in sorted((n for n in order if nodes[pos[n]].role == "output"), key=sort_key)]
    by_label = {nd.label: nd for nd in nodes}
    plan = Plan(nodes=nodes, edges=es, steps=steps, outputs=outs, in_channels=in_channels, dims=dims,
                by_label=by_label, planner="general")
    return plan, es.data()


def _edge_blocks(s_step: np.ndarray, s_slot: np.ndarray, t_step: np.ndarray, t_slot: np.ndarray) -> dict:
    """Every edge (by id) grouped by (target step, source step), with array arithmetic:
    ``{target step: [(source step, (target slots, source slots, edge ids)), ...]}``, source steps
    ascending."""
    eid = np.lexsort((s_step, t_step))
    ts, ss = t_step[eid], s_step[eid]
    cuts = np.flatnonzero((np.diff(ts) != 0) | (np.diff(ss) != 0)) + 1
    starts = np.concatenate([[0], cuts]).tolist() if len(eid) else []
    stops = np.concatenate([cuts, [len(eid)]]).tolist() if len(eid) else []
    out: dict[int, list] = {}
    for a, b in zip(starts, stops):
        ids = eid[a:b]
        out.setdefault(int(ts[a]), []).append((int(ss[a]), (t_slot[ids], s_slot[ids], ids)))
    return out


# ---------------------------------------------------------------- the interval planner
def _interval_plan(G: nx.DiGraph, es: EdgeSet, ranges: Ranges, *, in_channels: int, channels: int | None,
                   default_op: str, output_op: str | None, dims: int,
                   sparse_density: float = SPARSE_DENSITY) -> tuple[Plan, Sequence[dict]] | None:
    """The plan :func:`_general_plan` would make, from per-node label ranges with array arithmetic;
    None when generations decrease along the labels (positions would differ from labels: the
    general planner then numbers the nodes)."""
    lo, hi, slo, outdeg = ranges
    N = len(lo)
    indeg = hi - lo
    out_start = np.zeros(N + 1, np.int64)
    np.cumsum(outdeg, out=out_start[1:])
    E = int(out_start[-1])
    gen = np.zeros(N, np.int64)
    for v in range(N):
        if indeg[v]:
            gen[v] = int(gen[lo[v]:hi[v]].max()) + 1
    if N > 1 and (np.diff(gen) < 0).any():
        return None
    compact = es.interval_planner == "compact"

    # ---- node plans
    nodes = []
    outch = np.zeros(N, np.int64)
    for v in range(N):
        role = node_attr(G, v, "role")
        op = _node_op(G, v, role, default_op, output_op, dims)
        agg = node_attr(G, v, "agg")
        a, b = int(lo[v]), int(hi[v])
        cin, cout = _node_widths(G, v, role, op, agg, range(a, b), outch[a:b], in_channels, channels)
        outch[v] = cout
        ids = out_start[a:b] + (v - slo[a:b])
        nodes.append(NodePlan(label=v, key=module_key(v), pos=v, op=op, role=role, agg=agg,
                              stride=node_attr(G, v, "stride"), in_ch=cin, out_ch=cout, gen=int(gen[v]),
                              preds=range(a, b) if compact else list(range(a, b)),
                              in_edges=ids if compact else ids.tolist(), stage=G.nodes[v].get("stage", 0)))

    # ---- steps: each generation grouped by signature, as build_plan does
    bounds = np.flatnonzero(np.diff(gen)) + 1
    starts = [0] + bounds.tolist()
    ends = bounds.tolist() + [N]
    steps = group_steps(nodes, (range(s0, s1) for s0, s1 in zip(starts, ends)))

    node_step = np.array([nd.step for nd in nodes], np.int64)
    node_slot = np.array([nd.slot for nd in nodes], np.int64)
    t_start = out_start[:-1]
    for st in steps:
        if st.is_input:
            continue
        hit = np.zeros(N, bool)
        for v in st.nodes:
            hit[lo[v]:hi[v]] = True
        src_steps = sorted(set(node_step[hit].tolist()))
        vs = np.asarray(st.nodes, np.int64)
        if st.agg == "sum":
            for s in src_steps:
                us = np.asarray(steps[s].nodes, np.int64)
                inside = (us[None, :] >= lo[vs][:, None]) & (us[None, :] < hi[vs][:, None])
                eid = t_start[us][None, :] + (vs[:, None] - slo[us][None, :])
                G_, J_ = inside.shape
                if (G_ == 1 and J_ == 1) or int(inside.sum()) >= sparse_density * G_ * J_:  # dense: as is
                    idx = np.where(inside, eid, E)
                    single = int(idx[0, 0]) if G_ == 1 and J_ == 1 else None
                    st.sources.append(SourceBlock(step=s, edge_index=idx, single=single))
                else:  # nonzero is row-major: already sorted by (target, source) slot
                    gi, ji = np.nonzero(inside)
                    st.sources.append(SourceBlock(step=s, edge_index=None, single=None, tgt=gi.astype(np.int64),
                                                  src=ji.astype(np.int64), eid=eid[gi, ji].astype(np.int64)))
        else:
            base, off = {}, 0
            for s in src_steps:
                base[s] = off
                off += steps[s].size
            k = int(max(indeg[v] for v in st.nodes))
            gidx = np.zeros((st.size, k), np.int64)
            gedge = np.full((st.size, k), E, np.int64)
            for g, v in enumerate(st.nodes):
                a, b = int(lo[v]), int(hi[v])
                us = np.arange(a, b)
                pos = np.array([base[s] for s in node_step[a:b].tolist()], np.int64) + node_slot[a:b]
                gidx[g, : b - a] = pos
                gedge[g, : b - a] = out_start[us] + (v - slo[us])
            st.gather_steps, st.gather_index, st.gather_edges, st.k = src_steps, gidx, gedge, k

    outs = [v for v in range(N) if nodes[v].role == "output"]
    plan = Plan(nodes=nodes, edges=es, steps=steps, outputs=outs, in_channels=in_channels, dims=dims,
                by_label={nd.label: nd for nd in nodes}, planner=es.interval_planner)
    return plan, es.data()
