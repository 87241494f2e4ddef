"""Executors: interpreters of a :class:`~graphwire.plan.Plan`.

An executor is a function ``(plan, runtime, x) -> y``. The plan says what runs; the runtime
(owned by the :class:`~graphwire.compiler.module.WiredNet`) gives the node modules, the wiring,
the index buffers and the edge mask, all read at each call. ``reference`` runs one node at a time
(the oracle); ``batched`` runs a step of same-signature nodes as one kernel. Both must give the
same numbers, gradients and BatchNorm statistics.
"""

from ..registry import Registry
from .batched import batched_forward
from .reference import reference_forward

#: The executors by name: ``net.executor = "reference"`` picks one; ``EXECUTORS.register(name, fn)`` adds one.
EXECUTORS: Registry = Registry("executor")
EXECUTORS.register("reference", reference_forward)
EXECUTORS.register("batched", batched_forward)

__all__ = ["EXECUTORS", "batched_forward", "reference_forward"]
