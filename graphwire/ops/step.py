"""The step-op interface: what an executor runs for a plan step of G >= 1 nodes.

A *step op* (:class:`StepOp`) has one forward for the G nodes at once (inputs and outputs stacked
on the channel axis, ``[B, G*in, ...] -> [B, G*out, ...]``), a per-node forward
(``node_forward(g, x)``, ``[B, in, ...] -> [B, out, ...]``; ``forward_nodes(xs)``: all G that
way, on G separate inputs) and per-node module views (``node_module(g)``). Two kinds implement it:

- a *stacked op* (:class:`~graphwire.ops.stacked.StackedOp`): ONE module holding the G nodes'
  tensors stacked on a leading node axis (the built-in ops);
- :class:`ModuleStep`: the adapter for plain ``nn.Module`` ops, a module per node (user ops,
  DARTS, DNW and ResNet-block ops). It holds the modules only for one call: the network owns them.

An op's math is written once, as a *kernel*: ``kernel(p, x, groups)`` computes ``groups`` nodes at
once from their tensors ``p`` (a :class:`Params`: each named tensor as the nodes' tensors
concatenated on dim 0, e.g. ``p("conv.weight")`` is ``[groups*out, in, k, k]``; ``p.norm("bn", y)``
normalises with the nodes' norms, running statistics included). The same kernel then serves the
per-node module (:class:`KernelOp`: ``forward(x)`` is ``kernel`` on its own tensors, ``groups=1``),
the stacked op (all G nodes, or node g alone) and the fused run of G per-node modules.

>>> import torch
>>> from graphwire.ops.blocks import ConvBlock, StackedConv
>>> step = StackedConv(3, 4, 5)
>>> step(torch.randn(2, 12, 6, 6)).shape, step.node_forward(1, torch.randn(2, 4, 6, 6)).shape
(torch.Size([2, 15, 6, 6]), torch.Size([2, 5, 6, 6]))
>>> isinstance(step.node_module(1), ConvBlock)
True
"""

from __future__ import annotations

import abc
import functools
from typing import Protocol, Sequence, runtime_checkable

import torch
from torch import nn

from .fused import cat_params, fused_batch_norm

__all__ = ["StepOp", "Params", "ModuleParams", "KernelOp", "ModuleStep", "attr_path"]


@runtime_checkable
class StepOp(Protocol):
    """A plan step's G nodes as one callable (see the module doc)."""

    groups: int

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The G nodes at once: ``[B, G*in, ...] -> [B, G*out, ...]``."""
        ...

    def node_forward(self, g: int, x: torch.Tensor) -> torch.Tensor:
        """Node ``g`` alone: ``[B, in, ...] -> [B, out, ...]``."""
        ...

    def forward_nodes(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """The G nodes by per-node kernels, each on its own input (a list of G tensors)."""
        ...

    def node_module(self, g: int) -> nn.Module:
        """Node ``g`` as a module of its own."""
        ...


def attr_path(root: object, name: str) -> object:
    """``root.a.b`` for ``name="a.b"``."""
    return functools.reduce(getattr, name.split("."), root)


class Params(abc.ABC):
    """The tensors of ``groups`` nodes, as a kernel reads them. ``p(name)``: the nodes' tensors
    ``name`` concatenated on dim 0 (``[groups*d0, ...]``); ``p.norm(name, y)``: ``y``
    (``[B, groups*C, ...]``) normalised by the nodes' norm modules ``name``; ``p.sub(prefix)``: the
    tensors under a submodule (a kernel calling a sub-op's kernel)."""

    @abc.abstractmethod
    def __call__(self, name: str) -> torch.Tensor: ...

    @abc.abstractmethod
    def norm(self, name: str, y: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def sub(self, prefix: str) -> "Params": ...


class ModuleParams(Params):
    """The tensors of per-node modules (one: the module itself; several: concatenated)."""

    __slots__ = ("mods",)

    def __init__(self, mods: Sequence[nn.Module]):
        self.mods = mods

    def __call__(self, name: str) -> torch.Tensor:
        mods = self.mods
        if len(mods) == 1:
            return attr_path(mods[0], name)  # type: ignore[return-value]
        return cat_params([attr_path(m, name) for m in mods])  # type: ignore[misc]

    def norm(self, name: str, y: torch.Tensor) -> torch.Tensor:
        norms = [attr_path(m, name) for m in self.mods]
        if len(norms) == 1:
            return norms[0](y)  # type: ignore[operator]
        return fused_batch_norm(y, norms, norms[0].training)  # type: ignore[arg-type, attr-defined]

    def sub(self, prefix: str) -> "ModuleParams":
        return ModuleParams([attr_path(m, prefix) for m in self.mods])  # type: ignore[misc]


class KernelOp(nn.Module, metaclass=abc.ABCMeta):
    """Base of per-node op modules whose math is one :meth:`kernel` (see the module doc): the
    module's forward is its kernel on its own tensors, and G such modules of a step run as one
    kernel call on their concatenated tensors (:class:`ModuleStep`)."""

    @abc.abstractmethod
    def kernel(self, p: Params, x: torch.Tensor, groups: int) -> torch.Tensor:
        """``groups`` nodes at once: ``x`` ``[B, groups*in, ...]`` -> ``[B, groups*out, ...]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.kernel(ModuleParams((self,)), x, 1)


class ModuleStep:
    """The step-op adapter for plain per-node modules: the G nodes run as one kernel when their
    op is a :class:`KernelOp`, else module by module. Built for one call from modules the network
    owns (it holds nothing of its own)."""

    __slots__ = ("modules", "groups")

    def __init__(self, modules: Sequence[nn.Module]):
        self.modules = modules
        self.groups = len(modules)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        mods = self.modules
        if len(mods) == 1:
            return mods[0](x)
        m0 = mods[0]
        if isinstance(m0, KernelOp):
            return m0.kernel(ModuleParams(mods), x, len(mods))
        return torch.cat([m(c) for m, c in zip(mods, x.chunk(len(mods), 1))], 1)

    def node_forward(self, g: int, x: torch.Tensor) -> torch.Tensor:
        return self.modules[g](x)

    def forward_nodes(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [m(x) for m, x in zip(self.modules, xs)]

    def node_module(self, g: int) -> nn.Module:
        return self.modules[g]
