"""The wiring interface: what a learning method must provide to the executors.

A wiring owns the edge parameters and, at each forward, produces *coefficients* the executors
use to aggregate node inputs: a vector over edges ``[E]``, a matrix over (edge, channel)
``[E, C]``, or per-sample ``[B, E]``. It also provides an optional regulariser, the inference
mask, and the per-edge attributes ``write_back`` puts on the graph. Executors never know which
method they run; adding a method is adding one module in ``graphwire/wiring/``.

An edge whose coefficient is exactly 0 is *closed*: it contributes nothing (it is also left out of
``max``), and a node whose open inputs all come from closed nodes outputs exactly 0 (not f(0),
which BatchNorm would make non-zero). That is what makes a masked network equal its pruned copy.
"""

from __future__ import annotations

import abc
import math
from typing import Any, Callable

import torch
from torch import nn

from ..errors import WiringError

__all__ = ["Wiring", "EdgeContext"]


class EdgeContext:
    """The coefficients of one forward pass, padded with a zero 'no edge' entry at index E."""

    __slots__ = ("mode", "pad")

    def __init__(self, coef: torch.Tensor, mode: str):
        self.mode = mode  # "edge" [E], "channel" [E, C] or "sample" [B, E]
        if mode == "sample":
            self.pad = torch.cat([coef, coef.new_zeros(coef.shape[0], 1)], 1)
        else:
            self.pad = torch.cat([coef, coef.new_zeros((1,) + tuple(coef.shape[1:]))], 0)

    def block(self, index: torch.Tensor) -> torch.Tensor:
        """Coefficients for an edge-id matrix ``[G, J]``: ``[G, J]``, ``[G, J, C]`` or ``[B, G, J]``."""
        return self.pad[:, index] if self.mode == "sample" else self.pad[index]

    def edge(self, e: int, y: torch.Tensor) -> torch.Tensor:
        """Edge ``e``'s coefficient shaped to broadcast against its source output ``y`` [B, C, ...]."""
        tail = (1,) * (y.dim() - 2)
        if self.mode == "sample":
            return self.pad[:, e].reshape((-1, 1) + tail)
        if self.mode == "channel":
            return self.pad[e, : y.shape[1]].reshape((1, -1) + tail)
        return self.pad[e]

    def edge_mass(self, e: int) -> torch.Tensor:
        """How open edge ``e`` is: a scalar, or ``[B]`` per sample (0 means closed)."""
        c = self.pad[:, e] if self.mode == "sample" else self.pad[e]
        return c.abs().sum() if self.mode == "channel" else c.abs()

    def observe(self, step: int, y: torch.Tensor, alive: torch.Tensor | None) -> None:
        """Batched executor: called with each step's output ``[B, G*C, ...]`` and its alive mask
        ``[B, G]`` (None when nothing can close). Per-sample wirings compute their routes here."""

    def observe_node(self, pos: int, y: torch.Tensor, alive: torch.Tensor | None) -> None:
        """Reference executor: the same, for one node (plan position ``pos``, output ``[B, C, ...]``)."""


