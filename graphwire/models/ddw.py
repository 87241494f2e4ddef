"""ResNets whose stages are complete DAGs of residual blocks, for Differentiable Dynamic Wirings.

Each stage is ``generators.complete(L - 1)``: its input node is the stage's first (downsampling)
block, its hidden nodes the other blocks, and its output node an ``identity`` aggregator fed by
every block, so no block is orphaned. Stages are chained with ``generators.stack``. With
``wiring="static"`` this is a densely connected ResNet, with ``"sigmoid"`` the paper's static
alpha (one learned weight per edge), with ``"ddw"`` the instance-aware routers.
"""

from __future__ import annotations

from torch import nn

from .. import generators
from ..compiler import compile
from ..errors import ParameterError
from .classifiers import WiredClassifier

__all__ = ["ddw_resnet", "ddw_resnet_graph"]

_BLOCKS = {"basic": ("basic_block", 1), "bottleneck": ("bottleneck", 4)}


def ddw_resnet_graph(layers=(2, 2, 2, 2), *, width: int = 64, block: str = "basic", downsample_first: bool = False):
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
        S = generators.complete(n_blocks - 1)
        out = max(S.nodes)
        for v in S:
            if v != out:
                S.nodes[v].update(op=op, channels=width * expansion * 2 ** k)
        S.nodes[out]["op"] = "identity"
        if k > 0 or downsample_first:
            S.nodes[0]["stride"] = 2
        stages.append(S)
    G = generators.stack(stages)
    G.graph["graphwire"]["generator"] = {"name": "ddw_resnet_graph", "params": {
        "layers": list(layers), "width": width, "block": block, "downsample_first": downsample_first}, "seed": None}
    return G


def ddw_resnet(layers=(2, 2, 2, 2), num_classes: int = 10, *, width: int = 64, block: str = "basic",
               wiring: str = "ddw", in_channels: int = 3, stem: str = "cifar", **wiring_options) -> WiredClassifier:
    """A ResNet (``layers=[2, 2, 2, 2]``: ResNet-18; ``[3, 4, 6, 3]`` with ``block="bottleneck"``:
    ResNet-50) whose stages are complete DAGs of blocks, wired ``static``, ``sigmoid`` or ``ddw``.

    ``stem="cifar"``: one 3x3 conv (small images); ``"imagenet"``: 7x7 stride-2 conv + max pool.
    ``net.count_flops((1, 3, 32, 32))`` and ``sum(p.numel() for p in net.parameters())`` compare
    the wirings' cost.

    >>> import torch
    >>> m = ddw_resnet([1, 2], 10, width=8)
    >>> m(torch.randn(2, 3, 16, 16)).shape
    torch.Size([2, 10])
    """
    G = ddw_resnet_graph(layers, width=width, block=block)
    if stem == "cifar":
        stem_m = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
    elif stem == "imagenet":
        stem_m = nn.Sequential(nn.Conv2d(in_channels, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                               nn.MaxPool2d(3, 2, 1))
    else:
        raise ParameterError(f"stem must be 'cifar' or 'imagenet', got {stem!r}")
    kw = dict(in_channels=width, dims=2)
    wired = compile(G, wiring=wiring, **kw, **wiring_options)
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(wired.out_channels, num_classes))
    return WiredClassifier(stem_m, wired, head, kw)
