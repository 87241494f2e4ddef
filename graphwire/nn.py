"""Sparse layers where every weight is an edge (Discovering Neural Wirings, section "sparse networks").

``DNWConv2d`` and ``DNWLinear`` are drop-in ``nn.Conv2d`` / ``nn.Linear`` whose forward pass uses
only the largest-magnitude weights: ``prune_rate`` is the fraction set to zero (exactly
``int(prune_rate * numel)`` of them, as in the reference code), chosen afresh from ``|w|`` at every
forward pass with ``torch.topk``. The backward pass gives every weight, pruned ones included, the
gradient of the weight actually used (straight-through), so a pruned weight that would help grows
back into the top-k. Biases stay dense.

:func:`sparsify` swaps a model's ``Conv2d`` / ``Linear`` layers for these in place.

>>> import torch, graphwire as gw
>>> m = gw.nn.sparsify(torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)), 0.75)
>>> int((m[0].sparse_weight() == 0).sum()), type(m[2]).__name__
(48, 'DNWLinear')
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ParameterError
from .wiring.dnw import StraightThrough, topk_mask

__all__ = ["DNWConv2d", "DNWLinear", "sparsify", "check_prune_rate"]


def check_prune_rate(prune_rate) -> float:
    """``prune_rate`` as a float in [0, 1) (the fraction of weights set to zero)."""
    if isinstance(prune_rate, bool) or not isinstance(prune_rate, numbers.Real) or not math.isfinite(prune_rate) \
            or not 0.0 <= float(prune_rate) < 1.0:
        raise ParameterError(f"prune_rate must be a number in [0, 1) (the fraction of weights zeroed), "
                             f"got {prune_rate!r}")
    return float(prune_rate)


class _TopKWeight:
    """Shared by the DNW layers: the weight used in the forward pass."""

    prune_rate: float
    weight: nn.Parameter

    @property
    def kept(self) -> int:
        """How many weights the forward pass uses."""
        n = self.weight.numel()
        return n - int(self.prune_rate * n)

    def weight_mask(self) -> torch.Tensor:
        """0/1 mask (weight-shaped) of the weights in the current top-k."""
        w = self.weight.detach()
        return topk_mask(w.abs().flatten(), self.kept).view_as(w)

    def sparse_weight(self) -> torch.Tensor:
        """The weight of the forward pass: top-k entries kept, straight-through gradient to all."""
        if self.prune_rate == 0.0:
            return self.weight
        return StraightThrough.apply(self.weight, self.weight_mask())


class DNWConv2d(_TopKWeight, nn.Conv2d):
    """``nn.Conv2d`` whose forward uses the ``1 - prune_rate`` largest-magnitude weights (see module doc)."""

    def __init__(self, *args, prune_rate: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.prune_rate = check_prune_rate(prune_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.sparse_weight(), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", prune_rate={self.prune_rate}"


class DNWLinear(_TopKWeight, nn.Linear):
    """``nn.Linear`` whose forward uses the ``1 - prune_rate`` largest-magnitude weights (see module doc)."""

    def __init__(self, *args, prune_rate: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.prune_rate = check_prune_rate(prune_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.sparse_weight(), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", prune_rate={self.prune_rate}"


def _swap(m: nn.Module, prune_rate: float) -> nn.Module:
    w = m.weight
    kw = dict(bias=m.bias is not None, device=w.device, dtype=w.dtype, prune_rate=prune_rate)
    if type(m) is nn.Conv2d:
        new = DNWConv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                        m.groups, padding_mode=m.padding_mode, **kw)
    else:
        new = DNWLinear(m.in_features, m.out_features, **kw)
    new.load_state_dict(m.state_dict())
    for p_new, p_old in zip(new.parameters(), m.parameters()):
        p_new.requires_grad_(p_old.requires_grad)
    return new.train(m.training)


def sparsify(model: nn.Module, prune_rate: float, keep_first_dense: bool = False) -> nn.Module:
    """Swap ``model``'s ``nn.Conv2d`` and ``nn.Linear`` layers for :class:`DNWConv2d` /
    :class:`DNWLinear` with ``prune_rate`` (in place; returns the model).

    Existing weights and biases are copied. ``keep_first_dense=True`` leaves the first such layer
    (in ``model.modules()`` order) dense, as the paper does for ResNet-50's first convolution.
    Layers that already are DNW layers get the new ``prune_rate``. Subclasses of ``Conv2d`` /
    ``Linear`` are left alone (their own forward might not survive a swap). A layer shared by
    several parents is swapped once and stays shared.

    >>> import torch
    >>> m = sparsify(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 8, 3)), 0.9,
    ...              keep_first_dense=True)
    >>> [type(x).__name__ for x in m]
    ['Conv2d', 'DNWConv2d']
    """
    prune_rate = check_prune_rate(prune_rate)
    if not isinstance(model, nn.Module):
        raise ParameterError(f"sparsify needs an nn.Module, got {type(model).__name__}")
    if not isinstance(keep_first_dense, bool):
        raise ParameterError(f"keep_first_dense must be True or False, got {keep_first_dense!r}")

    def target(m):
        return type(m) in (nn.Conv2d, nn.Linear) or isinstance(m, (DNWConv2d, DNWLinear))

    layers = [m for m in model.modules() if target(m)]
    skip = {id(layers[0])} if keep_first_dense and layers else set()
    swapped: dict[int, nn.Module] = {}
    for m in layers:
        if id(m) in skip or id(m) in swapped:
            continue
        if isinstance(m, (DNWConv2d, DNWLinear)):
            m.prune_rate = prune_rate
            swapped[id(m)] = m
        else:
            swapped[id(m)] = _swap(m, prune_rate)
    if id(model) in swapped:  # the model is itself one layer
        return swapped[id(model)]
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            new = swapped.get(id(child))
            if new is not None and new is not child:
                setattr(parent, name, new)
    return model
