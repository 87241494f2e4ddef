"""The wiring protocol: what every learning method provides.

A wiring owns the edge parameters and, at each forward, produces *coefficients*: a vector over
edges ``[E]`` or a matrix over (edge, channel) ``[E, C]``. The caller applies the user's edge
mask. A wiring also gives a regulariser, a :class:`WriteBack` description of what it learned
(edge, node and graph attributes), and carries its per-edge state over to a recompiled network
(``transfer_from``). Its capabilities are data: ``may_close`` (coefficients can be exactly 0, which
turns on closed-node masking) and ``unit_edges`` (edge ids whose coefficient is a constant 1, whose
multiply the executors skip). Methods whose coefficients depend on activations (DDW) also
implement :class:`~graphwire.wiring.routing.Routing`. Executors never know which method they run.

An edge whose coefficient is exactly 0 is *closed*: it contributes nothing (it is also left out of
``max``), and a node whose open inputs all come from closed nodes outputs exactly 0 (not f(0),
which BatchNorm would make non-zero). That is what makes a masked network equal its pruned copy.

Writing a method: declare its options once, as a frozen dataclass subclassing
:class:`WiringSpec` (defaults, and checks in ``__post_init__`` with :func:`check_number`,
:func:`check_bool`, :func:`check_choice`); subclass :class:`Wiring`, set ``name``, ``Options`` (the
dataclass) and, for what ``write_back`` writes beyond ``weight`` and ``active``, ``attributes``
(``(kind, name, check, doc)`` rows added to the graph contract, :mod:`graphwire.contract`); build
parameters in ``__init__(self, plan, edge_data, options)`` (``plan.edges`` is the
:class:`~graphwire.edgeset.EdgeSet` in the order of the coefficients, ``edge_data`` their
attribute dicts, ``plan.source_channels()`` the widths of their sources); implement
:meth:`coefficients`; register it with :func:`graphwire.register_wiring`.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Sequence

import torch
from torch import nn

import numpy as np

from ..errors import WiringError

__all__ = ["Wiring", "WiringSpec", "WriteBack", "check_number", "check_bool", "check_choice", "check_int"]


@dataclasses.dataclass(frozen=True)
class WiringSpec:
    """A method's options: each method subclasses it as a frozen dataclass whose fields are its
    options, with their defaults, checked in ``__post_init__``. ``compile(G, wiring="dnw", k=0.05)``
    and ``compile(G, wiring=graphwire.wiring.DNW(k=0.05))`` build the same spec. ``method`` is the
    registered name (set by :func:`~graphwire.wiring.register_wiring`)."""

    method: ClassVar[str] = ""

    def options(self) -> dict[str, Any]:
        """The options as a dict (what a written-back graph records)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass
class WriteBack:
    """What ``write_back`` puts on the graph: ``edges`` maps an attribute to one value per edge (in
    the plan's edge order; None leaves an edge alone), ``nodes`` an attribute to ``{label: value}``,
    ``graph`` entries for ``G.graph["graphwire"]``."""
    edges: dict[str, Sequence[Any]] = field(default_factory=dict)
    nodes: dict[str, dict[Any, Any]] = field(default_factory=dict)
    graph: dict[str, Any] = field(default_factory=dict)


