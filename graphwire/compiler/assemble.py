"""Building a network from a graph and its settings: the one sequence ``compile`` and
``net.recompile`` share (validate and plan, refuse what cannot fit, make the wiring, build the
module, carry parameters over). The network class is an argument, so this module sits below it.
"""

from __future__ import annotations

import warnings
from typing import Any

import networkx as nx
from torch import nn

from .._gc import paused
from ..contract import copy_graph
from ..errors import ParameterError
from ..graph import assign_roles
from ..wiring.registry import make_wiring
from .carry_over import carry_over
from .memory import check_memory
from .planners import build_plan
from .settings import Settings

__all__ = ["assemble", "core_of"]


def core_of(model: Any, cls: type) -> Any:
    """The ``cls`` network inside ``model`` (itself, a DistributedDataParallel's ``module``, or the
    first submodule that is one), or None."""
    if isinstance(model, cls):
        return model
    if not isinstance(model, nn.Module):
        return None
    inner = getattr(model, "module", None)  # DistributedDataParallel
    if isinstance(inner, nn.Module) and inner is not model:
        return core_of(inner, cls)
    for m in model.modules():
        if isinstance(m, cls):
            return m
    return None


def assemble(cls: type, G: nx.DiGraph, settings: Settings, *, init_from: Any = None, stacklevel: int = 3) -> Any:
    """A ``cls`` network (a :class:`~graphwire.compiler.module.WiredNet`) compiled from ``G``.

    ``G`` is copied (a frozen graph is used as it is: nobody can change it) and the network keeps
    the copy, frozen; the plan is made from it. ``init_from``: a network (or a model holding one)
    whose parameters are carried over by node label and edge."""
    old = None
    if init_from is not None:
        old = core_of(init_from, cls)
        if old is None:
            raise ParameterError(f"init_from must be a compiled network (a WiredNet or a model holding one), "
                                 f"got {type(init_from).__name__}; load a state dict with net.load_state_dict")
    if isinstance(G, nx.DiGraph) and not any("role" in d for _, d in G.nodes(data=True)):
        G = nx.freeze(assign_roles(G))  # a plain DiGraph: sources are inputs, sinks outputs
    frozen = G
    if isinstance(G, nx.DiGraph) and not nx.is_frozen(G):
        with paused():  # millions of attribute dicts: no collector passes over them meanwhile
            frozen = nx.freeze(copy_graph(G))
    plan, edge_data = build_plan(frozen, in_channels=settings.in_channels, channels=settings.channels,
                                 default_op=settings.default_op, output_op=settings.output_op, dims=settings.dims,
                                 sparse_density=settings.sparse_density)
    check_memory(plan)
    wiring = make_wiring(settings.wiring, plan, edge_data, {})
    net = cls(plan, wiring, frozen, executor=settings.executor, resize=settings.resize,
              op_options=settings.op_options)
    net.settings = settings
    if old is not None:
        report = carry_over(net, old)
        net.init_report = report
        if report["skipped"]:
            warnings.warn(f"init_from: {len(report['skipped'])} node(s) kept fresh parameters "
                          f"(new, different op or incompatible shape): {report['skipped'][:8]}",
                          stacklevel=stacklevel)
    return net
