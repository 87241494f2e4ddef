"""Node operations: a registry of factories, and the built-in blocks with their fused (grouped) form.

A node op is an ordinary ``nn.Module`` built by ``factory(in_channels, out_channels, stride=,
dims=, **options)``. The batched executor runs the nodes of one step (same op and shape) as ONE
kernel when the op class provides ``fused(params, x, groups, training)``: ``x`` holds the G nodes'
inputs stacked on the channel axis and ``params`` the G nodes' parameters (see ``fusion_params``).
Ops without it still work: the executor then calls the G modules one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GraphError, ParameterError, ShapeError, UnknownOpError

__all__ = ["register_op", "known_ops", "build_op", "OpSpec"]


@dataclass(frozen=True)
class OpSpec:
    name: str
    factory: Callable[..., nn.Module]
    spatial: bool | None  # True: conv-like (needs dims), False: vectors, None: any


_REGISTRY: dict[str, OpSpec] = {}


def register_op(name: str, factory: Callable[..., nn.Module] | None = None, *,
                spatial: bool | None = None, overwrite: bool = False):
    """Register a node operation under ``name`` (usable as a decorator).

    The factory is called as ``factory(in_channels, out_channels, stride=s, dims=d, **options)``
    and returns an ``nn.Module`` mapping ``[B, in_channels, ...]`` to ``[B, out_channels, ...]``.

    >>> import torch.nn as nn, graphwire as gw
    >>> gw.register_op("tanh_linear", lambda cin, cout, stride, dims: nn.Sequential(
    ...     nn.Linear(cin, cout), nn.Tanh()), spatial=False, overwrite=True)
    """
    if not isinstance(name, str) or not name:
        raise ParameterError(f"op name must be a non-empty string, got {name!r}")

    def add(f: Callable[..., nn.Module]):
        if not callable(f):
            raise ParameterError(f"op {name!r}: factory must be callable, got {f!r}")
        if name in _REGISTRY and not overwrite:
            raise ParameterError(f"op {name!r} is already registered (pass overwrite=True to replace it)")
        _REGISTRY[name] = OpSpec(name, f, spatial)
        return f

    return add if factory is None else add(factory)


def known_ops() -> list[str]:
    """Names of the registered node operations."""
    return sorted(_REGISTRY)


def get_op(name: str, where: str = "") -> OpSpec:
    if name not in _REGISTRY:
        raise UnknownOpError(
            f"unknown op {name!r}{where}; known ops: {known_ops()} "
            "(register your own with graphwire.register_op)")
    return _REGISTRY[name]


def build_op(name: str, in_channels: int, out_channels: int, *, stride: int = 1, dims: int = 2,
             options: dict | None = None, where: str = "") -> nn.Module:
    spec = get_op(name, where)
    try:
        return spec.factory(in_channels, out_channels, stride=stride, dims=dims, **(options or {}))
    except GraphError as exc:
        raise type(exc)(f"op {name!r}{where}: {exc}") from None
    except TypeError as exc:
        raise ParameterError(f"op {name!r}{where}: cannot build with in_channels={in_channels}, "
                             f"out_channels={out_channels}, stride={stride}, options={options}: {exc}") from None


# ------------------------------------------------------------------ fused helpers
def _cat(ts: list[torch.Tensor]) -> torch.Tensor:
    return ts[0] if len(ts) == 1 else torch.cat(ts, 0)


def _conv(dims: int):
    return {1: F.conv1d, 2: F.conv2d}[dims]


def fused_batch_norm(x: torch.Tensor, bns: list[nn.modules.batchnorm._BatchNorm], training: bool) -> torch.Tensor:
    """Batch norm of G nodes' channels stacked on dim 1, numerically the same as G separate BNs.

    Running statistics are gathered, updated by one ``F.batch_norm`` and copied back, so each
    node's own BN buffers end up exactly as if it had run alone.
    """
    bn0 = bns[0]
    weight = _cat([b.weight for b in bns]) if bn0.affine else None
    bias = _cat([b.bias for b in bns]) if bn0.affine else None
    tracking = bn0.track_running_stats
    factor = 0.0 if bn0.momentum is None else bn0.momentum
    if training and tracking:
        torch._foreach_add_([b.num_batches_tracked for b in bns], 1)
        if bn0.momentum is None:
            factor = 1.0 / float(bn0.num_batches_tracked)
    use_batch = training or not tracking
    rm = _cat([b.running_mean for b in bns]) if tracking else None
    rv = _cat([b.running_var for b in bns]) if tracking else None
    out = F.batch_norm(x, rm, rv, weight, bias, use_batch, factor, bn0.eps)
    if training and tracking and len(bns) > 1:
        with torch.no_grad():
            c = bn0.num_features
            torch._foreach_copy_([b.running_mean for b in bns], list(rm.split(c)))
            torch._foreach_copy_([b.running_var for b in bns], list(rv.split(c)))
    return out


def _bn(dims: int, channels: int, affine: bool = True) -> nn.Module:
    return (nn.BatchNorm1d if dims in (0, 1) else nn.BatchNorm2d)(channels, affine=affine)


def _grouped_linear(x: torch.Tensor, ws: list[torch.Tensor], bs: list[torch.Tensor], groups: int) -> torch.Tensor:
    """G linear layers on G nodes' inputs stacked on dim 1: ``[B, G*in] -> [B, G*out]``."""
    b = x.shape[0]
    y = torch.einsum("bgi,goi->bgo", x.reshape(b, groups, -1), torch.stack(ws)) + torch.stack(bs)
    return y.reshape(b, -1)


# ------------------------------------------------------------------ built-in ops
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


register_op("conv", ConvBlock, spatial=True)
register_op("sepconv", SepConvBlock, spatial=True)
register_op("linear", LinearBlock, spatial=False)
register_op("identity", Identity, spatial=None)
