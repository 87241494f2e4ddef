"""The built-in node ops: ``conv``, ``sepconv``, ``linear`` and ``identity``.

Each op's math is written once, as the per-node module's ``kernel`` (see
:mod:`graphwire.ops.step`); its stacked form (one module for a step's G nodes, see
:mod:`graphwire.ops.stacked`) runs the same kernel on its stacked tensors.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError, ShapeError
from .fused import batch_norm as _bn, conv_fn as _conv, grouped_linear
from .registry import register_op
from .stacked import StackedBatchNorm, StackedOp, Tensors
from .step import KernelOp, Params

__all__ = ["ConvBlock", "SepConvBlock", "LinearBlock", "Identity", "StackedConv", "StackedSepConv",
           "StackedLinear", "StackedIdentity"]


class ConvBlock(KernelOp):
    """ReLU -> k x k convolution -> BatchNorm (RandWire / DARTS 'ReLU-conv-BN'), 1-D or 2-D."""

    input_params = {"conv.weight": 1}

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2,
                 kernel_size: int = 3, *, affine: bool = True):
        super().__init__()
        if dims not in (1, 2):
            raise ParameterError(f"conv op: dims must be 1 or 2, got {dims!r}")
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        self.dims, self.stride, self.padding = dims, stride, kernel_size // 2
        self.conv = conv(in_channels, out_channels, kernel_size, stride, self.padding, bias=False)
        self.bn = _bn(dims, out_channels, affine)

    def kernel(self, p: Params, x: torch.Tensor, groups: int) -> torch.Tensor:
        y = _conv(self.dims)(F.relu(x), p("conv.weight"), None, self.stride, self.padding, 1, groups)
        return p.norm("bn", y)


class SepConvBlock(KernelOp):
    """ReLU -> depthwise k x k -> pointwise 1 x 1 -> BatchNorm (RandWire's node op), 1-D or 2-D.

    Also one stage of the DARTS separable and dilated convolutions (``dilation``, ``affine``).
    """

    input_params = {"dw.weight": 0, "pw.weight": 1}

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2,
                 kernel_size: int = 3, *, dilation: int = 1, affine: bool = True):
        super().__init__()
        if dims not in (1, 2):
            raise ParameterError(f"sepconv op: dims must be 1 or 2, got {dims!r}")
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        self.dims, self.stride, self.cin, self.dilation = dims, stride, in_channels, dilation
        self.padding = dilation * (kernel_size // 2)
        self.dw = conv(in_channels, in_channels, kernel_size, stride, self.padding, dilation=dilation,
                       groups=in_channels, bias=False)
        self.pw = conv(in_channels, out_channels, 1, bias=False)
        self.bn = _bn(dims, out_channels, affine)

    def kernel(self, p: Params, x: torch.Tensor, groups: int) -> torch.Tensor:
        conv = _conv(self.dims)
        y = conv(F.relu(x), p("dw.weight"), None, self.stride, self.padding, self.dilation, groups * self.cin)
        pw = p("pw.weight")
        if groups == 1:
            y = conv(y, pw)
        else:  # the G pointwise convs as one batched matmul: [G, out, in] @ [B, G, in, L]
            b, spatial = y.shape[0], tuple(y.shape[2:])
            w = pw.reshape(groups, -1, self.cin)
            y = torch.matmul(w, y.reshape(b, groups, self.cin, -1)).reshape((b, -1) + spatial)
        return p.norm("bn", y)


class LinearBlock(KernelOp):
    """Linear -> BatchNorm1d -> ReLU for vector data ``[B, C]``.

    Post-activation (unlike the conv blocks) because input nodes read raw features, which a
    leading ReLU would clip.
    """

    input_params = {"fc.weight": 1}

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 0):
        super().__init__()
        if stride != 1:
            raise ParameterError(f"linear op has no stride, got stride={stride}")
        self.fc = nn.Linear(in_channels, out_channels)
        self.bn = nn.BatchNorm1d(out_channels)

    def kernel(self, p: Params, x: torch.Tensor, groups: int) -> torch.Tensor:
        return F.relu(p.norm("bn", grouped_linear(x, p("fc.weight"), p("fc.bias"), groups)))


class Identity(KernelOp):
    """Passes its (aggregated) input on: for output/aggregation-only nodes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2):
        super().__init__()
        if in_channels != out_channels or stride != 1:
            raise ShapeError(f"identity op needs in_channels == out_channels and stride 1, got "
                             f"{in_channels} -> {out_channels}, stride {stride}")

    def kernel(self, p: Params, x: torch.Tensor, groups: int) -> torch.Tensor:
        return x


