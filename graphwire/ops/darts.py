"""Node ops for architecture search: the DARTS candidate operations, PC-DARTS channel slices,
and the fully connected blocks of the variational depth search (VDS/DUN) residual chain.

DARTS candidates (``cnn/operations.py`` of ``quark0/darts``), registered under their DARTS names:

====================  =====================================================================
``none``              zeros (a cell never builds a node for it: see ``generators.darts_cell``)
``max_pool_3x3``      3x3 max pool (+ BatchNorm without affine, as in the search model)
``avg_pool_3x3``      3x3 average pool, padding not counted (+ BatchNorm without affine)
``skip_connect``      identity; with stride 2 a FactorizedReduce (two shifted 1x1 convs)
``sep_conv_3x3/5x5``  (ReLU, depthwise kxk, pointwise 1x1, BN) twice
``dil_conv_3x3/5x5``  ReLU, dilated (2) depthwise kxk, pointwise 1x1, BN
``relu_conv_bn_1x1``  the cell-input preprocessing: ReLU, 1x1 conv, BN
====================  =====================================================================

Convolutional candidates take ``affine=False`` by default (DARTS searches without BatchNorm
affine parameters); train a derived network with ``compile(..., op_options={"sep_conv_3x3":
{"affine": True}, ...})`` if you want them. All work on 1-D (``dims=1``) and 2-D data, and each
op's math is one kernel (:mod:`graphwire.ops.step`) that the batched executor runs on a step's G
nodes at once.

PC-DARTS slices: ``slice_head`` keeps the first ``out_channels`` input channels, ``slice_tail`` the
last ``out_channels``. Depth search: ``dense`` is a plain ``nn.Linear`` (input block),
``dense_relu_bn`` is Linear -> ReLU -> BatchNorm1d, the VDS residual function ``f_d``.

Register more candidates with :func:`graphwire.register_op` and list them in the cell's ``ops``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError, ShapeError
from .blocks import ConvBlock, SepConvBlock
from .fused import batch_norm as _bn, conv_fn as _conv
from .registry import register_op
from .step import KernelOp, Params

__all__ = ["PRIMITIVES", "Zero", "Pool", "SkipConnect", "FactorizedReduce", "SepConv", "DilConv",
           "ReLUConvBN", "ChannelSlice"]

#: The DARTS candidate operations (``cnn/genotypes.py``), in their order.
PRIMITIVES = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
              "dil_conv_3x3", "dil_conv_5x5")


def _check_dims(name: str, dims: int) -> None:
    if dims not in (1, 2):
        raise ParameterError(f"{name} op works on 1-D or 2-D data (dims 1 or 2), got dims={dims!r}")


def _same(name: str, cin: int, cout: int) -> None:
    if cin != cout:
        raise ShapeError(f"{name} op keeps the channel count, got {cin} -> {cout}; give the node the "
                         "channels of its input")


def _conv_module(dims: int, *args, **kwargs) -> nn.Module:
    return (nn.Conv1d if dims == 1 else nn.Conv2d)(*args, **kwargs)


class Zero(KernelOp):
    """DARTS ``none``: zeros shaped like the op's output (the stride subsamples)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2):
        super().__init__()
        self.cout, self.stride = out_channels, stride

    def kernel(self, p: Params, x: torch.Tensor, groups: int) -> torch.Tensor:
        s = self.stride
        y = x[(slice(None), slice(None)) + (slice(None, None, s),) * (x.dim() - 2)]
        return y.new_zeros((y.shape[0], groups * self.cout) + tuple(y.shape[2:]))


class Pool(KernelOp):
    """3x3 max or average pool (padding 1), then BatchNorm without affine parameters (``bn=True``)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2, *,
                 kind: str = "max", bn: bool = True):
        super().__init__()
        _check_dims(f"{kind}_pool_3x3", dims)
        _same(f"{kind}_pool_3x3", in_channels, out_channels)
        self.kind, self.stride, self.dims = kind, stride, dims
        self.bn = _bn(dims, out_channels, False) if bn else None

    def _pool(self, x):
        if self.kind == "max":
            f = F.max_pool1d if self.dims == 1 else F.max_pool2d
            return f(x, 3, self.stride, 1)
        f = F.avg_pool1d if self.dims == 1 else F.avg_pool2d
        return f(x, 3, self.stride, 1, count_include_pad=False)

    def kernel(self, p: Params, x: torch.Tensor, groups: int) -> torch.Tensor:
        y = self._pool(x)
        return p.norm("bn", y) if self.bn is not None else y


class FactorizedReduce(KernelOp):
    """DARTS' stride-2 skip: ReLU, two 1x1 stride-2 convs (the second shifted by one pixel),
    concatenated, BatchNorm. Odd sizes are padded so both halves have the same size."""

    def __init__(self, in_channels: int, out_channels: int, dims: int = 2, affine: bool = False):
        super().__init__()
        if out_channels % 2:
            raise ShapeError(f"skip_connect with stride 2 (FactorizedReduce) needs an even channel "
                             f"count, got {out_channels}")
        self.dims, self.half = dims, out_channels // 2
        self.conv_1 = _conv_module(dims, in_channels, self.half, 1, 2, bias=False)
        self.conv_2 = _conv_module(dims, in_channels, self.half, 1, 2, bias=False)
        self.bn = _bn(dims, out_channels, affine)

    def _shift(self, x):
        pad = (0, 1) * self.dims
        return F.pad(x, pad)[(slice(None), slice(None)) + (slice(1, None),) * self.dims]

    def kernel(self, p: Params, x: torch.Tensor, groups: int) -> torch.Tensor:
        x = F.relu(x)
        conv = _conv(self.dims)
        a = conv(x, p("conv_1.weight"), None, 2, 0, 1, groups)
        b = conv(self._shift(x), p("conv_2.weight"), None, 2, 0, 1, groups)
        B, sp = a.shape[0], tuple(a.shape[2:])  # each node's two halves side by side
        y = torch.stack([a.reshape((B, groups, self.half) + sp), b.reshape((B, groups, self.half) + sp)], 2)
        return p.norm("bn", y.reshape((B, groups * 2 * self.half) + sp))


class SkipConnect(KernelOp):
    """DARTS ``skip_connect``: identity, or :class:`FactorizedReduce` when the stride is 2."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2,
                 affine: bool = False):
        super().__init__()
        _check_dims("skip_connect", dims)
        if stride not in (1, 2):
            raise ParameterError(f"skip_connect supports stride 1 or 2, got {stride}")
        if stride == 1:
            _same("skip_connect", in_channels, out_channels)
        self.reduce = FactorizedReduce(in_channels, out_channels, dims, affine) if stride == 2 else None

    def kernel(self, p: Params, x: torch.Tensor, groups: int) -> torch.Tensor:
        return x if self.reduce is None else self.reduce.kernel(p.sub("reduce"), x, groups)


