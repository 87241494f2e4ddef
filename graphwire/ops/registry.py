"""The op registry: node operations by name.

A node op is an ordinary ``nn.Module`` built by ``factory(in_channels, out_channels, stride=,
dims=, **options)``. The executors run a plan step (nodes of one generation with the same op and
shape) through the step-op interface (:mod:`graphwire.ops.step`): an op whose class is a
:class:`~graphwire.ops.step.KernelOp` writes its math once, as ``kernel(p, x, groups)``, and the G
nodes of a step then run as ONE kernel call on their concatenated tensors; any other module still
works, its G modules called one by one. An op may also give a *stacked* form (``stacked=``, see
:mod:`graphwire.ops.stacked`): one module for all G nodes of a step, tensors stacked on a leading
node axis -- what keeps a 100k-node graph cheap to build and to train.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from ..errors import GraphError, ParameterError, UnknownOpError
from ..registry import Registry

__all__ = ["OPS", "register_op", "build_op", "get_op", "OpSpec"]


@dataclass(frozen=True)
class OpSpec:
    name: str
    factory: Callable[..., nn.Module]
    spatial: bool | None  # True: conv-like (needs dims), False: vectors, None: any
    stacked: Callable[..., nn.Module] | None = None  # the G-node form (graphwire.ops.stacked)


#: The registered node ops by name (``OPS.list()``, ``OPS.get(name)``).
OPS: Registry[OpSpec] = Registry("op", error=UnknownOpError, hint="(register your own with graphwire.register_op)")


def register_op(name: str, factory: Callable[..., nn.Module] | None = None, *,
                spatial: bool | None = None, stacked: Callable[..., nn.Module] | None = None,
                overwrite: bool = False):
    """Register a node operation under ``name`` (usable as a decorator).

    The factory is called as ``factory(in_channels, out_channels, stride=s, dims=d, **options)``
    and returns an ``nn.Module`` mapping ``[B, in_channels, ...]`` to ``[B, out_channels, ...]``.
    ``stacked``: optionally, the op's stacked form, called as ``stacked(groups, in_channels,
    out_channels, stride=s, dims=d, **options)`` (the contract: :mod:`graphwire.ops.stacked`).

    >>> import torch.nn as nn, graphwire as gw
    >>> _ = gw.register_op("tanh_linear", lambda cin, cout, stride, dims: nn.Sequential(
    ...     nn.Linear(cin, cout), nn.Tanh()), spatial=False, overwrite=True)
    """
    if not isinstance(name, str) or not name:
        raise ParameterError(f"op name must be a non-empty string, got {name!r}")

    def add(f: Callable[..., nn.Module]):
        if not callable(f):
            raise ParameterError(f"op {name!r}: factory must be callable, got {f!r}")
        if name in OPS and not overwrite:
            raise ParameterError(f"op {name!r} is already registered (pass overwrite=True to replace it)")
        if stacked is not None and not callable(stacked):
            raise ParameterError(f"op {name!r}: stacked must be callable, got {stacked!r}")
        OPS.register(name, OpSpec(name, f, spatial, stacked), overwrite=True)
        return f

    return add if factory is None else add(factory)


def get_op(name: str, where: str = "") -> OpSpec:
    """The registered op ``name`` (``where``, such as " at node 3", goes into the error)."""
    return OPS.get(name, where)


def build_op(name: str, in_channels: int, out_channels: int, *, stride: int = 1, dims: int = 2,
             options: dict | None = None, where: str = "", groups: int | None = None) -> nn.Module:
    """One node's op module; with ``groups``, the op's stacked form for that many nodes."""
    spec = get_op(name, where)
    factory = spec.factory if groups is None else spec.stacked
    if factory is None:
        raise ParameterError(f"op {name!r} has no stacked form")
    try:
        if groups is not None:
            return factory(groups, in_channels, out_channels, stride=stride, dims=dims, **(options or {}))
        return factory(in_channels, out_channels, stride=stride, dims=dims, **(options or {}))
    except GraphError as exc:
        raise type(exc)(f"op {name!r}{where}: {exc}") from None
    except TypeError as exc:
        raise ParameterError(f"op {name!r}{where}: cannot build with in_channels={in_channels}, "
                             f"out_channels={out_channels}, stride={stride}, options={options}: {exc}") from None


