"""Stacked ops: the G nodes of one plan step as ONE module, every tensor with a leading node axis.

Why: a module per node costs a Python object graph to build and an autograd leaf per tensor at
every step; at 10k+ nodes that, not the arithmetic, was the cost of compiling and training. A
stacked op holds ``fc.weight`` as ``[G, out, in]`` instead of G ``[out, in]`` tensors, so a step is
one kernel on one leaf whatever G is.

A stacked op is a :class:`~graphwire.ops.step.StepOp`. The contract (what
:class:`~graphwire.compiler.module.WiredNet` relies on):

- every parameter and buffer has a leading node axis of size G, and its names are the per-node
  op's (``fc.weight``, ``bn.running_mean``...): node g's state-dict entry ``name`` is
  ``tensor[g]``. That is how saved state dicts stay keyed by node label
  (``nodes.<label>.fc.weight``) whether a node is stacked or not;
- ``reset_node(g)`` initialises node g with exactly the random draws of the per-node op, so a
  seeded network is the same stacked or not;
- ``kernel(p, x, groups)``: the op's math, shared with the per-node op ``node_class`` (a
  :class:`~graphwire.ops.step.KernelOp`); ``forward(x)`` runs it on all G nodes and
  ``node_forward(g, x)`` on node g alone;
- ``node_class``: the per-node op, for :meth:`StackedOp.node_module`, a view of one node.

Register a stacked form with ``register_op(name, factory, stacked=StackedFactory)``; ops without
one keep a module per node.
"""

from __future__ import annotations

import abc
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .step import Params, attr_path

__all__ = ["StackedOp", "StackedParams", "StackedBatchNorm", "Tensors"]


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

    def node_forward(self, g: int, y: torch.Tensor, weight: torch.Tensor | None = None,
                     bias: torch.Tensor | None = None) -> torch.Tensor:
        """Node ``g`` alone (``weight``/``bias``: node g's affine parameters when the caller
        already has them as views)."""
        if self.training:
            self.num_batches_tracked[g].add_(1)
        w = (self.weight[g] if weight is None else weight) if self.affine else None
        b = (self.bias[g] if bias is None else bias) if self.affine else None
        return F.batch_norm(y, self.running_mean[g], self.running_var[g], w, b, self.training, self.momentum,
                            self.eps)


class StackedParams(Params):
    """A stacked op's tensors as a kernel reads them: all G nodes (``node=None``) or node ``g``.
    ``views``: a dict shared by the G nodes of one call, where each tensor is split into node
    views once (one autograd node per tensor, not one per node)."""

    __slots__ = ("op", "node", "prefix", "views")

    def __init__(self, op: nn.Module, node: int | None = None, prefix: str = "", views: dict | None = None):
        self.op, self.node, self.prefix, self.views = op, node, prefix, views

    def _node(self, name: str) -> torch.Tensor:
        t: torch.Tensor = attr_path(self.op, name)  # type: ignore[assignment]
        if self.views is None:
            return t[self.node]
        parts = self.views.get(name)
        if parts is None:
            parts = self.views[name] = t.unbind(0)
        return parts[self.node]  # type: ignore[index]

    def __call__(self, name: str) -> torch.Tensor:
        if self.node is None:
            t: torch.Tensor = attr_path(self.op, self.prefix + name)  # type: ignore[assignment]
            return t.flatten(0, 1)
        return self._node(self.prefix + name)

    def norm(self, name: str, y: torch.Tensor) -> torch.Tensor:
        path = self.prefix + name
        bn = attr_path(self.op, path)
        if self.node is None:
            return bn(y)  # type: ignore[operator]
        if not bn.affine:  # type: ignore[attr-defined]
            return bn.node_forward(self.node, y)  # type: ignore[attr-defined]
        return bn.node_forward(self.node, y, self._node(path + ".weight"), self._node(path + ".bias"))  # type: ignore[attr-defined]

    def sub(self, prefix: str) -> "StackedParams":
        return StackedParams(self.op, self.node, f"{self.prefix}{prefix}.", self.views)


class StackedOp(nn.Module, metaclass=abc.ABCMeta):
    """Base of the stacked ops (see the module doc for the contract): a subclass gives the
    tensors, ``reset_node`` and ``kernel`` (usually inherited from the per-node op's math)."""

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
    def kernel(self, p: Params, x: torch.Tensor, groups: int) -> torch.Tensor:
        """The op's math on ``groups`` nodes' tensors ``p`` (see :mod:`graphwire.ops.step`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The G nodes at once: ``[B, G*in, ...] -> [B, G*out, ...]``."""
        return self.kernel(StackedParams(self), x, self.groups)

    def node_forward(self, g: int, x: torch.Tensor) -> torch.Tensor:
        """Node ``g`` alone: ``[B, in, ...] -> [B, out, ...]``."""
        return self.kernel(StackedParams(self, g), x, 1)

    def forward_nodes(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """The G nodes one by one on their own inputs (per-node kernels, nothing stacked)."""
        views: dict = {}
        return [self.kernel(StackedParams(self, g, views=views), x, 1) for g, x in enumerate(xs)]

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
