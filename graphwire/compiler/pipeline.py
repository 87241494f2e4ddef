"""``graphwire.compile``: a graph becomes a :class:`~graphwire.compiler.module.WiredNet`."""

from __future__ import annotations

from typing import Any

import networkx as nx
from torch import nn

from ..errors import ParameterError
from .assemble import assemble, core_of
from .module import WiredNet
from ..plan import SPARSE_DENSITY
from .settings import resolve

__all__ = ["compile", "wired_core"]


def compile(G: nx.DiGraph, *, in_channels: int | None = None, channels: int | None = None, default_op: str = "conv",
            output_op: str | None = "identity", dims: int | None = None, wiring: Any = None,
            executor: str = "batched", resize: str | None = None, op_options: dict | None = None,
            init_from: nn.Module | None = None, sparse_density: float = SPARSE_DENSITY, **options: Any) -> WiredNet:
    """Compile a graph into a :class:`WiredNet` (a plain ``nn.Module``).

    ``in_channels``: channels of the network input, fed to every input node. ``channels``: default
    width of nodes without a ``channels`` attribute. ``default_op``/``output_op``: ops of nodes
    without an ``op`` attribute (output nodes aggregate with ``identity`` unless told otherwise).
    ``dims``: 2 for images (default), 1 for sequences, 0 for vectors. ``wiring``: a method name
    (``"static"``, ``"sigmoid"``, ...; its options as keyword arguments) or a typed spec such as
    ``graphwire.wiring.Sigmoid(penalty=1e-3)``. ``executor``: ``"batched"`` or ``"reference"``. ``resize``: how inputs of different spatial size meet (``"area"``, the
    default, or ``"bilinear"``, to the smallest). ``op_options``: ``{op name: {option: value}}``
    for the node ops. ``init_from``: a network whose node parameters (by label) and edge
    parameters (by ``(u, v)``) are carried over, e.g. after pruning. ``sparse_density``: source
    blocks of ``sum`` nodes sparser than this (edges / (targets x sources), in [0, 1]) are
    aggregated edge by edge (gather + ``index_add_``, O(edges) memory) instead of by a dense block
    matmul; the default was measured (see the benchmarks).

    A graph written by ``net.write_back()`` records ``in_channels``, ``dims``, ``resize``,
    ``op_options`` and the wiring with its options (and its nodes their ``op`` and ``channels``):
    ``compile(graphwire.io.load(path))`` rebuilds that network with no other argument. Arguments
    given here override the record; wiring options given without ``wiring=`` apply to the
    recorded wiring. Without a record, ``wiring`` is ``"static"``.

    The network keeps a frozen copy of ``G`` (a graph that is already frozen is kept as it is); a
    graph whose estimated size exceeds the machine's memory raises a
    :class:`~graphwire.errors.GraphError` before anything is allocated. A plain ``nx.DiGraph``
    works as it is: when no node has a ``role``, sources become inputs and sinks outputs
    (:func:`graphwire.assign_roles`); labels may be any hashable (tuples from
    ``nx.grid_2d_graph`` too), module names are made safe (:func:`~graphwire.plan.module_key`).

    >>> import torch, graphwire as gw
    >>> net = gw.compile(gw.generators.resnet(4), in_channels=3, channels=8, wiring="sigmoid")
    >>> net(torch.randn(2, 3, 16, 16)).shape
    torch.Size([2, 8, 16, 16])
    >>> again = gw.compile(net.write_back())  # the graph records what compile needs
    >>> again.wiring.name, again.in_channels
    ('sigmoid', 3)
    """
    if "device" in options:
        raise ParameterError(f"compile() takes no device (got device={options['device']!r}): it builds the network "
                             "on the CPU; move it afterwards with net.to(device)")
    settings = resolve(G, {"in_channels": in_channels, "channels": channels, "default_op": default_op,
                           "output_op": output_op, "dims": dims, "wiring": wiring, "executor": executor,
                           "resize": resize, "op_options": op_options, "sparse_density": sparse_density,
                           "options": options})
    return assemble(WiredNet, G, settings, init_from=init_from)


def wired_core(model: nn.Module) -> WiredNet | None:
    """The :class:`WiredNet` inside ``model`` (itself, ``model.module`` of a DistributedDataParallel,
    or the first submodule that is one), or None."""
    return core_of(model, WiredNet)