def _dw_pw(cin: int, cout: int, k: int, stride: int, dilation: int, dims: int, affine: bool) -> SepConvBlock:
    """ReLU -> depthwise k (stride, dilation) -> pointwise 1x1 -> BatchNorm: one DARTS conv stage."""
    return SepConvBlock(cin, cout, stride, dims, k, dilation=dilation, affine=affine)


class SepConv(KernelOp):
    """DARTS separable conv: two ReLU-depthwise-pointwise-BN stages (the stride in the first)."""

    input_params = {"op1.dw.weight": 0, "op1.pw.weight": 1}

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2, *,
                 kernel_size: int = 3, affine: bool = False):
        super().__init__()
        _check_dims(f"sep_conv_{kernel_size}x{kernel_size}", dims)
        self.op1 = _dw_pw(in_channels, in_channels, kernel_size, stride, 1, dims, affine)
        self.op2 = _dw_pw(in_channels, out_channels, kernel_size, 1, 1, dims, affine)

    def kernel(self, p: Params, x: torch.Tensor, groups: int) -> torch.Tensor:
        return self.op2.kernel(p.sub("op2"), self.op1.kernel(p.sub("op1"), x, groups), groups)


class DilConv(KernelOp):
    """DARTS dilated separable conv: ReLU, depthwise k x k with dilation 2, pointwise, BN."""

    input_params = {"op.dw.weight": 0, "op.pw.weight": 1}

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2, *,
                 kernel_size: int = 3, dilation: int = 2, affine: bool = False):
        super().__init__()
        _check_dims(f"dil_conv_{kernel_size}x{kernel_size}", dims)
        self.op = _dw_pw(in_channels, out_channels, kernel_size, stride, dilation, dims, affine)

    def kernel(self, p: Params, x: torch.Tensor, groups: int) -> torch.Tensor:
        return self.op.kernel(p.sub("op"), x, groups)


class ReLUConvBN(ConvBlock):
    """ReLU -> 1x1 conv -> BatchNorm: DARTS' preprocessing of a cell's input states."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2, *,
                 affine: bool = False):
        _check_dims("relu_conv_bn_1x1", dims)
        super().__init__(in_channels, out_channels, stride, dims, kernel_size=1, affine=affine)


class ChannelSlice(KernelOp):
    """The first (``head``) or last (``tail``) ``out_channels`` of the input (PC-DARTS)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2, *,
                 part: str = "head"):
        super().__init__()
        if stride != 1 or not 0 < out_channels <= in_channels:
            raise ShapeError(f"slice_{part} takes 1..{in_channels} of its {in_channels} input channels "
                             f"with stride 1, got {out_channels} channels, stride {stride}")
        self.cin, self.cout, self.part = in_channels, out_channels, part

    def _range(self):
        return slice(0, self.cout) if self.part == "head" else slice(self.cin - self.cout, self.cin)

    def kernel(self, p: Params, x: torch.Tensor, groups: int) -> torch.Tensor:
        if groups == 1:
            return x[:, self._range()]
        B, sp = x.shape[0], tuple(x.shape[2:])
        return x.reshape((B, groups, self.cin) + sp)[:, :, self._range()].reshape((B, groups * self.cout) + sp)


def _k(cls, **fixed):
    def factory(in_channels, out_channels, stride=1, dims=2, **options):
        return cls(in_channels, out_channels, stride, dims, **fixed, **options)

    factory.__name__ = cls.__name__
    return factory


register_op("none", Zero, spatial=None)
register_op("max_pool_3x3", _k(Pool, kind="max"), spatial=True)
register_op("avg_pool_3x3", _k(Pool, kind="avg"), spatial=True)
register_op("skip_connect", SkipConnect, spatial=True)
register_op("sep_conv_3x3", _k(SepConv, kernel_size=3), spatial=True)
register_op("sep_conv_5x5", _k(SepConv, kernel_size=5), spatial=True)
register_op("dil_conv_3x3", _k(DilConv, kernel_size=3), spatial=True)
register_op("dil_conv_5x5", _k(DilConv, kernel_size=5), spatial=True)
register_op("relu_conv_bn_1x1", ReLUConvBN, spatial=True)
register_op("slice_head", _k(ChannelSlice, part="head"), spatial=None)
register_op("slice_tail", _k(ChannelSlice, part="tail"), spatial=None)
