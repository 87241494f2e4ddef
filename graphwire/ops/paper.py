"""Node ops the papers' evaluation networks need besides the built-in ones.

====================  =====================================================================
``drop_path``         drop-path (FractalNet; used by DARTS' evaluation networks): in training,
                      zeroes a node's whole output for a random ``p`` of the samples and
                      scales the rest by ``1 / (1 - p)``; in evaluation the identity
``dw_separable``      MobileNet V1's depthwise separable block: 3x3 depthwise (stride) ->
                      BatchNorm -> ReLU -> 1x1 pointwise -> BatchNorm -> ReLU
====================  =====================================================================

``drop_path`` keeps the channel count; its probability is the module attribute
``drop_path_prob`` (0 when built, ``p=`` op option), which a model changes during training (DARTS
raises it linearly over the epochs: ``graphwire.train.fit(drop_path=...)`` does that). Both ops
write their math once, as a kernel (:mod:`graphwire.ops.step`) the batched executor runs on a
step's nodes at once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError, ShapeError
from .fused import conv_fn as _conv
from .registry import register_op
from .step import KernelOp, Params

__all__ = ["DropPath", "DepthwiseSeparable"]


class DropPath(KernelOp):
    """Per-sample drop of the whole input with probability ``drop_path_prob`` (training only)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2, *, p: float = 0.0):
        super().__init__()
        if in_channels != out_channels or stride != 1:
            raise ShapeError(f"drop_path op keeps the shape: needs in_channels == out_channels and stride 1, "
                             f"got {in_channels} -> {out_channels}, stride {stride}")
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ParameterError(f"drop_path op: p must be a probability in [0, 1), got {p!r}")
        self.drop_path_prob = float(p)

    def _mask(self, x: torch.Tensor, groups: int) -> torch.Tensor:
        keep = 1.0 - self.drop_path_prob
        shape = (x.shape[0], groups) + (1,) * (x.dim() - 1)
        m = torch.empty(shape, device=x.device, dtype=x.dtype).bernoulli_(keep) / keep
        return m

    def kernel(self, p: Params, x: torch.Tensor, groups: int) -> torch.Tensor:
        if not self.training or self.drop_path_prob <= 0.0:
            return x
        B, rest = x.shape[0], tuple(x.shape[2:])
        y = x.reshape((B, groups, x.shape[1] // groups) + rest)
        return (y * self._mask(x, groups)).reshape(x.shape)

    def extra_repr(self) -> str:
        return f"drop_path_prob={self.drop_path_prob}"


class DepthwiseSeparable(KernelOp):
    """MobileNet V1's block: depthwise 3x3 (stride) -> BN -> ReLU -> pointwise 1x1 -> BN -> ReLU (2-D)."""

    input_params = {"dw.weight": 0, "pw.weight": 1}

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2):
        super().__init__()
        if dims != 2:
            raise ParameterError(f"dw_separable op works on images (dims=2), got dims={dims!r}")
        self.stride, self.cin = stride, in_channels
        self.dw = nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.pw = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def kernel(self, p: Params, x: torch.Tensor, groups: int) -> torch.Tensor:
        y = _conv(2)(x, p("dw.weight"), None, self.stride, 1, 1, groups * self.cin)
        y = F.relu(p.norm("bn1", y))
        y = _conv(2)(y, p("pw.weight"), None, 1, 0, 1, groups)
        return F.relu(p.norm("bn2", y))


register_op("drop_path", DropPath, spatial=None)
register_op("dw_separable", DepthwiseSeparable, spatial=True)
