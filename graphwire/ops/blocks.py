"""The built-in node ops: ``conv``, ``sepconv``, ``linear`` and ``identity``, with their fused forms."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError, ShapeError
from .fused import batch_norm as _bn, cat_params as _cat, conv_fn as _conv, fused_batch_norm, grouped_linear as _grouped_linear
from .registry import register_op
from .stacked import StackedBatchNorm, StackedOp, Tensors

__all__ = ["ConvBlock", "SepConvBlock", "LinearBlock", "Identity", "StackedConv", "StackedSepConv",
           "StackedLinear", "StackedIdentity"]


class ConvBlock(nn.Module):
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

    def forward(self, x):
        return self.bn(self.conv(F.relu(x)))

    @staticmethod
    def fusion_params(mods):
        return {"w": [m.conv.weight for m in mods], "bn": [m.bn for m in mods]}

    def fused(self, p, x, groups: int, training: bool):
        y = _conv(self.dims)(F.relu(x), _cat(p["w"]), None, self.stride, self.padding, 1, groups)
        return fused_batch_norm(y, p["bn"], training)


class SepConvBlock(nn.Module):
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

    def forward(self, x):
        return self.bn(self.pw(self.dw(F.relu(x))))

    @staticmethod
    def fusion_params(mods):
        return {"dw": [m.dw.weight for m in mods], "pw": [m.pw.weight for m in mods], "bn": [m.bn for m in mods]}

    def fused(self, p, x, groups: int, training: bool):
        y = _conv(self.dims)(F.relu(x), _cat(p["dw"]), None, self.stride, self.padding, self.dilation,
                             groups * self.cin)
        # The grouped pointwise conv as one batched matmul: [G, out, in] @ [B, G, in, L].
        b, spatial = y.shape[0], y.shape[2:]
        w = torch.stack(p["pw"]).flatten(2)
        y = torch.matmul(w, y.reshape(b, groups, self.cin, -1)).reshape((b, -1) + tuple(spatial))
        return fused_batch_norm(y, p["bn"], training)


class LinearBlock(nn.Module):
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

    def forward(self, x):
        return F.relu(self.bn(self.fc(x)))

    @staticmethod
    def fusion_params(mods):
        return {"w": [m.fc.weight for m in mods], "b": [m.fc.bias for m in mods], "bn": [m.bn for m in mods]}

    def fused(self, p, x, groups: int, training: bool):
        y = _grouped_linear(x, p["w"], p["b"], groups)
        return F.relu(fused_batch_norm(y, p["bn"], training))


class Identity(nn.Module):
    """Passes its (aggregated) input on: for output/aggregation-only nodes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2):
        super().__init__()
        if in_channels != out_channels or stride != 1:
            raise ShapeError(f"identity op needs in_channels == out_channels and stride 1, got "
                             f"{in_channels} -> {out_channels}, stride {stride}")

    def forward(self, x):
        return x

    @staticmethod
    def fusion_params(mods):
        return {}

    def fused(self, p, x, groups: int, training: bool):
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

    def forward(self, x):
        w = self.conv.weight.flatten(0, 1)
        y = _conv(self.dims)(F.relu(x), w, None, self.stride, self.padding, 1, self.groups)
        return self.bn(y)

    def node_forward(self, g, x):
        return self.bn.node_forward(g, _conv(self.dims)(F.relu(x), self.conv.weight[g], None, self.stride,
                                                        self.padding))


class StackedSepConv(StackedOp):
    """G :class:`SepConvBlock` nodes: one depthwise conv over all G x in channels, then the G
    pointwise convs as one batched matmul."""

    node_class = SepConvBlock
    input_params = SepConvBlock.input_params

    def __init__(self, groups, in_channels, out_channels, *, stride=1, dims=2, kernel_size: int = 3,
                 dilation: int = 1, affine: bool = True):
        super().__init__(groups, in_channels, out_channels, stride=stride, dims=dims, kernel_size=kernel_size,
                         dilation=dilation, affine=affine)
        if dims not in (1, 2):
            raise ParameterError(f"sepconv op: dims must be 1 or 2, got {dims!r}")
        self.dilation, self.padding = dilation, dilation * (kernel_size // 2)
        self.dw = Tensors(weight=torch.empty((groups, in_channels, 1) + _spatial(dims, kernel_size)))
        self.pw = Tensors(weight=torch.empty((groups, out_channels, in_channels) + _spatial(dims, 1)))
        self.bn = StackedBatchNorm(groups, out_channels, affine)

    def reset_node(self, g):
        _kaiming(self.dw.weight[g])
        _kaiming(self.pw.weight[g])

    def forward(self, x):
        cin, G = self.in_channels, self.groups
        y = _conv(self.dims)(F.relu(x), self.dw.weight.flatten(0, 1), None, self.stride, self.padding,
                             self.dilation, G * cin)
        b, spatial = y.shape[0], y.shape[2:]
        y = torch.matmul(self.pw.weight.flatten(2), y.reshape(b, G, cin, -1)).reshape((b, -1) + tuple(spatial))
        return self.bn(y)

    def node_forward(self, g, x):
        conv = _conv(self.dims)
        y = conv(F.relu(x), self.dw.weight[g], None, self.stride, self.padding, self.dilation, self.in_channels)
        return self.bn.node_forward(g, conv(y, self.pw.weight[g]))


class StackedLinear(StackedOp):
    """G :class:`LinearBlock` nodes: ``fc.weight`` ``[G, out, in]``, one batched matmul."""

    node_class = LinearBlock
    input_params = LinearBlock.input_params

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

    def forward(self, x):
        if self.groups == 1:
            y = F.linear(x, self.fc.weight[0], self.fc.bias[0])
        else:
            b = x.shape[0]
            y = (torch.einsum("bgi,goi->bgo", x.reshape(b, self.groups, -1), self.fc.weight) + self.fc.bias).reshape(b, -1)
        return F.relu(self.bn(y))

    def node_forward(self, g, x):
        return F.relu(self.bn.node_forward(g, F.linear(x, self.fc.weight[g], self.fc.bias[g])))


class StackedIdentity(StackedOp):
    """G :class:`Identity` nodes (no tensors)."""

    node_class = Identity

    def __init__(self, groups, in_channels, out_channels, *, stride=1, dims=2):
        super().__init__(groups, in_channels, out_channels, stride=stride, dims=dims)
        Identity(in_channels, out_channels, stride)  # its shape checks

    def forward(self, x):
        return x

    def node_forward(self, g, x):
        return x


register_op("conv", ConvBlock, spatial=True, stacked=StackedConv)
register_op("sepconv", SepConvBlock, spatial=True, stacked=StackedSepConv)
register_op("linear", LinearBlock, spatial=False, stacked=StackedLinear)
register_op("identity", Identity, spatial=None, stacked=StackedIdentity)
