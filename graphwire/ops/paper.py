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
have the fused form the batched executor uses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError, ShapeError
from .fused import cat_params as _cat, conv_fn as _conv, fused_batch_norm
from .registry import register_op

__all__ = ["DropPath", "DepthwiseSeparable"]


class DropPath(nn.Module):
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

    def forward(self, x):
        if not self.training or self.drop_path_prob <= 0.0:
            return x
        return x * self._mask(x, 1)[:, 0]

    @staticmethod
    def fusion_params(mods):
        return {}

    def fused(self, p, x, groups: int, training: bool):
        if not training or self.drop_path_prob <= 0.0:
            return x
        B, rest = x.shape[0], tuple(x.shape[2:])
        y = x.reshape((B, groups, x.shape[1] // groups) + rest)
        return (y * self._mask(x, groups)).reshape(x.shape)

    def extra_repr(self) -> str:
        return f"drop_path_prob={self.drop_path_prob}"


class DepthwiseSeparable(nn.Module):
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

    def forward(self, x):
        return F.relu(self.bn2(self.pw(F.relu(self.bn1(self.dw(x))))))

    @staticmethod
    def fusion_params(mods):
        return {"dw": [m.dw.weight for m in mods], "bn1": [m.bn1 for m in mods],
                "pw": [m.pw.weight for m in mods], "bn2": [m.bn2 for m in mods]}

    def fused(self, p, x, groups: int, training: bool):
        y = _conv(2)(x, _cat(p["dw"]), None, self.stride, 1, 1, groups * self.cin)
        y = F.relu(fused_batch_norm(y, p["bn1"], training))
        y = _conv(2)(y, _cat(p["pw"]), None, 1, 0, 1, groups)
        return F.relu(fused_batch_norm(y, p["bn2"], training))


register_op("drop_path", DropPath, spatial=None)
register_op("dw_separable", DepthwiseSeparable, spatial=True)
