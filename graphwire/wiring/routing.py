"""The routing protocol: for wirings whose coefficients depend on activations (DDW).

``begin(x)`` starts a forward pass on the batch ``x`` and returns a state whose ``coefficients``
attribute holds the ``[B, E]`` coefficients known so far. Both executors call
``after_step(state, step, y, alive)`` exactly once per plan step, with the step's output
``[B, G*C, ...]`` (its nodes in slot order) and its alive mask ``[B, G]`` (None when nothing can
close); the routing then fills in the coefficients of the edges leaving that step. The reference
executor calls it when a step's last node is done, so a routing method has one code path.
"""

from __future__ import annotations

import abc
from typing import Any

import torch

__all__ = ["Routing"]


class Routing(abc.ABC):
    """Mix-in for a :class:`~graphwire.wiring.base.Wiring` whose coefficients are per sample."""

    @abc.abstractmethod
    def begin(self, x: torch.Tensor) -> Any:
        """Start a forward pass; the returned state has ``coefficients`` ``[B, E]``."""

    @abc.abstractmethod
    def after_step(self, state: Any, step: int, y: torch.Tensor, alive: torch.Tensor | None) -> None:
        """Step ``step`` produced ``y``: update ``state.coefficients`` for the edges it routes."""