class Wiring(nn.Module, metaclass=abc.ABCMeta):
    """Base class of the wiring methods (see the module docstring)."""

    name: ClassVar[str] = "base"
    #: the method's options (a :class:`WiringSpec` dataclass); none by default
    Options: ClassVar[type[WiringSpec]] = WiringSpec
    #: what ``write_back`` writes beyond ``weight``/``active``: ``(kind, name, check, doc)`` rows,
    #: registered with the graph contract (owner: the method) by ``register_wiring``
    attributes: ClassVar[tuple[tuple[str, str, Callable[[Any], "str | None"], str], ...]] = ()
    #: ``"edge"`` ([E] coefficients) or ``"channel"`` ([E, C])
    mode: str = "edge"
    #: coefficients can be exactly zero (closed edges)
    may_close: bool = False
    #: edge ids whose coefficient is the constant 1
    unit_edges: frozenset = frozenset()

    def __init__(self, plan: Any, edge_data: Sequence[dict], options: WiringSpec | None = None):
        super().__init__()
        self.edges = plan.edges  # an EdgeSet: (u, v) per coefficient
        self.spec = options if options is not None else self.Options()

    def rebuild_spec(self) -> WiringSpec:
        """The wiring a written-back graph of this network compiles with by default (recorded in
        the graph): this method with the same options, unless the method's learned wiring is a
        fixed one (DNW: ``static``)."""
        return self.spec

    @abc.abstractmethod
    def coefficients(self) -> torch.Tensor:
        """This forward's coefficients: ``[E]`` or ``[E, C]`` (before the user's edge mask)."""

    def regularizer(self) -> torch.Tensor:
        """A penalty to add to the loss (zero unless the method has one)."""
        p = next(iter(self.parameters()), None)
        return torch.zeros(()) if p is None else p.new_zeros(())

    def strength(self) -> torch.Tensor:
        """One number per edge (detached ``[E]``): ``|coefficient|``, averaged over channels."""
        c = self.coefficients().detach().abs()
        return c.mean(-1) if c.dim() == 2 else c

    def describe(self) -> WriteBack:
        """What ``write_back`` puts on the graph. Default: ``weight`` (the strength) and ``active``
        (a non-zero coefficient)."""
        s = self.strength().cpu()
        return WriteBack(edges={"weight": s.tolist(), "active": (s != 0).tolist()})

    def describe_edges(self, ids: torch.Tensor) -> WriteBack:
        """:meth:`describe` for the edges ``ids`` only (edge values in the order of ``ids``; node and
        graph entries as :meth:`describe` gives them). A compact graph's ``write_back`` calls it for
        the active edges; methods with millions of edges override it to skip the others."""
        full = self.describe()
        idx = ids.tolist()
        return WriteBack(edges={k: [v[i] for i in idx] for k, v in full.edges.items()}, nodes=full.nodes,
                         graph=full.graph)

    def mask_changed(self, edge_mask: torch.Tensor) -> None:
        """Called when ``net.mask_edges`` opens or closes edges (``edge_mask``: 1 open, 0 closed), for
        methods whose coefficients depend on which edges are open; nothing by default."""

    def active_mask(self) -> torch.Tensor:
        """Which edges the network uses at inference (bool ``[E]``), before the user's mask."""
        flags = self.describe().edges.get("active")
        if flags is None:
            return torch.ones(len(self.edges), dtype=torch.bool)
        return torch.tensor([bool(x) for x in flags], dtype=torch.bool)

    def snapshot(self) -> dict[str, Sequence[Any]]:
        """Per-edge values to record during training (a :class:`~graphwire.io.history.History`
        snapshot); the write-back description by default."""
        return dict(self.describe().edges)

    def transfer_from(self, other: "Wiring", pairs: list[tuple[int, int]]) -> None:
        """Copy per-edge state from ``other`` (same method) for ``(new_edge_id, old_edge_id)``
        pairs. Default: nothing to carry (the method has no per-edge state)."""


def check_number(method: str, name: str, value: Any, ok: Callable[[float], bool], expected: str) -> float:
    """``value`` as a float when it is a finite real number for which ``ok`` holds, else a
    :class:`WiringError` naming the method, the option and what it must be."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
        raise WiringError(f"{method} wiring: {name} must be a finite number {expected}, got {value!r}")
    return float(value)


def check_int(method: str, name: str, value: Any, ok: Callable[[int], bool], expected: str) -> int:
    """``value`` when it is an integer for which ``ok`` holds, else a :class:`WiringError`."""
    if isinstance(value, bool) or not isinstance(value, int) or not ok(value):
        raise WiringError(f"{method} wiring: {name} must be an integer {expected}, got {value!r}")
    return int(value)


def check_bool(method: str, name: str, value: Any) -> bool:
    """``value`` when it is True or False, else a :class:`WiringError`."""
    if not isinstance(value, bool):
        raise WiringError(f"{method} wiring: {name} must be True or False, got {value!r}")
    return value


def check_choice(method: str, name: str, value: Any, allowed: Sequence[Any]) -> Any:
    """``value`` when it is one of ``allowed``, else a :class:`WiringError` listing them."""
    if value not in allowed or (isinstance(value, bool) and not any(a is value for a in allowed)):
        raise WiringError(f"{method} wiring: {name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


#: Built-in ops that end in BatchNorm: behind them only the relative size of a node's gates matters.
NORMALISING_OPS = frozenset({"conv", "sepconv", "linear"})


def sole_normalised_inputs(plan: Any) -> np.ndarray:
    """Per edge of ``plan`` (bool ``[E]``): the edge is its target's only input and the target's op
    normalises, so a gate on it scales nothing the loss can see (BatchNorm undoes it)."""
    target = plan.edge_positions()[1]
    if not len(target):
        return np.zeros(0, bool)
    indeg = np.bincount(target, minlength=len(plan.nodes))
    normalising = np.array([nd.op in NORMALISING_OPS for nd in plan.nodes], bool)
    return (indeg[target] == 1) & normalising[target]
