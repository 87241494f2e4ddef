"""MobileNet V1 (Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks for Mobile
Vision Applications") at any width: the baseline DNW's channel graphs are measured against.

The 13 depthwise separable blocks are a chain graph of ``dw_separable`` nodes (3x3 depthwise ->
BN -> ReLU -> 1x1 pointwise -> BN -> ReLU); the stem (3x3 conv, stride 2 -> BN -> ReLU) and the
head (global average pool -> fully connected) sit around it, as in every
:class:`~graphwire.models.WiredClassifier`.
"""

from __future__ import annotations

import networkx as nx
import torch  # noqa: F401  (doctest)
from torch import nn

from ..compiler import compile
from ..errors import ParameterError
from ._checks import check_positive_int, keywords
from .classifiers import WiredClassifier

__all__ = ["MOBILENET_V1_BLOCKS", "mobilenet_v1", "mobilenet_v1_graph"]

#: MobileNet V1's 13 depthwise separable blocks: (output channels at width 1, stride).
MOBILENET_V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
                       (512, 1), (512, 1), (1024, 2), (1024, 1))


def _width(channels: int, width_mult: float, minimum: int = 8) -> int:
    """The reference implementation's rounding: ``max(int(channels * width_mult), 8)``."""
    return max(int(channels * width_mult), minimum)


def _check_width(width_mult) -> float:
    if isinstance(width_mult, bool) or not isinstance(width_mult, (int, float)) or not 0.0 < width_mult <= 4.0:
        raise ParameterError(f"mobilenet_v1: width_mult must be a number in (0, 4] (the width multiplier), "
                             f"got {width_mult!r}")
    return float(width_mult)


def mobilenet_v1_graph(width_mult: float = 1.0) -> nx.DiGraph:
    """The chain of MobileNet V1's blocks at ``width_mult``: node 0 is the stem's output (``identity``),
    nodes 1..13 the ``dw_separable`` blocks (``channels``, ``stride``); node 13 is the output.

    >>> G = mobilenet_v1_graph(0.25)
    >>> G.nodes[0]["channels"], G.nodes[13]["channels"], G.number_of_edges()
    (8, 256, 13)
    """
    width_mult = _check_width(width_mult)
    G = nx.DiGraph()
    G.add_node(0, role="input", op="identity", channels=_width(32, width_mult))
    for i, (c, s) in enumerate(MOBILENET_V1_BLOCKS, start=1):
        G.add_node(i, role="output" if i == len(MOBILENET_V1_BLOCKS) else "hidden", op="dw_separable",
                   channels=_width(c, width_mult), **({"stride": s} if s != 1 else {}))
        G.add_edge(i - 1, i)
    return G


@keywords
def mobilenet_v1(*, in_channels: int = 3, num_classes: int = 10, width_mult: float = 1.0, image_size: int = 224,
                 stem_stride: int = 2, wiring="static") -> WiredClassifier:
    """MobileNet V1 at width ``width_mult`` (channels ``max(int(c * width_mult), 8)``).

    At 224 px and 1,000 classes, width 0.25 has 0.470M parameters and 41.0M multiply-adds (the
    paper: 0.5M, 41M); width 1.0 has 4.23M and 569M (4.2M, 569M). ``stem_stride=1`` keeps the
    stem at full resolution for CIFAR-sized images. ``image_size`` sets ``model.input_shape``
    (what :func:`graphwire.inference_cost` counts by default).

    >>> m = mobilenet_v1(width_mult=0.25, num_classes=10, stem_stride=1)
    >>> m(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    in_channels = check_positive_int("mobilenet_v1", "in_channels", in_channels)
    num_classes = check_positive_int("mobilenet_v1", "num_classes", num_classes)
    image_size = check_positive_int("mobilenet_v1", "image_size", image_size)
    stem_stride = check_positive_int("mobilenet_v1", "stem_stride", stem_stride)
    G = mobilenet_v1_graph(width_mult)
    c0 = G.nodes[0]["channels"]
    stem = nn.Sequential(nn.Conv2d(in_channels, c0, 3, stem_stride, 1, bias=False), nn.BatchNorm2d(c0), nn.ReLU())
    kw = dict(in_channels=c0, dims=2)
    wired = compile(G, wiring=wiring, **kw)
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(wired.out_channels, num_classes))
    model = WiredClassifier(stem, wired, head)
    model.input_spec = (in_channels, 2)
    model.input_shape = (1, in_channels, image_size, image_size)
    return model