class Wiring(nn.Module, metaclass=abc.ABCMeta):
    """Base class. Subclasses implement :meth:`raw_coefficients` and usually :meth:`edge_attributes`.

    ``edges`` are the graph's edges as ``(u, v)`` labels in the plan's order, ``edge_data`` their
    attribute dicts, ``source_channels`` the output channels of each edge's source node.
    """

    name = "base"
    mode = "edge"           # "edge", "channel" or "sample"
    options: tuple[str, ...] = ()

    def __init__(self, edges: list[tuple], edge_data: list[dict], source_channels: list[int]):
        super().__init__()
        self.edges = list(edges)
        self.register_buffer("edge_mask", torch.ones(len(self.edges)))
        self.masked = False

    # ---- what subclasses provide
    def bind(self, plan) -> None:
        """Called once by ``WiredNet`` with the execution plan, before any forward: methods that
        need nodes, widths or steps (routers, per-node thresholds) build their parameters here."""

    @abc.abstractmethod
    def raw_coefficients(self) -> torch.Tensor:
        """This forward's coefficients before the edge mask: ``[E]``, ``[E, C]`` or ``[B, E]``."""

    def may_close_raw(self) -> bool:
        """Whether raw coefficients can be exactly zero (turns on closed-node masking)."""
        return False

    def regularizer(self) -> torch.Tensor:
        """A penalty to add to the loss (zero unless the method has one)."""
        return self.edge_mask.new_zeros(())

    def edge_strength(self) -> torch.Tensor:
        """One number per edge for ``write_back``'s ``weight`` (detached, float, ``[E]``)."""
        c = self.raw_coefficients().detach().abs()
        return c.mean(-1) if self.mode == "channel" else c

    def inference_mask(self) -> torch.Tensor:
        """Bool ``[E]``: the edges used at inference."""
        return self.edge_mask > 0

    def edge_attributes(self) -> dict[str, list[Any]]:
        """Per-edge attributes written back onto the graph (lists aligned with ``edges``)."""
        return {"weight": [float(x) for x in self.edge_strength().cpu()],
                "active": [bool(x) for x in self.inference_mask().cpu()]}

    def check_write_back(self) -> None:
        """Raise if ``write_back`` cannot describe the wiring yet (e.g. statistics are missing)."""

    def node_attributes(self) -> dict[str, list[Any]]:
        """Per-node attributes for ``write_back`` (lists aligned with plan positions; None = unset)."""
        return {}

    def start_stats(self) -> None:
        """Begin gathering statistics over a dataset (see ``WiredNet.collect_stats``)."""
        raise WiringError(f"wiring {self.name!r} gathers no statistics over data")

    def finish_stats(self) -> dict:
        return {}

    def constant_unit_edges(self) -> set[int]:
        """Edge ids whose coefficient is a constant 1 (executors may skip their multiply)."""
        return set()

    def load_edges_from(self, other: "Wiring", pairs: list[tuple[int, int]]) -> None:
        """Copy per-edge state from ``other`` for ``(new_edge_id, old_edge_id)`` pairs (same method)."""

    # ---- used by executors
    @property
    def may_close(self) -> bool:
        return self.masked or self.may_close_raw()

    def coefficients(self) -> torch.Tensor:
        c = self.raw_coefficients()
        if self.masked:
            m = self.edge_mask
            c = c * (m[:, None] if self.mode == "channel" else m)
        return c

    def context(self, x: torch.Tensor) -> EdgeContext:
        return EdgeContext(self.coefficients(), self.mode)

    def set_mask(self, keep: torch.Tensor | None) -> None:
        """Close edges: ``keep`` is a bool/0-1 tensor ``[E]``; None opens every edge again."""
        with torch.no_grad():
            if keep is None:
                self.edge_mask.fill_(1.0)
                self.masked = False
            else:
                keep = torch.as_tensor(keep, device=self.edge_mask.device)
                if keep.shape != self.edge_mask.shape:
                    raise WiringError(f"edge mask must have shape [{len(self.edges)}], got {list(keep.shape)}")
                self.edge_mask.copy_(keep.to(self.edge_mask.dtype))
                self.masked = bool((self.edge_mask == 0).any())


def check_options(cls: type, given: dict) -> None:
    unknown = sorted(set(given) - set(cls.options))
    if unknown:
        raise WiringError(f"wiring {cls.name!r} has no option(s) {unknown}; its options are {list(cls.options)}")


def check_number(method: str, name: str, value, ok: Callable[[float], bool], expected: str) -> float:
    """``value`` as a float when it is a finite real number for which ``ok`` holds, else a
    :class:`WiringError` naming the method, the option and what it must be."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
        raise WiringError(f"{method} wiring: {name} must be a finite number {expected}, got {value!r}")
    return float(value)
