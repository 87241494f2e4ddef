"""Counting a model's floating-point operations with PyTorch's own ``FlopCounterMode``."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_flops"]


@torch.no_grad()
def count_flops(model: nn.Module, input_shape: tuple[int, ...] | torch.Tensor) -> int:
    """FLOPs of one forward pass in eval mode (2 per multiply-add, convolutions and matmuls only,
    as ``torch.utils.flop_counter`` counts them). Every node runs (closed-node skipping is turned
    off), so for a dynamic wiring this is the dense upper bound; its savings show in ``exec_rate``.

    >>> import graphwire as gw
    >>> net = gw.compile(gw.generators.chain(1), in_channels=3, channels=4)
    >>> count_flops(net, (1, 3, 8, 8)) > 0
    True
    """
    device = next(model.parameters()).device
    x = input_shape if isinstance(input_shape, torch.Tensor) else torch.zeros(input_shape, device=device)
    wired: list = [m for m in model.modules() if hasattr(m, "skip_closed")]
    saved = [m.skip_closed for m in wired]
    was = model.training
    model.eval()
    try:
        for m in wired:
            m.skip_closed = False
        with FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        for m, s in zip(wired, saved):
            m.skip_closed = s
        model.train(was)
    return int(counter.get_total_flops())
