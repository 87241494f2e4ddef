"""Layered (depth-limited) DAGs: DNW's blocks B0..Bl with edges only from lower to higher blocks."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np

from ..errors import ParameterError
from ._common import (
    build,
    build_arrays,
    check_density,
    check_int,
    check_seed,
    check_size,
    gc_paused,
    is_int,
    record,
    resolve_seed,
    scaled,
    show_int,
)

__all__ = ["layered"]


def _check_sizes(sizes: Any) -> list[int]:
    allowed = "a sequence of at least 2 positive integers (nodes per block)"
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__") or not hasattr(sizes, "__getitem__"):
        raise ParameterError(f"sizes must be {allowed}, got {sizes!r} ({type(sizes).__name__})")
    if isinstance(sizes, dict):
        raise ParameterError(f"sizes must be {allowed}, got a mapping {sizes!r}")
    values = list(sizes)
    if len(values) < 2:
        raise ParameterError(
            f"sizes must be {allowed}, got {values!r} ({len(values)} block{'s' if len(values) != 1 else ''}); "
            "the first block holds the inputs and the last the outputs"
        )
    for i, s in enumerate(values):
        if not is_int(s) or s < 1:
            raise ParameterError(f"sizes[{i}] must be a positive integer, got {s!r} ({type(s).__name__})")
    return [int(s) for s in values]


def _short(sizes: list[int]) -> str:
    shown = [show_int(s, False) for s in sizes]
    if len(shown) <= 6:
        return "[" + ", ".join(shown) + "]"
    return f"[{shown[0]}, {shown[1]}, ... {shown[-1]}] ({len(shown)} blocks)"


@gc_paused
def layered(
    sizes: Sequence[int],
    *,
    max_skip: int | None = None,
    density: float = 1.0,
    seed: int | None = None,
) -> nx.DiGraph:
    """A depth-limited DAG made of blocks (Discovering Neural Wirings).

    Block ``b`` has ``sizes[b]`` nodes, numbered block by block, each with ``block=b``. Block 0
    holds the inputs, the last block the outputs, the others hidden nodes. An edge ``u -> v``
    is allowed when ``v``'s block is above ``u``'s by at most ``max_skip`` (None: any higher
    block), so the depth of the graph is at most the number of blocks.

    With ``density < 1`` each allowed edge is kept with that probability (a random static
    wiring, seeded), then the graph is repaired so every node lies on an input -> output path:
    a node with no predecessor gets one edge from a random node of an allowed earlier block, a
    non-output node with no successor one edge to a random node of an allowed later block.
    Repair can therefore add a few edges beyond the sampled ones. ``seed`` (None or a
    non-negative int) is only used when ``density < 1``; None then draws and records a seed.

    >>> G = layered([2, 3, 1])
    >>> G.number_of_edges(), G.nodes[2]
    (11, {'role': 'hidden', 'block': 1})
    >>> layered([2, 3, 1], max_skip=1).number_of_edges()
    9
    """
    sizes = _check_sizes(sizes)
    nb = len(sizes)
    if max_skip is not None:
        max_skip = check_int("max_skip", max_skip, 1, why="or None for any higher block")
    density = check_density("density", density)
    seed = resolve_seed(seed) if density < 1.0 else check_seed(seed)
    skip = nb - 1 if max_skip is None else min(max_skip, nb - 1)

    offsets = [0]
    for s in sizes:
        offsets.append(offsets[-1] + s)
    total = offsets[-1]

    def later(b: int) -> range:  # nodes an edge from block b may reach
        return range(offsets[b + 1], offsets[min(b + skip, nb - 1) + 1])

    def earlier(b: int) -> range:  # nodes an edge into block b may come from
        return range(offsets[max(b - skip, 0)], offsets[b])

    candidates = sum(sizes[b] * len(later(b)) for b in range(nb - 1))
    check_size(f"sizes = {_short(sizes)}, density = {density}", total, scaled(density, candidates))
    blocks = [b for b, s in enumerate(sizes) for _ in range(s)]
    roles = ["input" if b == 0 else "output" if b == nb - 1 else "hidden" for b in blocks]
    attrs = [{"block": b} for b in blocks]
    params = {"sizes": sizes, "max_skip": max_skip, "density": density}

    if density >= 1.0:
        # every allowed edge, block by block in numpy: a block's nodes times its reachable range
        src, dst = [], []
        for b in range(nb - 1):
            reach = later(b)
            src.append(np.repeat(np.arange(offsets[b], offsets[b + 1], dtype=np.int64), len(reach)))
            dst.append(np.tile(np.arange(reach.start, reach.stop, dtype=np.int64), sizes[b]))
        G = build_arrays(roles, np.concatenate(src), np.concatenate(dst), attrs)
        return record(G, "layered", params, seed)

    # density < 1: one seeded coin flip per allowed edge, then the repair
    rng = random.Random(seed)
    edges = [(u, v) for u in range(offsets[nb - 1]) for v in later(blocks[u]) if rng.random() < density]
    has_pred = {v for _, v in edges}
    has_succ = {u for u, _ in edges}
    # Predecessors first, in label order: the chosen source is earlier, so already reachable.
    for v in range(offsets[1], total):
        if v not in has_pred:
            cands = earlier(blocks[v])
            u = cands[rng.randrange(len(cands))]
            edges.append((u, v))
            has_pred.add(v)
            has_succ.add(u)
    # Then successors, in reverse label order: the chosen target already reaches an output.
    for u in range(offsets[nb - 1] - 1, -1, -1):
        if u not in has_succ:
            cands = later(blocks[u])
            v = cands[rng.randrange(len(cands))]
            edges.append((u, v))
            has_succ.add(u)

    G = build(roles, edges, attrs)
    return record(G, "layered", params, seed)
