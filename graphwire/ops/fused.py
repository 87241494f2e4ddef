"""Helpers for op kernels (see :mod:`graphwire.ops.step`): G nodes' tensors run as one kernel.

``fused_batch_norm`` is numerically G separate BatchNorms (running statistics included);
``cat_params`` concatenates G nodes' tensors; ``grouped_linear`` is G linear layers as one einsum.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["cat_params", "conv_fn", "fused_batch_norm", "batch_norm", "grouped_linear"]


def cat_params(ts: list[torch.Tensor]) -> torch.Tensor:
    return ts[0] if len(ts) == 1 else torch.cat(ts, 0)


def conv_fn(dims: int):
    return {1: F.conv1d, 2: F.conv2d}[dims]


def fused_batch_norm(x: torch.Tensor, bns: list[nn.modules.batchnorm._BatchNorm], training: bool) -> torch.Tensor:
    """Batch norm of G nodes' channels stacked on dim 1, numerically the same as G separate BNs.

    Running statistics are gathered, updated by one ``F.batch_norm`` and copied back, so each
    node's own BN buffers end up exactly as if it had run alone.
    """
    bn0 = bns[0]
    weight = cat_params([b.weight for b in bns]) if bn0.affine else None
    bias = cat_params([b.bias for b in bns]) if bn0.affine else None
    tracking = bn0.track_running_stats
    factor = 0.0 if bn0.momentum is None else bn0.momentum
    if training and tracking:
        torch._foreach_add_([b.num_batches_tracked for b in bns], 1)
        if bn0.momentum is None:
            factor = 1.0 / float(bn0.num_batches_tracked)
    use_batch = training or not tracking
    rm = cat_params([b.running_mean for b in bns]) if tracking else None
    rv = cat_params([b.running_var for b in bns]) if tracking else None
    out = F.batch_norm(x, rm, rv, weight, bias, use_batch, factor, bn0.eps)
    if training and tracking and len(bns) > 1:
        with torch.no_grad():
            c = bn0.num_features
            torch._foreach_copy_([b.running_mean for b in bns], list(rm.split(c)))
            torch._foreach_copy_([b.running_var for b in bns], list(rv.split(c)))
    return out


def batch_norm(dims: int, channels: int, affine: bool = True) -> nn.Module:
    return (nn.BatchNorm1d if dims in (0, 1) else nn.BatchNorm2d)(channels, affine=affine)


def grouped_linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, groups: int) -> torch.Tensor:
    """G linear layers on G nodes' inputs stacked on dim 1, ``[B, G*in] -> [B, G*out]``, from
    their weights ``[G*out, in]`` and biases ``[G*out]`` (one einsum; ``F.linear`` for G = 1)."""
    if groups == 1:
        return F.linear(x, w, b)
    n = x.shape[0]
    w = w.reshape(groups, -1, w.shape[1])
    y = torch.einsum("bgi,goi->bgo", x.reshape(n, groups, -1), w)
    if b is not None:
        y = y + b.reshape(groups, -1)
    return y.reshape(n, -1)
