"""ResNets whose stages are complete DAGs of residual blocks, for Differentiable Dynamic Wirings.

Each stage is ``generators.complete(L - 1)``: its input node is the stage's first (downsampling)
block, its hidden nodes the other blocks, and its output node an ``identity`` aggregator fed by
every block, so no block is orphaned. Stages are chained with ``generators.stack``. With
``wiring="static"`` this is a densely connected ResNet, with ``"sigmoid"`` the paper's static
alpha (one learned weight per edge), with ``"ddw"`` the instance-aware routers.
"""

from __future__ import annotations

from torch import nn

from ..generators.ddw import ddw_resnet_graph
from ..compiler import compile
from ..errors import ParameterError
from .classifiers import WiredClassifier

__all__ = ["ddw_resnet"]

def ddw_resnet(layers=(2, 2, 2, 2), *, in_channels: int = 3, num_classes: int = 10, channels: int = 64,
               block: str = "basic", wiring: str = "ddw", stem: str = "cifar", **wiring_options) -> WiredClassifier:
    """A ResNet (``layers=[2, 2, 2, 2]``: ResNet-18; ``[3, 4, 6, 3]`` with ``block="bottleneck"``:
    ResNet-50) whose stages are complete DAGs of blocks, wired ``static``, ``sigmoid`` or ``ddw``.

    ``stem="cifar"``: one 3x3 conv (small images); ``"imagenet"``: 7x7 stride-2 conv + max pool.
    ``net.count_flops((1, 3, 32, 32))`` and ``sum(p.numel() for p in net.parameters())`` compare
    the wirings' cost.

    >>> import torch
    >>> m = ddw_resnet([1, 2], num_classes=10, channels=8)
    >>> m(torch.randn(2, 3, 16, 16)).shape
    torch.Size([2, 10])
    """
    width = channels
    G = ddw_resnet_graph(layers, channels=channels, block=block)
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
    return WiredClassifier(stem_m, wired, head)
