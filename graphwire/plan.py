"""The execution plan: inert data describing *what* runs, computed once at compile time.

A plan turns a validated graph into positions, channel counts and *steps*: the nodes of one
topological generation that share a signature (op, in/out channels, stride, aggregation). It
holds no torch tensors -- only labels, numbers, numpy index arrays and the read-only
:class:`~graphwire.edgeset.EdgeSet` of the network's frozen graph -- so it can be inspected and
compared like any value (the torch.fx split: the plan is the graph, the executors in
:mod:`graphwire.executors` are its interpreters, and the
:class:`~graphwire.compiler.module.WiredNet` owns the parameters and buffers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Hashable, Iterable, Mapping, Sequence

import numpy as np

from .edgeset import EdgeSet

__all__ = ["NodePlan", "SourceBlock", "Step", "Plan", "group_steps", "module_key", "make_block", "SPARSE_DENSITY"]


def module_key(label: Hashable) -> str:
    """Submodule name of a node: an int or str label as text, with '.' (illegal in module names)
    -> '_'; any other label (a tuple from ``nx.grid_2d_graph``...) as its parts joined by '_', with
    every character that is not a letter, digit or '_' replaced."""
    if isinstance(label, (int, str)) and not isinstance(label, bool):
        key = str(label).replace(".", "_")
    else:
        parts = label if isinstance(label, tuple) else (label,)
        key = "_".join(re.sub(r"[^0-9A-Za-z_]", "_", str(p)) for p in parts)
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
    preds: Sequence[int] = field(default_factory=list)     # positions of predecessors
    in_edges: Sequence[int] = field(default_factory=list)  # edge ids, aligned with preds (compact: arrays)
    step: int = -1
    slot: int = -1
    stage: Hashable = 0


# Density (edges / (G * J)) below which a source block is stored as an edge list and aggregated
# by gather/scatter (index_select + index_add_) instead of a dense block GEMM. Measured by
# ``benchmarks/sparse_threshold.py`` (forward + backward of one block, batch 16, C = 8, 1 thread,
# a 2-core AMD EPYC; benchmarks/results/sparse_threshold-cpu.json): the dense
# GEMM first wins at density 0.05 for 64 x 64 and 256 x 256 blocks and at 0.02 for 1024 x 1024
# (where sparse is still 0.70x dense at 0.01). Large blocks are where the choice costs most, so the
# default sits just under their crossover.
SPARSE_DENSITY = 0.015


@dataclass
class SourceBlock:
    """All edges from one source step into one target step.

    Dense (``edge_index`` set): a ``[G_target, J_source]`` edge-id matrix, the value ``E`` marking
    "no edge". Sparse (``edge_index`` None): the edge list ``tgt`` (target slots), ``src`` (source
    slots) and ``eid`` (edge ids), sorted by (target, source) slot -- O(edges) memory."""
    step: int
    edge_index: np.ndarray | None
    single: int | None  # the edge id when the block is one edge between single nodes
    tgt: np.ndarray | None = None
    src: np.ndarray | None = None
    eid: np.ndarray | None = None

    @property
    def sparse(self) -> bool:
        return self.edge_index is None


def make_block(step: int, G: int, J: int, tgt: np.ndarray, src: np.ndarray, eid: np.ndarray, E: int,
               threshold: float) -> SourceBlock:
    """A source block from its edge list: dense when its density ``len(eid) / (G * J)`` is at least
    ``threshold``, else kept as the (sorted) edge list."""
    order = np.lexsort((src, tgt))
    tgt, src, eid = (np.ascontiguousarray(a[order], np.int64) for a in (tgt, src, eid))
    if G == 1 and J == 1:
        return SourceBlock(step=step, edge_index=eid.reshape(1, 1), single=int(eid[0]))
    if len(eid) >= threshold * G * J:
        idx = np.full((G, J), E, np.int64)
        idx[tgt, src] = eid
        return SourceBlock(step=step, edge_index=idx, single=None)
    return SourceBlock(step=step, edge_index=None, single=None, tgt=tgt, src=src, eid=eid)


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
    gather_index: np.ndarray | None = None                    # [G, k] slots into that concat
    gather_edges: np.ndarray | None = None                    # [G, k] edge ids (E = padding)
    k: int = 0

    def arrays(self) -> dict[str, np.ndarray]:
        """The step's index arrays by name (the module registers each as a buffer)."""
        named: dict[str, np.ndarray] = {}
        tgts, eids = [], []
        for j, sb in enumerate(self.sources):
            if sb.edge_index is not None:
                named[f"src{j}"] = sb.edge_index
            elif sb.src is not None and sb.tgt is not None and sb.eid is not None:
                named[f"src{j}_s"] = sb.src
                tgts.append(sb.tgt)
                eids.append(sb.eid)
        if tgts:  # the step's sparse blocks together: one multiply and one index_add_
            named["sp_t"] = np.concatenate(tgts)
            named["sp_e"] = np.concatenate(eids)
        if self.gather_index is not None and self.gather_edges is not None:
            named.update(gidx=self.gather_index, gedge=self.gather_edges)
        return named

    @property
    def size(self) -> int:
        return len(self.nodes)

    def num_edges(self, E: int) -> int:
        """Edges into a ``sum`` step (``E``: the plan's edge count, the dense blocks' padding id)."""
        n = 0
        for sb in self.sources:
            if sb.edge_index is not None:
                n += int((sb.edge_index < E).sum())
            elif sb.eid is not None:
                n += len(sb.eid)
        return n

    def edge_list(self, E: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """A ``sum`` step's edges one by one, sorted by (target slot, source block, source slot):
        ``(tgt, block, src, eid)`` -- target slot, index into ``sources``, source slot, edge id."""
        parts = []
        for j, sb in enumerate(self.sources):
            if sb.edge_index is not None:
                tgt, src = np.nonzero(sb.edge_index < E)
                eid = sb.edge_index[tgt, src]
            elif sb.tgt is not None and sb.src is not None and sb.eid is not None:
                tgt, src, eid = sb.tgt, sb.src, sb.eid
            else:
                continue
            parts.append((np.asarray(tgt, np.int64), np.full(len(tgt), j, np.int64), np.asarray(src, np.int64),
                          np.asarray(eid, np.int64)))
        if not parts:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty, empty
        tgt, blk, src, eid = (np.concatenate([q[i] for q in parts]) for i in range(4))
        order = np.lexsort((src, blk, tgt))
        return tgt[order], blk[order], src[order], eid[order]


@dataclass
class Plan:
    nodes: list[NodePlan]
    edges: EdgeSet                 # (u, v) per edge, in the order of the wiring's coefficients
    steps: list[Step]
    outputs: list[int]             # positions of output nodes, label order
    in_channels: int
    dims: int
    by_label: dict = field(default_factory=dict)
    planner: str = "general"       # which planner made it ("general", "interval" or "compact")

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

    def edge_ids(self) -> Mapping[tuple, int]:
        """``{(u, v): edge id}``."""
        return self.edges.ids()

    def edge_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Every edge's source and target position, aligned with ``edges`` (two int64 arrays)."""
        cached = self.__dict__.get("_edge_positions")
        if cached is None:
            cached = self.__dict__["_edge_positions"] = self.edges.endpoints({nd.label: nd.pos for nd in self.nodes})
        return cached

    def source_channels(self) -> list[int]:
        """Output channels of each edge's source node, aligned with ``edges``."""
        out = np.array([nd.out_ch for nd in self.nodes], np.int64)
        return out[self.edge_positions()[0]].tolist()


def group_steps(nodes: list[NodePlan], generations: Iterable[Iterable[int]]) -> list[Step]:
    """Group each generation (node positions) by signature into steps, in a deterministic order,
    and set every node's ``step`` and ``slot``.

    Nodes of one step also read inputs of one resolution: with strides, a node's inputs are
    resized to the smallest of them, so the signature includes that downsampling factor (the
    largest product of strides along a path into the node), and a step's inputs share one size."""
    steps: list[Step] = []
    strided = any(nd.stride != 1 for nd in nodes)
    scale_out = np.ones(len(nodes), np.int64)  # by position: the product of strides up to a node's output
    for gi, gen in enumerate(generations):
        groups: dict[tuple, list[int]] = {}
        for q in gen:
            nd = nodes[q]
            sig: tuple = (nd.role == "input", nd.op, nd.agg, nd.in_ch, nd.out_ch, nd.stride)
            if strided:
                preds = nd.preds
                scale_in = int(scale_out[preds.start:preds.stop].max() if isinstance(preds, range)
                               else scale_out[list(preds)].max()) if len(preds) else 1
                scale_out[q] = scale_in * nd.stride
                if scale_in != 1:
                    sig += (("scale", scale_in),)
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
