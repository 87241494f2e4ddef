"""Node operations: the registry, the built-in blocks and each method's ops (importing registers them).

| module | ops |
|---|---|
| :mod:`~graphwire.ops.step` | the step-op interface (``StepOp``, ``KernelOp``: an op's math once) |
| :mod:`~graphwire.ops.blocks` | ``conv``, ``sepconv``, ``linear``, ``identity`` |
| :mod:`~graphwire.ops.channel` | ``channel`` (DNW's single-channel node) |
| :mod:`~graphwire.ops.darts` | DARTS' candidate ops (``sep_conv_3x3``, ``max_pool_3x3``, ...) |
| :mod:`~graphwire.ops.depth` | ``dense``, ``dense_relu_bn`` (depth search) |
| :mod:`~graphwire.ops.paper` | ``drop_path``, ``dw_separable`` (DARTS' and MobileNet's evaluation networks) |
| :mod:`~graphwire.ops.resnet` | ``basic_block``, ``bottleneck`` (DDW's ResNets) |
"""

from .registry import OPS, OpSpec, build_op, get_op, register_op
from .step import KernelOp, StepOp
from . import blocks, channel, darts, depth, paper, resnet  # noqa: F401  (importing registers the ops)

__all__ = ["OPS", "OpSpec", "build_op", "get_op", "register_op", "KernelOp", "StepOp"]
