"""What the executors share: the interface they read the network through (:class:`Executable`),
edge coefficients of one forward, resizing, masked max, closed output.

Semantics (documented in :mod:`graphwire.wiring.base`): an edge whose coefficient is exactly 0 is
*closed*; it contributes nothing and is left out of ``max``. A node whose open inputs all come
from closed nodes outputs exactly 0 (not f(0), which a BatchNorm would make non-zero): that is
what makes a masked network equal its pruned copy.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Protocol

import torch
import torch.nn.functional as F

from ..ops.step import StepOp
from ..wiring.base import Wiring
from ..wiring.routing import Routing

if TYPE_CHECKING:  # pragma: no cover
    from ..plan import Plan

__all__ = ["Executable", "Buffers", "Executor", "Coefficients", "Forward", "resize_to", "smallest", "masked_max",
           "closed_output", "traced"]


def traced() -> bool:
    """Whether ``torch.compile``, ``torch.jit`` or the ONNX exporter is tracing this call (the
    ONNX module is asked only once something imported it: importing it costs a fifth of a second)."""
    onnx = sys.modules.get("torch.onnx")
    return (torch.compiler.is_compiling() or torch.jit.is_tracing()
            or (onnx is not None and onnx.is_in_onnx_export()))


class Buffers(Protocol):
    """The network's execution buffers and flags (``net.runtime``)."""

    edge_mask: torch.Tensor
    masked: bool
    resize: str
    skip_closed: bool
    unit_blocks: list[list[bool]]

    def index(self, step: int, name: str) -> torch.Tensor:
        """Step ``step``'s index array ``name`` (see :meth:`~graphwire.plan.Step.arrays`)."""
        ...


class Executable(Protocol):
    """What an executor reads besides the plan: the compiled network
    (:class:`~graphwire.compiler.module.WiredNet`), which owns all of it."""

    training: bool
    wiring: Wiring
    runtime: Buffers
    schedules: dict  # per input shape, how the batched executor runs each step (plain data the net keeps)

    @property
    def routing(self) -> Routing | None: ...

    def step_op(self, index: int) -> StepOp:
        """Step ``index``'s op."""
        ...

    def run_node(self, pos: int, x: torch.Tensor) -> torch.Tensor:
        """Node ``pos`` (plan position) alone."""
        ...


class Executor(Protocol):
    """An executor: runs ``plan`` on the network ``net`` for the input ``x``."""

    def __call__(self, plan: "Plan", net: Executable, x: torch.Tensor) -> torch.Tensor: ...

_NEG_INF = float("-inf")


class Coefficients:
    """One forward's coefficients, masked by the runtime's edge mask and padded with a zero
    'no edge' entry at index E. ``mode``: ``"edge"`` [E], ``"channel"`` [E, C], ``"sample"`` [B, E]."""

    __slots__ = ("mode", "pad")

    def __init__(self, raw: torch.Tensor, mode: str, mask: torch.Tensor | None):
        self.mode = mode
        if mask is not None:
            raw = raw * (mask[:, None] if mode == "channel" else mask)
        if mode == "sample":
            self.pad = torch.cat([raw, raw.new_zeros(raw.shape[0], 1)], 1)
        else:
            self.pad = torch.cat([raw, raw.new_zeros((1,) + tuple(raw.shape[1:]))], 0)

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


class Forward:
    """The per-call state of an executor: coefficients (re-read after each routed step), whether
    edges can close, and whether closed nodes may be skipped."""

    __slots__ = ("net", "routing", "state", "coef", "_raw", "close", "skip", "batch")

    def __init__(self, net: Executable, x: torch.Tensor):
        self.net = net
        self.batch = x.shape[0]
        wiring, routing, rt = net.wiring, net.routing, net.runtime
        self.routing = routing
        self.state = routing.begin(x) if routing is not None else None
        self._raw = None
        self.coef: Coefficients
        self.refresh()
        self.close = bool(rt.masked or wiring.may_close)
        # Skip nodes closed for the whole batch: inference only (eval, autograd off), and never
        # while torch.compile traces (the check is data-dependent). The result is the same.
        self.skip = (self.close and not net.training and rt.skip_closed and not torch.is_grad_enabled()
                     and not torch.compiler.is_compiling())

    def refresh(self) -> None:
        """(Re)build the coefficients: once per forward, and after every routed step."""
        net, rt = self.net, self.net.runtime
        raw = self.state.coefficients if self.state is not None else net.wiring.coefficients()
        if raw is not self._raw:
            self._raw = raw
            mode = "sample" if self.state is not None else net.wiring.mode
            self.coef = Coefficients(raw, mode, rt.edge_mask if rt.masked else None)

    def after_step(self, step: int, y: torch.Tensor, alive: torch.Tensor | None) -> None:
        """Tell the routing (if any) that ``step`` produced ``y`` ``[B, G*C, ...]``; ``alive`` ``[B, G]``."""
        if self.state is not None and self.routing is not None:
            self.routing.after_step(self.state, step, y, alive)
            self.refresh()


def resize_to(y: torch.Tensor, size: tuple, mode: str) -> torch.Tensor:
    """Bring ``y`` ([B, C, *spatial]) to spatial ``size`` (the smallest among a node's inputs)."""
    if tuple(y.shape[2:]) == size:
        return y
    if mode == "area":
        pool = F.adaptive_avg_pool1d if len(size) == 1 else F.adaptive_avg_pool2d
        return pool(y, size)
    return F.interpolate(y, size=size, mode="linear" if len(size) == 1 else "bilinear", align_corners=False)


def smallest(ys: list[torch.Tensor]) -> tuple:
    shapes = [tuple(y.shape[2:]) for y in ys]
    return tuple(min(s[i] for s in shapes) for i in range(len(shapes[0])))


def masked_max(vals: torch.Tensor, is_open: torch.Tensor, dim: int) -> torch.Tensor:
    """Max over ``dim`` of the open entries; 0 where none is open (never -inf)."""
    m = torch.where(is_open, vals, _NEG_INF).amax(dim)
    return torch.where(torch.isinf(m), torch.zeros_like(m), m)


def closed_output(out_ch: int, stride: int, inp: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """The zero output of a closed node (or step), shaped like the op's output, without running it."""
    spatial = tuple(-(-s // stride) for s in inp.shape[2:])
    return inp.new_zeros((inp.shape[0], groups * out_ch) + spatial)
