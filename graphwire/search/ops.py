"""Node ops the search spaces name: ``conv_k{k}`` (k x k, or length k in 1-D) and
``conv_k{h}x{w}`` (2-D, rectangular), as ReLU -> conv -> BatchNorm. Importing this module
registers them; :func:`ensure_ops` registers any such name a graph uses (needs torch)."""

from __future__ import annotations

import re

import networkx as nx
import torch.nn.functional as F
from torch import nn

from ..ops import OPS, register_op
from ..ops.blocks import ConvBlock
from ..errors import ParameterError

_RECT = re.compile(r"^conv_k(\d+)x(\d+)$")
_SQUARE = re.compile(r"^conv_k(\d+)$")


class RectConv(nn.Module):
    """ReLU -> h x w convolution (same padding) -> BatchNorm, for 2-D macro layers."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2, *, h: int = 3, w: int = 3):
        super().__init__()
        if dims != 2:
            raise ParameterError(f"conv_k{h}x{w} needs dims=2 (images), got dims={dims}")
        self.conv = nn.Conv2d(in_channels, out_channels, (h, w), stride, (h // 2, w // 2), bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        return self.bn(self.conv(F.relu(x)))


def _square(k: int):
    return lambda cin, cout, stride=1, dims=2, **kw: ConvBlock(cin, cout, stride, dims, kernel_size=k, **kw)


def _rect(h: int, w: int):
    return lambda cin, cout, stride=1, dims=2, **kw: RectConv(cin, cout, stride, dims, h=h, w=w, **kw)


def ensure_op(name: str) -> None:
    """Register ``name`` if it is a ``conv_k...`` op not registered yet."""
    if name in OPS:
        return
    m = _SQUARE.match(name)
    if m and int(m.group(1)) % 2 == 1:
        register_op(name, _square(int(m.group(1))), spatial=True)
        return
    m = _RECT.match(name)
    if m and int(m.group(1)) % 2 == 1 and int(m.group(2)) % 2 == 1:
        register_op(name, _rect(int(m.group(1)), int(m.group(2))), spatial=True)


def ensure_ops(G: nx.DiGraph) -> None:
    for _, d in G.nodes(data=True):
        if isinstance(d.get("op"), str):
            ensure_op(d["op"])


for _k in (1, 3, 5, 7, 9):
    ensure_op(f"conv_k{_k}")
