"""Executors: interpreters of a :class:`~graphwire.plan.Plan`.

An executor is a function ``(plan, net, x) -> y`` (an :class:`Executor`). The plan says what
runs; the network (an :class:`Executable`: the :class:`~graphwire.compiler.module.WiredNet`, which
owns everything) gives each step's op (``net.step_op(i)``, a :class:`~graphwire.ops.step.StepOp`),
the wiring, the index buffers and the edge mask, all read at each call. ``reference`` runs one
node at a time (the oracle); ``batched`` runs a step of same-signature nodes as one kernel. Both
must give the same numbers, gradients and BatchNorm statistics.
"""

from ..registry import Registry
from ._common import Executable, Executor
from .batched import Batched, batched_forward
from .reference import reference_forward
from .tuning import Schedule, StepChoice

#: The executors by name: ``net.executor = "reference"`` picks one; ``EXECUTORS.register(name, fn)`` adds one.
EXECUTORS: Registry = Registry("executor")
EXECUTORS.register("reference", reference_forward)
EXECUTORS.register("batched", batched_forward)

__all__ = ["EXECUTORS", "Executable", "Executor", "Batched", "Schedule", "StepChoice", "batched_forward",
           "reference_forward"]
