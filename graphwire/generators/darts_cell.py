"""The DARTS search cell as a graph: candidate operations become nodes, their mixing weights edges.

graphwire puts operations on nodes and learns coefficients on edges, so a DARTS *connection*
``i -> j`` (a mixed op between two states) is expanded into one node per candidate op:

::

    state i ──> [sep_conv_3x3] ──┐
            ──> [max_pool_3x3] ──┼──> state j      (state j sums its inputs)
            ──> [skip_connect] ──┘
                     ...

Each edge from a candidate node into the state is an *op edge*: the ``darts`` wiring gives it the
coefficient ``softmax(alpha_ij)[op]``, so state ``j`` receives ``sum_ij sum_op softmax(alpha_ij)[op]
* op(x_i)``: exactly DARTS' mixed op, computed by the ordinary executors (the batched one runs the
candidates of one kind that read the same generation as one grouped kernel). ``none`` (the zero
op) gets no node: it only enters the softmax. Op edges carry, as plain JSON-able attributes:

* ``connection``: ``[cell_type, i, j]`` (``cell_type`` is ``"normal"`` or ``"reduce"``; the
  wiring shares one ``alpha`` per connection key, so stacked cells of one type share alphas as
  in DARTS),
* ``ops``: the connection's candidate list (with ``"none"``), ``candidate``: this edge's op.

With ``partial_channels=K`` (PC-DARTS) a connection reads only the first ``C/K`` channels of
state ``i`` (``slice_head`` node), mixes them at width ``C/K`` (an ``identity`` node summing the
op edges), and concatenates them after the other ``C - C/K`` channels (``slice_tail``); the
concat (a cyclic channel rotation by ``C/K``, which plays the part of PC-DARTS' channel shuffle)
feeds state ``j`` through a *connection edge* carrying ``connection`` only (the wiring puts the
PC-DARTS edge-normalisation weight there when asked).

``graphwire.derive`` turns a trained (written-back) cell into a plain graph with one chosen op
node per kept connection.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from ..errors import ParameterError, WiringError
from ..graph import meta
from ._common import check_bool, check_int, record

__all__ = ["DARTS_OPS", "Connection", "darts_cell", "darts_cells", "find_connections", "select_connections"]

#: DARTS' candidate operations (``cnn/genotypes.py``); the ops are registered by the compiler.
DARTS_OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
             "dil_conv_3x3", "dil_conv_5x5")


def _check_ops(ops) -> list[str]:
    if isinstance(ops, str) or not isinstance(ops, Sequence) or not ops:
        raise ParameterError(f"ops must be a non-empty list of op names, got {ops!r}")
    ops = list(ops)
    if not all(isinstance(o, str) and o for o in ops):
        raise ParameterError(f"ops must be a list of non-empty op names, got {ops!r}")
    if len(set(ops)) != len(ops):
        raise ParameterError(f"ops has duplicates: {ops!r}")
    if not [o for o in ops if o != "none"]:
        raise ParameterError("ops must contain at least one op besides 'none'")
    return ops


def darts_cell(n_nodes: int = 4, *, ops: Sequence[str] = DARTS_OPS, channels: int = 16,
               reduction: bool = False, partial_channels: int = 1, preprocess: bool = True) -> nx.DiGraph:
    """A DARTS search cell: two input states, ``n_nodes`` intermediate states, concat output.

    Intermediate state ``j`` sums one mixed op from every earlier state (2 + 3 + ... connections,
    14 for ``n_nodes=4``); the output node concatenates the intermediate states
    (``n_nodes * channels`` channels). Nodes are labelled ``0..N-1`` in a topological order:
    ``0`` and ``1`` are the input states (``relu_conv_bn_1x1`` preprocessing to ``channels``, or
    ``identity`` with ``preprocess=False``), every intermediate state is an ``identity`` node with
    ``agg="sum"``, the last node is the output (``agg="concat"``). See the module docstring for
    the encoding of the candidate ops and the attributes on their edges.

    ``reduction=True`` builds a reduction cell (candidates reading an input state use stride 2).
    ``partial_channels=K`` builds the PC-DARTS variant (``channels`` must be divisible by K).
    Compile with ``dims=2`` (or 1) and ``wiring="darts"``.

    >>> G = darts_cell(4)
    >>> sum(1 for *_, d in G.edges(data=True) if d.get("candidate")) // 7  # connections
    14
    >>> darts_cell(2, ops=["none", "skip_connect", "sep_conv_3x3"]).number_of_nodes()
    15
    """
    n_nodes = check_int("n_nodes", n_nodes, 1)
    ops = _check_ops(ops)
    channels = check_int("channels", channels, 1)
    reduction = check_bool("reduction", reduction)
    preprocess = check_bool("preprocess", preprocess)
    K = check_int("partial_channels", partial_channels, 1, channels)
    if channels % K:
        raise ParameterError(f"partial_channels={K} must divide channels={channels}")
    if K > 1 and reduction:
        raise ParameterError("partial_channels > 1 is supported for normal cells only (reduction=False)")
    cell_type = "reduce" if reduction else "normal"
    real = [o for o in ops if o != "none"]
    part = channels // K

    G = nx.DiGraph()
    counter = iter(range(10**9))

    def node(**attrs) -> int:
        n = next(counter)
        G.add_node(n, **attrs)
        return n

    in_op = "relu_conv_bn_1x1" if preprocess else "identity"
    states = [node(role="input", op=in_op, channels=channels) for _ in range(2)]
    for j in range(2, n_nodes + 2):
        pending: list[tuple[int, dict]] = []  # (source, target-side node, attrs) edges into state j, added after it exists
        for i in range(j):
            key = [cell_type, i, j]
            stride = 2 if reduction and i < 2 else 1
            src, width = states[i], channels
            if K > 1:
                head = node(op="slice_head", channels=part)
                tail = node(op="slice_tail", channels=channels - part)
                G.add_edge(src, head)
                G.add_edge(src, tail)
                src, width = head, part
            cands: list[tuple[int, dict]] = []
            for op in real:
                c = node(op=op, channels=width, **({"stride": stride} if stride != 1 else {}))
                G.add_edge(src, c)
                cands.append((c, {"connection": key, "ops": list(ops), "candidate": op}))
            if K > 1:
                mix = node(op="identity", channels=part, agg="sum")
                for c, attrs in cands:
                    G.add_edge(c, mix, **attrs)
                join = node(op="identity", channels=channels, agg="concat")
                G.add_edge(tail, join)
                G.add_edge(mix, join)
                pending.append((join, {"connection": key}))
            else:
                pending.extend(cands)
        sj = node(op="identity", channels=channels, agg="sum")
        for c, attrs in pending:
            G.add_edge(c, sj, **attrs)
        states.append(sj)
    out = node(role="output", op="identity", agg="concat")
    for s in states[2:]:
        G.add_edge(s, out)
    record(G, "darts_cell", {"n_nodes": n_nodes, "ops": list(ops), "channels": channels,
                             "reduction": reduction, "partial_channels": K, "preprocess": preprocess}, None)
    meta(G)["darts"] = {"states": states, "output": out, "cell_type": cell_type}
    return G


# ------------------------------------------------------------------ reading a cell back
@dataclass
class Connection:
    """One mixed op between two states of one cell (``key`` may be shared by stacked cells)."""

    key: tuple
    source: Hashable                     # the state the connection reads
    target: Hashable                     # the state it feeds
    ops: list[str]                       # candidate list, ``none`` included
    op_edges: dict[str, int] = field(default_factory=dict)   # candidate -> edge index
    conn_edge: int | None = None         # PC-DARTS: the edge into ``target`` (edge normalisation)
    inside: set = field(default_factory=set)   # nodes that exist only for this connection


def _key(value: Any, where: str) -> tuple:
    if not isinstance(value, (list, tuple)) or not value:
        raise WiringError(f"{where}: attribute 'connection' must be a non-empty list, got {value!r}")
    return tuple(value)


def find_connections(edges: Sequence[tuple], data: Sequence[dict]) -> list[Connection]:
    """The DARTS connections of a graph given as an edge list and the edges' attribute dicts.

    An op edge ``(c, v)`` (it has ``candidate``) comes from candidate node ``c``, whose only input
    is the connection's source (or, with partial channels, a ``slice_head`` of it). When ``v`` feeds
    a node that feeds a *connection edge* of the same key, the connection is a PC-DARTS one and its
    target is that edge's target; otherwise ``v`` is the target state.
    """
    preds: dict = {}
    succs: dict = {}
    for u, v in edges:
        preds.setdefault(v, []).append(u)
        succs.setdefault(u, []).append(v)
    conn_edges: dict = {}
    for i, ((u, v), d) in enumerate(zip(edges, data)):
        if "connection" in d and "candidate" not in d:
            conn_edges[(u, _key(d["connection"], f"edge ({u!r}, {v!r})"))] = i
    found: dict[tuple, Connection] = {}
    for i, ((c, v), d) in enumerate(zip(edges, data)):
        if "candidate" not in d:
            continue
        where = f"edge ({c!r}, {v!r})"
        key = _key(d.get("connection"), where)
        ops, cand = d.get("ops"), d["candidate"]
        if not isinstance(ops, (list, tuple)) or cand not in ops or cand == "none":
            raise WiringError(f"{where}: 'candidate' {cand!r} must be one of its 'ops' {ops!r} other than 'none'")
        p = preds.get(c, [])
        if len(p) != 1:
            raise WiringError(f"{where}: candidate node {c!r} must have exactly one input, has {len(p)}")
        inside = {c}
        target, source, conn_edge = v, p[0], None
        for w in succs.get(v, []):
            j = conn_edges.get((w, key))
            if j is not None:  # partial channels: c -> mix v -> join w -> target
                conn_edge, target = j, edges[j][1]
                head = p[0]
                hp = preds.get(head, [])
                if len(hp) != 1:
                    raise WiringError(f"{where}: channel slice {head!r} must have exactly one input")
                source = hp[0]
                inside |= {v, w, head} | {t for t in preds.get(w, []) if t != v}
                break
        ident = (key, source, target)
        conn = found.get(ident)
        if conn is None:
            conn = found[ident] = Connection(key, source, target, list(ops), conn_edge=conn_edge)
        elif list(ops) != conn.ops:
            raise WiringError(f"{where}: connection {list(key)} has differing 'ops' lists")
        if cand in conn.op_edges:
            raise WiringError(f"{where}: connection {list(key)} has two '{cand}' candidates")
        conn.op_edges[cand] = i
        conn.inside |= inside
    return list(found.values())


def select_connections(conns: Sequence[Connection], weights: Sequence[dict], *, top_k: int = 2,
                       threshold: float | None = None, conn_weights: Sequence[float] | None = None
                       ) -> dict[int, str]:
    """Which connections survive and with which op: ``{connection index: op}``.

    ``weights[i]`` maps connection ``i``'s ops to their weights (``none`` included);
    ``conn_weights`` are PC-DARTS edge-normalisation weights (multiplied into the ranking).
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ParameterError(f"top_k must be a positive integer, got {top_k!r}")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
        raise ParameterError(f"threshold must be a number or None, got {threshold!r}")
    by_target: dict = {}
    for i, c in enumerate(conns):
        by_target.setdefault(c.target, []).append(i)
    chosen: dict[int, str] = {}
    for target, idx in by_target.items():
        scored = []
        for i in idx:
            w = {op: float(p) for op, p in weights[i].items() if op != "none" and op in conns[i].op_edges}
            if not w:
                continue
            best = max(w, key=lambda op: (w[op], -conns[i].ops.index(op)))  # first listed wins ties
            cw = 1.0 if conn_weights is None else float(conn_weights[i])
            scored.append((w[best] * cw, i, best, w[best]))
        scored.sort(key=lambda s: -s[0])  # stable: ties keep the source order
        for _, i, best, wbest in scored[:top_k]:
            if threshold is None or wbest >= threshold:
                chosen[i] = best
    return chosen


def darts_cells(cells: int, **cell_kw) -> nx.DiGraph:
    """``cells`` normal cells (:func:`darts_cell`, its keyword arguments) in a row; cell k's two input states read cell k-1's output (its
    concat is brought back to ``channels`` by the input states' 1x1 preprocessing)."""
    G = nx.DiGraph()
    offset, prev_out = 0, None
    for k in range(cells):
        C = darts_cell(**cell_kw)
        mapping = {n: n + offset for n in C}
        C = nx.relabel_nodes(C, mapping)
        ins = [n for n, d in C.nodes(data=True) if d.get("role") == "input"]
        out = next(n for n, d in C.nodes(data=True) if d.get("role") == "output")
        for n, d in C.nodes(data=True):
            d["stage"] = k
            if k > 0 and n in ins:
                d["role"] = "hidden"
            if k < cells - 1 and n == out:
                d["role"] = "hidden"
        G.add_nodes_from(C.nodes(data=True))
        G.add_edges_from(C.edges(data=True))
        if prev_out is not None:
            for n in ins:
                G.add_edge(prev_out, n)
        prev_out = out
        offset += C.number_of_nodes()
    return record(G, "darts_cells", dict(cell_kw, cells=cells), None)
