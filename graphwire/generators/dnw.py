"""The graphs of Discovering Neural Wirings: channel graphs, one node per feature map.

:func:`channel_chain` is MobileNet V1 as a chain of channel graphs (each graph's last block is the
next one's first); :func:`tiny_graph` the paper's tiny static classifier. Compile them with
``default_op="channel"`` and ``wiring="dnw"`` (or use ``graphwire.models.dnw_mobilenet_v1`` and
``dnw_tiny``).
"""

from __future__ import annotations

from typing import Sequence

import networkx as nx

from .._gc import paused
from ..errors import ParameterError
from ..graph import meta

__all__ = ["MOBILENET_V1_STAGES", "chain_sizes", "channel_chain", "tiny_graph"]

#: MobileNet V1 as 5 channel graphs: (in channels, out channels, stride, blocks), as in allenai/dnw.
MOBILENET_V1_STAGES = ((32, 64, 1, 1), (64, 128, 2, 2), (128, 256, 2, 2), (256, 512, 2, 6), (512, 1024, 2, 2))


def chain_sizes(stages=MOBILENET_V1_STAGES) -> dict:
    """Sizes of a chain of channel graphs, without building it.

    Per graph: ``nodes`` (in + out*b, its own blocks), ``candidates`` (edges from any block to any
    later block: what DNW may choose from here) and ``matrix`` ((in + out*(b-1)) x out*b, the dense
    matrix the reference code ranks). ``distinct_nodes`` counts each chained block once.

    >>> s = chain_sizes()
    >>> s["nodes"], sum(s["stage_nodes"]), s["distinct_nodes"], sum(s["candidates"]), sum(s["matrix"])
    (6944, 6944, 5984, 6981632, 12044288)
    """
    stage_nodes, candidates, matrix = [], [], []
    for cin, cout, _, b in stages:
        sizes = [cin] + [cout] * b
        stage_nodes.append(sum(sizes))
        candidates.append(sum(sizes[i] * sum(sizes[i + 1:]) for i in range(b)))
        matrix.append((cin + cout * (b - 1)) * cout * b)
    distinct = stages[0][0] + sum(cout * b for _, cout, _, b in stages)
    return {"nodes": sum(stage_nodes), "stage_nodes": stage_nodes, "distinct_nodes": distinct,
            "candidates": candidates, "matrix": matrix}


def _check_sizes(name, values, minimum=1):
    vals = list(values)
    if not vals or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in vals):
        raise ParameterError(f"{name} must be a non-empty sequence of integers >= {minimum}, got {values!r}")
    return vals


def channel_chain(stages: Sequence[tuple[int, int, int, int]] = MOBILENET_V1_STAGES, *,
                  first_stride: int = 1, final_op: str = "identity", compact: bool = False) -> nx.DiGraph:
    """A chain of channel graphs as one DAG (see the module doc).

    ``stages``: ``(in, out, stride, blocks)`` per graph; graph i+1's ``in`` must equal graph i's
    ``out``. Node 0 is the input (``identity``), then the channel nodes block by block
    (``op="channel"``, ``channels=1``, ``stage``, ``block`` = the global depth partition), and
    the last node is the output, concatenating the final block (op ``final_op``, 1 channel each,
    pure sums by default). The input channels (graph 0's B0) get ``first_stride``; graph i's B0
    gets graph i's stride.

    ``compact=True`` gives the same graph in compact form (:mod:`graphwire.edgeset.blocks`): the
    structural edges (from the input, into the output) are networkx edges and the candidate edges
    are one block per (graph, source block) in ``G.graph["graphwire"]["candidates"]``, with
    ``attrs={"stage": i}``: no networkx edge per candidate (``materialize_candidates`` gives them).

    >>> G = channel_chain([(2, 3, 1, 1), (3, 4, 2, 2)])
    >>> G.number_of_nodes(), G.number_of_edges(), sorted(G.nodes[3].items())
    (15, 52, [('block', 1), ('channels', 1), ('op', 'channel'), ('role', 'hidden'), ('stage', 1), ('stride', 2)])
    >>> C = channel_chain([(2, 3, 1, 1), (3, 4, 2, 2)], compact=True)
    >>> C.number_of_edges(), C.graph["graphwire"]["candidates"][0]
    (6, {'sources': [1, 3], 'targets': [3, 6], 'attrs': {'stage': 0}})
    """
    stages = [tuple(s) for s in stages]  # type: ignore[misc]
    if not stages:
        raise ParameterError("stages must hold at least one (in, out, stride, blocks) tuple")
    for i, s in enumerate(stages):
        if len(s) != 4:
            raise ParameterError(f"stages[{i}] must be (in, out, stride, blocks), got {s!r}")
        _check_sizes(f"stages[{i}]", s)
        if i and s[0] != stages[i - 1][1]:
            raise ParameterError(f"stages[{i}] starts with {s[0]} channels but stages[{i - 1}] ends with "
                                 f"{stages[i - 1][1]}: a chained graph's input block is the previous output block")
    _check_sizes("first_stride", [first_stride])
    if not isinstance(compact, bool):
        raise ParameterError(f"compact must be True or False, got {compact!r}")

    # global blocks: (size, stage, stride) -- B0 of graph 0, then each graph's blocks 1..b
    blocks = [(stages[0][0], 0, first_stride)]
    stage_blocks = []  # per stage: global block indices, B0 first
    for si, (cin, cout, stride, b) in enumerate(stages):
        own = [len(blocks) - 1]
        for j in range(b):
            blocks.append((cout, si + 1 if j == b - 1 and si + 1 < len(stages) else si,
                           stages[si + 1][2] if j == b - 1 and si + 1 < len(stages) else 1))
            own.append(len(blocks) - 1)
        stage_blocks.append(own)

    with paused():  # millions of edge dicts: keep the cyclic GC from rescanning them
        return _build_chain(stages, blocks, stage_blocks, first_stride, final_op, compact)


