"""The execution plan: everything about *what* runs, computed once at compile time.

The plan turns a validated graph into positions, channel counts and *steps*: the nodes of one
topological generation that share a signature (op, in/out channels, stride, aggregation). Both
executors run the same plan; the batched one runs a step as one kernel and aggregates its inputs
with one matmul per source step, against index tensors precomputed here, so a forward's Python
work depends on the number of steps, not on nodes or edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable

import networkx as nx
import torch

from ..errors import ParameterError, ShapeError
from ..graph import generations, node_attr, sort_key, validate
from .ops import get_op

__all__ = ["NodePlan", "SourceBlock", "Step", "Plan", "build_plan", "group_steps", "module_key"]


def module_key(label: Hashable) -> str:
    """Submodule name of a node: its label as text, with '.' (illegal in module names) -> '_'."""
    key = str(label).replace(".", "_")
    return key if key else "_"


@dataclass
class NodePlan:
    label: Hashable
    key: str
    pos: int
    op: str
    role: str
    agg: str
    stride: int
    in_ch: int
    out_ch: int
    gen: int
    preds: list[int] = field(default_factory=list)     # positions of predecessors
    in_edges: list[int] = field(default_factory=list)  # edge ids, aligned with preds
    step: int = -1
    slot: int = -1


@dataclass
class SourceBlock:
    """All edges from one source step into one target step, as a [G_target, J_source] edge-id matrix."""
    step: int
    edge_index: torch.Tensor  # long [G, J]; value E marks "no edge"
    single: int | None        # the edge id when the block is one edge between single nodes
    unit: bool = False        # ... and its coefficient is a constant 1: a plain pass-through


@dataclass
class Step:
    index: int
    nodes: list[int]
    op: str
    agg: str
    in_ch: int
    out_ch: int
    stride: int
    gen: int
    is_input: bool
    sources: list[SourceBlock] = field(default_factory=list)  # sum aggregation
    gather_steps: list[int] = field(default_factory=list)     # concat / max: sources concatenated
    gather_index: torch.Tensor | None = None                  # long [G, k] slots into that concat
    gather_edges: torch.Tensor | None = None                  # long [G, k] edge ids (E = padding)
    k: int = 0
    gather_cpu: tuple | None = None                           # (slots, edge ids) of node 0, on the CPU

    def tensors(self) -> dict[str, torch.Tensor]:
        """The step's index tensors by name (moved to the device with the module that owns them)."""
        named = {f"src{j}": sb.edge_index for j, sb in enumerate(self.sources)}
        if self.gather_index is not None:
            named.update(gidx=self.gather_index, gedge=self.gather_edges)
        return named

    def bind(self, name: str, t: torch.Tensor) -> None:
        if name.startswith("src"):
            self.sources[int(name[3:])].edge_index = t
        elif name == "gidx":
            self.gather_index = t
        else:
            self.gather_edges = t

    @property
    def size(self) -> int:
        return len(self.nodes)


@dataclass
class Plan:
    graph: nx.DiGraph
    nodes: list[NodePlan]
    edges: list[tuple]
    steps: list[Step]
    outputs: list[int]             # positions of output nodes, label order
    in_channels: int
    dims: int
    by_label: dict = field(default_factory=dict)

    @property
    def output_slices(self) -> list[tuple[int, int, int, bool]]:
        """The output as channel ranges of step outputs ``(step, start, stop, whole)``, adjacent
        output nodes of one step merged: usually one slice, however many output nodes."""
        cached = self.__dict__.get("_output_slices")
        if cached is None:
            cached = []
            for p in self.outputs:
                nd = self.nodes[p]
                a, b = nd.slot * nd.out_ch, (nd.slot + 1) * nd.out_ch
                if cached and cached[-1][0] == nd.step and cached[-1][2] == a:
                    cached[-1] = (nd.step, cached[-1][1], b, False)
                else:
                    cached.append((nd.step, a, b, False))
            cached = [(s, a, b, a == 0 and b == self.steps[s].size * self.steps[s].out_ch) for s, a, b, _ in cached]
            self.__dict__["_output_slices"] = cached
        return cached

    @property
    def out_channels(self) -> int:
        return sum(self.nodes[p].out_ch for p in self.outputs)

    def mark_unit_edges(self, units: set[int]) -> None:
        """Let single-edge blocks whose coefficient is a constant 1 skip their multiply."""
        for st in self.steps:
            for sb in st.sources:
                sb.unit = sb.single is not None and sb.single in units

    def edge_ids(self) -> dict[tuple, int]:
        return {e: i for i, e in enumerate(self.edges)}


def _channels(G, n, default):
    ch = G.nodes[n].get("channels", default)
    if ch is None:
        raise ParameterError(f"node {n!r} has no 'channels' attribute and compile(channels=...) was not given")
    return ch


