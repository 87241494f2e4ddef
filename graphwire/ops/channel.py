"""The single-channel node op of Discovering Neural Wirings: ``channel``.

A channel node is one feature map: BatchNorm -> ReLU -> k x k depthwise convolution (one input
channel, one output channel; ``stride`` on the node's first convolution). ``norm="instance"``
(op option) swaps the BatchNorm for an affine InstanceNorm, as the reference's tiny models have. A node fed a
``C``-channel tensor (``in_channels = C > 1``, only possible at a graph's input, e.g. the image)
first reduces it to its own channel with a ``stem_kernel`` convolution -- its slice of a stem
convolution such as MobileNet's ``conv1`` -- and then runs BatchNorm -> ReLU -> depthwise conv.

Its kernel runs a step of G channel nodes as ONE BatchNorm over G channels and ONE grouped
(depthwise) convolution; the batched executor's aggregation over earlier steps (one matmul per
source step against a ``[G, J]`` coefficient block) is then exactly a masked 1 x 1 convolution
over the earlier channels. A ``layered`` graph of channel nodes therefore runs as one masked 1 x 1
conv over earlier blocks plus one grouped depthwise conv per block, with no per-node Python.

>>> import torch, graphwire as gw
>>> G = gw.generators.layered([4, 8, 8, 2])
>>> net = gw.compile(G, in_channels=1, channels=1, default_op="channel")
>>> len(net.plan.steps), net(torch.randn(2, 1, 8, 8)).shape
(4, torch.Size([2, 2, 8, 8]))
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError, ShapeError
from .fused import batch_norm as _bn, conv_fn as _conv
from .registry import register_op
from .step import KernelOp, Params

__all__ = ["NORMS", "ChannelNode"]

#: The channel op's ``norm`` option: BatchNorm (default) or affine InstanceNorm (the reference's tiny models).
NORMS = ("batch", "instance")



class ChannelNode(KernelOp):
    """[stem conv C->1 when C > 1] -> norm -> ReLU -> k x k depthwise conv, on one channel.

    Parameters: ``bn`` (a 1-channel BatchNorm) or, with ``norm="instance"``, ``norm`` (a
    1-channel affine InstanceNorm), ``weight`` (``[1, 1, k(, k)]``, the depthwise kernel) and,
    for ``in_channels > 1``, ``stem`` (``[1, C, s(, s)]``). Kernels start as ``nn.Conv2d`` would
    (uniform in +-1/sqrt(fan_in)), as in the DNW code.

    ``norm``: ``"batch"`` (default; running statistics in evaluation) or ``"instance"``: the
    reference's static tiny model (allenai/dnw ``StaticNeuralGraph``) normalises each node with
    ``InstanceNorm2d(affine=True)``, i.e. per-sample statistics over the node's own map, the same
    computation in training and evaluation, and no running statistics.
    """

    input_params = {"stem": 1}

    def __init__(self, in_channels: int, out_channels: int = 1, stride: int = 1, dims: int = 2,
                 kernel_size: int = 3, stem_kernel: int | None = None, norm: str = "batch"):
        super().__init__()
        if norm not in NORMS:
            raise ParameterError(f"channel op: norm must be one of {', '.join(map(repr, NORMS))}, got {norm!r}")
        if out_channels != 1:
            raise ShapeError(f"channel op: a channel node has exactly one output channel, got "
                             f"out_channels={out_channels} (compile with channels=1)")
        if dims not in (1, 2):
            raise ParameterError(f"channel op: dims must be 1 or 2, got {dims!r}")
        for name, k in (("kernel_size", kernel_size), ("stem_kernel", stem_kernel)):
            if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0):
                raise ParameterError(f"channel op: {name} must be an odd positive integer, got {k!r}")
        sk = kernel_size if stem_kernel is None else stem_kernel
        self.dims, self.stride, self.kernel_size, self.stem_kernel = dims, stride, kernel_size, sk
        self.cin = in_channels
        if in_channels > 1:
            bound = 1.0 / math.sqrt(in_channels * sk ** dims)
            self.stem = nn.Parameter(torch.empty((1, in_channels) + (sk,) * dims).uniform_(-bound, bound))
        else:
            self.stem = None
        self.norm_kind = norm
        if norm == "batch":
            self.bn = _bn(dims, 1)
        else:
            self.norm = (nn.InstanceNorm1d if dims == 1 else nn.InstanceNorm2d)(1, affine=True)
        bound = 1.0 / math.sqrt(kernel_size ** dims)
        self.weight = nn.Parameter(torch.empty((1, 1) + (kernel_size,) * dims).uniform_(-bound, bound))

    def extra_repr(self) -> str:
        stem = f"stem {self.cin}->1 ({self.stem_kernel}), " if self.stem is not None else ""
        norm = ", norm='instance'" if self.norm_kind == "instance" else ""
        return f"{stem}kernel_size={self.kernel_size}, stride={self.stride}, dims={self.dims}{norm}"

    def kernel(self, p: Params, x: torch.Tensor, groups: int) -> torch.Tensor:
        conv = _conv(self.dims)
        s_dw = self.stride
        if self.stem is not None:
            x = conv(x, p("stem"), None, self.stride, self.stem_kernel // 2, 1, groups)
            s_dw = 1
        if self.norm_kind == "batch":
            x = p.norm("bn", x)
        else:  # G nodes' InstanceNorms: one per-sample, per-channel normalisation
            x = F.instance_norm(x, weight=p("norm.weight"), bias=p("norm.bias"), eps=self.norm.eps)
        return conv(F.relu(x), p("weight"), None, s_dw, self.kernel_size // 2, 1, groups)


register_op("channel", ChannelNode, spatial=True)
