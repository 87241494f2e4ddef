"""Stacked ops: the G nodes of one plan step as ONE module, every tensor with a leading node axis.

Why: a module per node costs a Python object graph to build and an autograd leaf per tensor at
every step; at 10k+ nodes that, not the arithmetic, was the cost of compiling and training.
A stacked op holds ``fc.weight`` as ``[G, out, in]`` instead of G ``[out, in]``
tensors, so a step is one kernel on one leaf whatever G is.

The contract (what :class:`~graphwire.compiler.module.WiredNet` relies on):

- every parameter and buffer has a leading node axis of size G, and its names are the per-node
  op's (``fc.weight``, ``bn.running_mean``...): node g's state-dict entry ``name`` is
  ``tensor[g]``. That is how saved state dicts stay keyed by node label
  (``nodes.<label>.fc.weight``) whether a node is stacked or not;
- ``reset_node(g)`` initialises node g with exactly the random draws of the per-node op, so a
  seeded network is the same stacked or not;
- ``forward(x)``: the G nodes at once, inputs and outputs stacked on the channel axis;
- ``node_forward(g, x)``: node g alone (the per-node reference executor);
- ``node_class``: the per-node op, for :meth:`node_module`, a view of one node.

Register a stacked form with ``register_op(name, factory, stacked=StackedFactory)``; ops without
one keep a module per node.
"""

from __future__ import annotations

import abc
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["StackedOp", "StackedBatchNorm", "Tensors"]


class Tensors(nn.Module):
    """A plain holder of named parameters (``fc`` of a stacked linear: ``fc.weight``, ``fc.bias``)."""

    def __init__(self, **params: torch.Tensor | None):
        super().__init__()
        for name, t in params.items():
            self.register_parameter(name, None if t is None else nn.Parameter(t))


class StackedBatchNorm(nn.Module):
    """G BatchNorms of C channels each (momentum 0.1, eps 1e-5, as ``nn.BatchNorm``'s defaults),
    numerically the same as G separate ones: ``weight``/``running_mean``... are ``[G, C]`` and
    ``num_batches_tracked`` is ``[G]``."""

    momentum = 0.1
    eps = 1e-5

    def __init__(self, groups: int, channels: int, affine: bool = True):
        super().__init__()
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(groups, channels))
            self.bias = nn.Parameter(torch.zeros(groups, channels))
        self.register_buffer("running_mean", torch.zeros(groups, channels))
        self.register_buffer("running_var", torch.ones(groups, channels))
        self.register_buffer("num_batches_tracked", torch.zeros(groups, dtype=torch.long))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.num_batches_tracked.add_(1)
        w = self.weight.reshape(-1) if self.affine else None
        b = self.bias.reshape(-1) if self.affine else None
        # the [G, C] buffers are contiguous: their flat views are updated in place by F.batch_norm
        return F.batch_norm(y, self.running_mean.view(-1), self.running_var.view(-1), w, b, self.training,
                            self.momentum, self.eps)

    def node_forward(self, g: int, y: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.num_batches_tracked[g].add_(1)
        w = self.weight[g] if self.affine else None
        b = self.bias[g] if self.affine else None
        return F.batch_norm(y, self.running_mean[g], self.running_var[g], w, b, self.training, self.momentum,
                            self.eps)


class StackedOp(nn.Module, metaclass=abc.ABCMeta):
    """Base of the stacked ops (see the module doc for the contract)."""

    node_class: type[nn.Module]
    input_params: dict[str, int] = {}

    def __init__(self, groups: int, in_channels: int, out_channels: int, *, stride: int = 1, dims: int = 2,
                 **options: Any):
        super().__init__()
        self.groups, self.in_channels, self.out_channels = groups, in_channels, out_channels
        self.stride, self.dims, self.options = stride, dims, dict(options)

    def reset_node(self, g: int) -> None:
        """Initialise node ``g`` as ``node_class`` initialises itself (same draws, same order);
        nothing to do for an op without random initialisation."""

    @abc.abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The G nodes at once: ``[B, G*in, ...] -> [B, G*out, ...]``."""

    @abc.abstractmethod
    def node_forward(self, g: int, x: torch.Tensor) -> torch.Tensor:
        """Node ``g`` alone: ``[B, in, ...] -> [B, out, ...]``."""

    def node_module(self, g: int) -> nn.Module:
        """Node ``g`` as a ``node_class`` module whose tensors share this module's storage: reading
        it, or editing it in place, reads or edits the network. (Calling it runs node g alone;
        gradients then reach the view, not the network: train through the network.)"""
        with torch.device("meta"):  # no allocation and no random draws: every tensor is replaced
            m = self.node_class(self.in_channels, self.out_channels, stride=self.stride, dims=self.dims,
                                **self.options)
        for name, t in self.state_dict(keep_vars=True).items():
            path, _, leaf = name.rpartition(".")
            owner = m.get_submodule(path) if path else m
            if leaf in owner._parameters:
                owner._parameters[leaf] = nn.Parameter(t[g].detach(), requires_grad=t.requires_grad)
            else:
                owner._buffers[leaf] = t[g]
        return m.train(self.training)

    def extra_repr(self) -> str:
        return f"groups={self.groups}, {self.in_channels} -> {self.out_channels}, stride={self.stride}"
