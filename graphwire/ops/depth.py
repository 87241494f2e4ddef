"""Ops of variational depth search (Antorán, Allingham, Hernández-Lobato): ``dense`` (the input block) and ``dense_relu_bn``
(the residual function of the fully connected chain)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError
from .fused import fused_batch_norm, grouped_linear as _grouped_linear
from .registry import register_op

__all__ = ["Dense", "DenseReLUBN"]


class Dense(nn.Module):
    """A plain ``nn.Linear`` on ``[B, C]`` (the VDS input block)."""

    input_params = {"fc.weight": 1}

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 0):
        super().__init__()
        if stride != 1:
            raise ParameterError(f"dense op has no stride, got stride={stride}")
        self.fc = nn.Linear(in_channels, out_channels)

    def forward(self, x):
        return self.fc(x)

    @staticmethod
    def fusion_params(mods):
        return {"w": [m.fc.weight for m in mods], "b": [m.fc.bias for m in mods]}

    def fused(self, p, x, groups: int, training: bool):
        return _grouped_linear(x, p["w"], p["b"], groups)


class DenseReLUBN(Dense):
    """Linear -> ReLU -> BatchNorm1d: the residual function of the VDS/DUN fully connected chain."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 0):
        super().__init__(in_channels, out_channels, stride, dims)
        self.bn = nn.BatchNorm1d(out_channels)

    def forward(self, x):
        return self.bn(F.relu(self.fc(x)))

    @staticmethod
    def fusion_params(mods):
        return dict(Dense.fusion_params(mods), bn=[m.bn for m in mods])

    def fused(self, p, x, groups: int, training: bool):
        return fused_batch_norm(F.relu(super().fused(p, x, groups, training)), p["bn"], training)


register_op("dense", Dense, spatial=False)
register_op("dense_relu_bn", DenseReLUBN, spatial=False)