# ---------------------------------------------------------------- stacked forms (see graphwire.ops.stacked)
def _kaiming(w: torch.Tensor) -> None:
    """``nn.Conv``/``nn.Linear``'s default weight init, on one node's slice."""
    nn.init.kaiming_uniform_(w, a=math.sqrt(5))


def _spatial(dims: int, kernel_size: int) -> tuple[int, ...]:
    return (kernel_size,) * dims


class StackedConv(StackedOp):
    """G :class:`ConvBlock` nodes: ``conv.weight`` is ``[G, out, in, k(, k)]``, run as one grouped conv."""

    node_class = ConvBlock
    input_params = ConvBlock.input_params
    kernel = ConvBlock.kernel

    def __init__(self, groups, in_channels, out_channels, *, stride=1, dims=2, kernel_size: int = 3,
                 affine: bool = True):
        super().__init__(groups, in_channels, out_channels, stride=stride, dims=dims, kernel_size=kernel_size,
                         affine=affine)
        if dims not in (1, 2):
            raise ParameterError(f"conv op: dims must be 1 or 2, got {dims!r}")
        self.padding = kernel_size // 2
        self.conv = Tensors(weight=torch.empty((groups, out_channels, in_channels) + _spatial(dims, kernel_size)))
        self.bn = StackedBatchNorm(groups, out_channels, affine)

    def reset_node(self, g):
        _kaiming(self.conv.weight[g])


class StackedSepConv(StackedOp):
    """G :class:`SepConvBlock` nodes: one depthwise conv over all G x in channels, then the G
    pointwise convs as one batched matmul."""

    node_class = SepConvBlock
    input_params = SepConvBlock.input_params
    kernel = SepConvBlock.kernel

    def __init__(self, groups, in_channels, out_channels, *, stride=1, dims=2, kernel_size: int = 3,
                 dilation: int = 1, affine: bool = True):
        super().__init__(groups, in_channels, out_channels, stride=stride, dims=dims, kernel_size=kernel_size,
                         dilation=dilation, affine=affine)
        if dims not in (1, 2):
            raise ParameterError(f"sepconv op: dims must be 1 or 2, got {dims!r}")
        self.cin, self.dilation, self.padding = in_channels, dilation, dilation * (kernel_size // 2)
        self.dw = Tensors(weight=torch.empty((groups, in_channels, 1) + _spatial(dims, kernel_size)))
        self.pw = Tensors(weight=torch.empty((groups, out_channels, in_channels) + _spatial(dims, 1)))
        self.bn = StackedBatchNorm(groups, out_channels, affine)

    def reset_node(self, g):
        _kaiming(self.dw.weight[g])
        _kaiming(self.pw.weight[g])


class StackedLinear(StackedOp):
    """G :class:`LinearBlock` nodes: ``fc.weight`` ``[G, out, in]``, one batched matmul."""

    node_class = LinearBlock
    input_params = LinearBlock.input_params
    kernel = LinearBlock.kernel

    def __init__(self, groups, in_channels, out_channels, *, stride=1, dims=0):
        super().__init__(groups, in_channels, out_channels, stride=stride, dims=dims)
        if stride != 1:
            raise ParameterError(f"linear op has no stride, got stride={stride}")
        self.fc = Tensors(weight=torch.empty(groups, out_channels, in_channels), bias=torch.empty(groups, out_channels))
        self.bn = StackedBatchNorm(groups, out_channels)

    def reset_node(self, g):
        w = self.fc.weight[g]
        _kaiming(w)
        bound = 1 / math.sqrt(w.shape[1]) if w.shape[1] > 0 else 0
        nn.init.uniform_(self.fc.bias[g], -bound, bound)


class StackedIdentity(StackedOp):
    """G :class:`Identity` nodes (no tensors)."""

    node_class = Identity
    kernel = Identity.kernel

    def __init__(self, groups, in_channels, out_channels, *, stride=1, dims=2):
        super().__init__(groups, in_channels, out_channels, stride=stride, dims=dims)
        Identity(in_channels, out_channels, stride)  # its shape checks


register_op("conv", ConvBlock, spatial=True, stacked=StackedConv)
register_op("sepconv", SepConvBlock, spatial=True, stacked=StackedSepConv)
register_op("linear", LinearBlock, spatial=False, stacked=StackedLinear)
register_op("identity", Identity, spatial=None, stacked=StackedIdentity)
