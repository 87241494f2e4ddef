"""The planner: a validated graph becomes a :class:`~graphwire.compiler.plan.Plan`.

One entry point, :func:`build_plan`. It first tries the *interval* planner, which plans with
array arithmetic the graphs whose every node reads one contiguous range of integer labels
(``generators.layered`` graphs and DNW's chains of channel graphs: millions of edges in seconds),
and falls back to the general planner for every other graph. Both give the same plan, edge order
and therefore state dict; the interval planner declines (returns None) any graph it is not sure
of, so every error message is the general planner's. A compact graph (candidate blocks, see
:mod:`graphwire.candidates`) is planned from its blocks by the same arithmetic (``planner ==
"compact"``, no tuple or dict per edge), or materialised first when it is not an interval graph.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from .._gc import paused
from ..errors import ParameterError, ShapeError
from ..graph import EDGE_CHECKS, NODE_CHECKS, SCHEMA_VERSION, generations, node_attr, sort_key, validate
from ..candidates import CandidateEdges, is_compact, materialize_candidates
from ..ops.registry import get_op
from .plan import SPARSE_DENSITY, NodePlan, Plan, SourceBlock, group_steps, make_block, module_key

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
               sparse_density: float = SPARSE_DENSITY) -> tuple[Plan, list[dict]]:
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
    if is_compact(G):  # candidate blocks: planned from the blocks, or (not an interval graph) materialised
        validate(G, any_labels=True)
        if planner != "general":
            with paused():
                built = _compact_plan(G, in_channels=in_channels, channels=channels, default_op=default_op,
                                      output_op=output_op, dims=dims, sparse_density=sparse_density)
            if built is not None:
                return built
        G = materialize_candidates(G)  # same edges, same (source, target) order
    if planner != "general":
        with paused():
            built = _interval_plan(G, in_channels=in_channels, channels=channels, default_op=default_op,
                                   output_op=output_op, dims=dims, sparse_density=sparse_density)
        if built is not None:
            return built
        if planner == "interval":
            raise ParameterError("planner='interval' needs integer labels 0..N-1 where every node reads one "
                                 "contiguous range of labels below it (generators.layered graphs do)")
    return _general_plan(G, in_channels=in_channels, channels=channels, default_op=default_op,
                         output_op=output_op, dims=dims, sparse_density=sparse_density)


def check_sparse_density(value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ParameterError(f"sparse_density must be a number in [0, 1] (the block density below which "
                             f"aggregation is sparse), got {value!r}")


def _channels(G, n, default, op):
    ch = G.nodes[n].get("channels", default)
    if ch is None and op == "channel":
        return 1  # a DNW channel node is one channel
    if ch is None:
        raise ParameterError(f"node {n!r} has no 'channels' attribute and compile(channels=...) was not given")
    return ch


def _general_plan(G: nx.DiGraph, *, in_channels: int, channels: int | None, default_op: str,
                  output_op: str | None, dims: int, sparse_density: float = SPARSE_DENSITY) -> tuple[Plan, list[dict]]:
    """Any valid DAG: per-node and per-edge Python, one pass each."""
    validate(G, any_labels=True)
    gens = generations(G)
    order = [n for g in gens for n in g]
    pos = {n: i for i, n in enumerate(order)}
    gen_of = {n: gi for gi, g in enumerate(gens) for n in g}
    edges = [(u, v) for u, v in G.edges]
    edge_id = {e: i for i, e in enumerate(edges)}
    E = len(edges)

    nodes: list[NodePlan] = []
    keys: dict[str, object] = {}
    for n in order:
        role = node_attr(G, n, "role")
        op = G.nodes[n].get("op") or (output_op if role == "output" and output_op else default_op)
        spec = get_op(op, f" at node {n!r}")
        if spec.spatial is True and dims == 0:
            raise ShapeError(f"node {n!r}: op {op!r} needs spatial inputs but compile(dims=0) was given")
        if spec.spatial is False and dims != 0:
            raise ShapeError(f"node {n!r}: op {op!r} works on vectors [B, C]; compile with dims=0")
        preds = sorted(G.predecessors(n), key=lambda p: pos[p])
        agg = node_attr(G, n, "agg")
        if role == "input":
            cin = in_channels
        else:
            pch = [nodes[pos[p]].out_ch for p in preds]
            if agg == "concat":
                cin = sum(pch)
            else:
                if len(set(pch)) > 1:
                    detail = ", ".join(f"{p!r}: {c}" for p, c in zip(preds, pch))
                    raise ShapeError(
                        f"node {n!r} aggregates by {agg!r} but its inputs have different channel counts "
                        f"({detail}); give them equal 'channels' or use agg='concat'")
                cin = pch[0]
        cout = cin if op == "identity" and "channels" not in G.nodes[n] else _channels(G, n, channels, op)
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
    plan = Plan(nodes=nodes, edges=edges, steps=steps, outputs=outs, in_channels=in_channels, dims=dims,
                by_label=by_label, planner="general")
    return plan, [G.edges[e] for e in edges]


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


def _interval_plan(G, *, in_channels, channels, default_op, output_op, dims, sparse_density=SPARSE_DENSITY):
    """The plan :func:`_general_plan` would make, with array arithmetic, or None when ``G`` is not
    an (acceptable) interval graph; returns ``(plan, edge_data)``."""
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
    if is_compact(G):
        return None  # its networkx edges are not all its edges: _compact_plan
    N = G.number_of_nodes()
    succ = G._succ  # read-only: the adjacency dicts networkx keeps
    if list(succ) != list(range(N)) or any(type(n) is not int for n in succ):
        return None
    ranges = _nx_ranges(G, N)
    if ranges is None:
        return None
    return _plan_ranges(G, N, *ranges, in_channels=in_channels, channels=channels, default_op=default_op,
                        output_op=output_op, dims=dims, sparse_density=sparse_density, cand=None)


def _compact_plan(G, *, in_channels, channels, default_op, output_op, dims, sparse_density=SPARSE_DENSITY):
    """The interval plan of a compact graph (already validated), its edges and edge attributes
    array-backed (:class:`~graphwire.candidates.EdgeList`, :class:`~graphwire.candidates.EdgeData`)
    in ``(source, target)`` order; None when it is not an interval graph."""
    N = G.number_of_nodes()
    if list(G._succ) != list(range(N)):
        return None  # nodes not added in label order
    cand = CandidateEdges(G)
    ranges = _compact_ranges(cand, N)
    if ranges is None:
        return None
    return _plan_ranges(G, N, *ranges, in_channels=in_channels, channels=channels, default_op=default_op,
                        output_op=output_op, dims=dims, sparse_density=sparse_density, cand=cand)


def _nx_ranges(G, N):
    """``(lo, hi, slo, outdeg)`` per node from the adjacency dicts: node v reads labels
    ``lo[v]..hi[v]-1`` and feeds ``slo[v]..slo[v]+outdeg[v]-1``; None when a range is not
    contiguous, not ordered, or an edge attribute is invalid."""
    succ, pred = G._succ, G._pred
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
    return lo, hi, slo, outdeg


def _compact_ranges(cand, N):
    """``(lo, hi, slo, outdeg)`` (see :func:`_nx_ranges`) of a compact graph's edges, from its
    segments (:class:`~graphwire.candidates.CandidateEdges`); None when a range is not contiguous."""
    su, sl, sh = cand.seg_u, cand.seg_lo, cand.seg_hi
    outdeg = np.bincount(su, weights=cand.seg_len, minlength=N).astype(np.int64)
    slo = np.zeros(N, np.int64)
    first = np.ones(len(su), bool)
    first[1:] = su[1:] != su[:-1]
    slo[su[first]] = sl[first]
    last = np.ones(len(su), bool)
    last[:-1] = su[1:] != su[:-1]
    span = np.zeros(N, np.int64)
    span[su[last]] = sh[last]
    span[su[first]] -= sl[first]
    if (span != outdeg).any():
        return None  # some node's successors are not one contiguous range
    cnt = np.zeros(N + 1, np.int64)
    np.add.at(cnt, sl, 1)
    np.add.at(cnt, sh, -1)
    indeg = np.cumsum(cnt)[:N]
    lo = np.full(N, N, np.int64)
    hi = np.zeros(N, np.int64)
    for u, a, b in zip(su.tolist(), sl.tolist(), sh.tolist()):  # one numpy call per segment
        np.minimum(lo[a:b], u, out=lo[a:b])
        np.maximum(hi[a:b], u + 1, out=hi[a:b])
    lo[indeg == 0] = 0
    if ((hi - lo) != indeg).any():
        return None  # some node's predecessors are not one contiguous range
    return lo, hi, slo, outdeg


def _plan_ranges(G, N, lo, hi, slo, outdeg, *, in_channels, channels, default_op, output_op, dims,
                 sparse_density, cand):
    """The interval plan from per-node ranges; ``cand``: the compact graph's candidate edges (None
    for a graph whose edges are networkx edges)."""
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
        except Exception:
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
            if cout is None and op == "channel":
                cout = 1
            if cout is None:
                return None
        outch[v] = cout
        ids = out_start[a:b] + (v - slo[a:b])
        nodes.append(NodePlan(label=v, key=module_key(v), pos=v, op=op, role=role, agg=agg,
                              stride=node_attr(G, v, "stride"), in_ch=cin, out_ch=cout, gen=int(gen[v]),
                              preds=range(a, b) if cand is not None else list(range(a, b)),
                              in_edges=ids if cand is not None else ids.tolist(), stage=data.get("stage", 0)))

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

    outs = [v for v in range(N) if is_out[v]]
    if cand is not None:  # the compact graph's edges: arrays, no tuple or dict per edge
        from ..candidates import EdgeData, EdgeList

        plan = Plan(nodes=nodes, edges=EdgeList(cand), steps=steps, outputs=outs, in_channels=in_channels,
                    dims=dims, by_label={nd.label: nd for nd in nodes}, planner="compact")
        return plan, EdgeData(cand)
    # ---- edges in G.edges order (u-major; successor ranges ascending) and their attribute dicts
    succ = G._succ
    edges, edge_data = [], []
    for u in range(N):
        if outdeg[u]:
            S = succ[u]
            edges.extend(zip([u] * len(S), S))
            edge_data.extend(S.values())
    plan = Plan(nodes=nodes, edges=edges, steps=steps, outputs=outs, in_channels=in_channels,
                dims=dims, by_label={nd.label: nd for nd in nodes}, planner="interval")
    return plan, edge_data
