"""Residual blocks as node ops, for networks whose nodes are whole ResNet blocks (DDW, ResNet graphs).

A block keeps its own identity shortcut (``relu(x + F(x))``); the graph's edges only form its
input ``x``. A block that changes resolution or width uses a 1x1 projection shortcut, as in ResNet.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError
from .registry import register_op

__all__ = ["BasicBlock", "Bottleneck"]


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    if cin == cout and stride == 1:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """ResNet-18/34 block: 3x3 conv-BN-ReLU, 3x3 conv-BN, plus the shortcut, then ReLU."""

    input_params = {"conv1.weight": 1}

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2):
        super().__init__()
        if dims != 2:
            raise ParameterError(f"basic_block op is 2-D only, got dims={dims}")
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = _shortcut(in_channels, out_channels, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class Bottleneck(nn.Module):
    """ResNet-50 block: 1x1 reduce to out/4, 3x3 (stride), 1x1 expand, plus the shortcut, then ReLU."""

    input_params = {"conv1.weight": 1}

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2):
        super().__init__()
        if dims != 2:
            raise ParameterError(f"bottleneck op is 2-D only, got dims={dims}")
        mid = max(out_channels // 4, 1)
        self.conv1 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.shortcut = _shortcut(in_channels, out_channels, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return F.relu(self.bn3(self.conv3(out)) + self.shortcut(x))


register_op("basic_block", BasicBlock, spatial=True)
register_op("bottleneck", Bottleneck, spatial=True)
