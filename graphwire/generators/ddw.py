"""ResNet stages as complete DAGs of residual blocks: the graphs of Differentiable Dynamic Wirings.

Each stage is ``complete(L - 1)``: its input node is the stage's first (downsampling) block, its
hidden nodes the other blocks, and its output node an ``identity`` aggregator fed by every block.
Stages are chained with :func:`stack`.
"""

from __future__ import annotations

import networkx as nx

from ..errors import ParameterError
from .classic import complete
from .stack import stack

__all__ = ["ddw_resnet_graph"]


_BLOCKS = {"basic": ("basic_block", 1), "bottleneck": ("bottleneck", 4)}


def ddw_resnet_graph(layers=(2, 2, 2, 2), *, channels: int = 64, block: str = "basic",
                     downsample_first: bool = False) -> nx.DiGraph:
    """The stacked complete-DAG graph of a ResNet with ``layers[k]`` blocks in stage k.

    >>> G = ddw_resnet_graph([2, 2])
    >>> G.number_of_nodes(), G.number_of_edges()
    (6, 7)
    """
    if block not in _BLOCKS:
        raise ParameterError(f"block must be one of {sorted(_BLOCKS)}, got {block!r}")
    if not layers or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in layers):
        raise ParameterError(f"layers must be a non-empty list of positive ints, got {layers!r}")
    op, expansion = _BLOCKS[block]
    stages = []
    for k, n_blocks in enumerate(layers):
        S = complete(n_blocks - 1)
        out = max(S.nodes)
        for v in S:
            if v != out:
                S.nodes[v].update(op=op, channels=channels * expansion * 2 ** k)
        S.nodes[out]["op"] = "identity"
        if k > 0 or downsample_first:
            S.nodes[0]["stride"] = 2
        stages.append(S)
    G = stack(stages)
    G.graph["graphwire"]["generator"] = {"name": "ddw_resnet_graph", "params": {
        "layers": list(layers), "channels": channels, "block": block, "downsample_first": downsample_first}, "seed": None}
    return G