def _build_chain(stages, blocks, stage_blocks, first_stride, final_op, compact=False):
    offsets = [1]
    for size, _, _ in blocks:
        offsets.append(offsets[-1] + size)
    out_node = offsets[-1]
    last = len(blocks) - 1
    G = nx.DiGraph()
    G.add_node(0, role="input", op="identity", stage=0)
    for bi, (size, stage, stride) in enumerate(blocks):
        attrs = {"op": final_op if bi == last else "channel", "channels": 1, "stage": stage, "block": bi}
        if stride != 1 and bi != last:
            attrs["stride"] = stride
        G.add_nodes_from(range(offsets[bi], offsets[bi + 1]), role="hidden", **attrs)
    G.add_node(out_node, role="output", op="identity", agg="concat", stage=blocks[last][1])
    G.add_edges_from((0, v) for v in range(offsets[0], offsets[1]))
    cands = []
    for si, own in enumerate(stage_blocks):
        for j, bi in enumerate(own[:-1]):
            lo, hi = offsets[own[j + 1]], offsets[own[-1] + 1]
            if compact:
                cands.append({"sources": [offsets[bi], offsets[bi + 1]], "targets": [lo, hi], "attrs": {"stage": si}})
            else:
                G.add_edges_from(((u, v) for u in range(offsets[bi], offsets[bi + 1]) for v in range(lo, hi)),
                                 stage=si)
    G.add_edges_from((u, out_node) for u in range(offsets[last], offsets[last + 1]))
    params = {"stages": [list(s) for s in stages], "first_stride": first_stride, "final_op": final_op}
    if compact:
        params["compact"] = True
        meta(G)["candidates"] = cands
    meta(G)["generator"] = {"name": "channel_chain", "params": params, "seed": None, "networkx": nx.__version__}
    return G


def tiny_graph(sizes: Sequence[int] = (32, 192, 192, 192, 192), features: int = 100) -> nx.DiGraph:
    """The paper's static neural graph: channel nodes in blocks (edges to any later block), the
    last ``features`` nodes of the last block are the features (pure sums, op ``identity``) and
    the other nodes of the last block feed them. Node 0 is the input, the last node concatenates
    the features.

    >>> G = tiny_graph((2, 3, 4), features=2)
    >>> G.number_of_nodes(), G.number_of_edges()
    (11, 34)
    """
    sizes = _check_sizes("sizes", sizes)
    if len(sizes) < 2:
        raise ParameterError(f"sizes must hold at least 2 blocks, got {sizes!r}")
    _check_sizes("features", [features])
    if features > sizes[-1]:
        raise ParameterError(f"features={features} must be at most the last block's size {sizes[-1]}")
    offsets = [1]
    for s in sizes:
        offsets.append(offsets[-1] + s)
    feat0 = offsets[-1] - features
    out_node = offsets[-1]
    G = nx.DiGraph()
    G.add_node(0, role="input", op="identity")
    for bi, s in enumerate(sizes):
        for v in range(offsets[bi], offsets[bi + 1]):
            G.add_node(v, role="hidden", op="identity" if v >= feat0 else "channel", channels=1, block=bi)
    G.add_node(out_node, role="output", op="identity", agg="concat")
    G.add_edges_from((0, v) for v in range(offsets[0], offsets[1]))
    for bi in range(len(sizes) - 1):
        G.add_edges_from(((u, v) for u in range(offsets[bi], offsets[bi + 1]) for v in range(offsets[bi + 1], offsets[-1])),
                         stage=0)
    G.add_edges_from(((u, v) for u in range(offsets[-2], feat0) for v in range(feat0, offsets[-1])), stage=0)
    G.add_edges_from((u, out_node) for u in range(feat0, offsets[-1]))
    meta(G)["generator"] = {"name": "tiny_graph", "params": {"sizes": sizes, "features": features},
                            "seed": None, "networkx": nx.__version__}
    return G