def group_steps(nodes: list[NodePlan], generations) -> list[Step]:
    """Group each generation (a list of node positions) by signature into steps, in a
    deterministic order, and set every node's ``step`` and ``slot``."""
    steps: list[Step] = []
    for gi, gen in enumerate(generations):
        groups: dict[tuple, list[int]] = {}
        for q in gen:
            nd = nodes[q]
            sig = (nd.role == "input", nd.op, nd.agg, nd.in_ch, nd.out_ch, nd.stride)
            if nd.agg == "concat":
                pch = tuple(nodes[p].out_ch for p in nd.preds)
                sig += (len(pch), pch)
                if len(set(pch)) > 1:  # ragged widths: concatenated on its own, per input
                    sig += (repr(nd.label),)
            groups.setdefault(sig, []).append(q)
        for sig in sorted(groups, key=lambda s: repr(s)):
            members = groups[sig]
            nd0 = nodes[members[0]]
            st = Step(index=len(steps), nodes=members, op=nd0.op, agg=nd0.agg, in_ch=nd0.in_ch,
                      out_ch=nd0.out_ch, stride=nd0.stride, gen=gi, is_input=nd0.role == "input")
            for slot, p in enumerate(members):
                nodes[p].step, nodes[p].slot = st.index, slot
            steps.append(st)
    return steps


def build_plan(G: nx.DiGraph, *, in_channels: int, channels: int | None, default_op: str,
               output_op: str | None, dims: int) -> Plan:
    """Validate ``G`` and compute positions, channels, steps and index tensors."""
    validate(G)
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ParameterError(f"in_channels must be a positive integer, got {in_channels!r}")
    if channels is not None and (isinstance(channels, bool) or not isinstance(channels, int) or channels < 1):
        raise ParameterError(f"channels must be a positive integer or None, got {channels!r}")
    if dims not in (0, 1, 2):
        raise ParameterError(f"dims must be 0 (vectors), 1 or 2, got {dims!r}")

    gens = generations(G)
    order = [n for g in gens for n in g]
    pos = {n: i for i, n in enumerate(order)}
    gen_of = {n: gi for gi, g in enumerate(gens) for n in g}
    edges = [(u, v) for u, v in G.edges]
    edge_id = {e: i for i, e in enumerate(edges)}
    E = len(edges)

    nodes: list[NodePlan] = []
    keys: dict[str, Hashable] = {}
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
        cout = cin if op == "identity" and "channels" not in G.nodes[n] else _channels(G, n, channels)
        key = module_key(n)
        if key in keys:
            raise ParameterError(f"nodes {keys[key]!r} and {n!r} map to the same module name {key!r}")
        keys[key] = n
        nodes.append(NodePlan(label=n, key=key, pos=pos[n], op=op, role=role, agg=agg,
                              stride=node_attr(G, n, "stride"), in_ch=cin, out_ch=cout, gen=gen_of[n],
                              preds=[pos[p] for p in preds], in_edges=[edge_id[(p, n)] for p in preds]))

    steps = group_steps(nodes, ([pos[n] for n in gen] for gen in gens))

    for st in steps:
        if st.is_input:
            continue
        src_steps = sorted({nodes[p].step for q in st.nodes for p in nodes[q].preds})
        if st.agg == "sum":
            for s in src_steps:
                J = steps[s].size
                idx = torch.full((st.size, J), E, dtype=torch.long)
                for g, q in enumerate(st.nodes):
                    for p, e in zip(nodes[q].preds, nodes[q].in_edges):
                        if nodes[p].step == s:
                            idx[g, nodes[p].slot] = e
                single = int(idx[0, 0]) if st.size == 1 and J == 1 else None
                st.sources.append(SourceBlock(step=s, edge_index=idx, single=single))
        else:
            offset, base = 0, {}
            for s in src_steps:
                base[s] = offset
                offset += steps[s].size
            k = max(len(nodes[q].preds) for q in st.nodes)
            gidx = torch.zeros((st.size, k), dtype=torch.long)
            gedge = torch.full((st.size, k), E, dtype=torch.long)
            for g, q in enumerate(st.nodes):
                for j, (p, e) in enumerate(zip(nodes[q].preds, nodes[q].in_edges)):
                    gidx[g, j] = base[nodes[p].step] + nodes[p].slot
                    gedge[g, j] = e
            st.gather_steps, st.gather_index, st.gather_edges, st.k = src_steps, gidx, gedge, k
            st.gather_cpu = (gidx[0].tolist(), gedge[0].tolist())

    outs = [pos[n] for n in sorted((n for n in order if nodes[pos[n]].role == "output"), key=sort_key)]
    by_label = {nd.label: nd for nd in nodes}
    return Plan(graph=G, nodes=nodes, edges=edges, steps=steps, outputs=outs,
                in_channels=in_channels, dims=dims, by_label=by_label)
