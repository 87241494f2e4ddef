"""Ops of variational depth search (Antorán, Allingham, Hernández-Lobato): ``dense`` (the input
block) and ``dense_relu_bn`` (the residual function of the fully connected chain)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError
from .fused import grouped_linear
from .registry import register_op
from .step import KernelOp, Params

__all__ = ["Dense", "DenseReLUBN"]


class Dense(KernelOp):
    """A plain ``nn.Linear`` on ``[B, C]`` (the VDS input block)."""

    input_params = {"fc.weight": 1}

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 0):
        super().__init__()
        if stride != 1:
            raise ParameterError(f"dense op has no stride, got stride={stride}")
        self.fc = nn.Linear(in_channels, out_channels)

    def kernel(self, p: Params, x: torch.Tensor, groups: int) -> torch.Tensor:
        return grouped_linear(x, p("fc.weight"), p("fc.bias"), groups)


class DenseReLUBN(Dense):
    """Linear -> ReLU -> BatchNorm1d: the residual function of the VDS/DUN fully connected chain."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 0):
        super().__init__(in_channels, out_channels, stride, dims)
        self.bn = nn.BatchNorm1d(out_channels)

    def kernel(self, p: Params, x: torch.Tensor, groups: int) -> torch.Tensor:
        return p.norm("bn", F.relu(super().kernel(p, x, groups)))


register_op("dense", Dense, spatial=False)
register_op("dense_relu_bn", DenseReLUBN, spatial=False)
