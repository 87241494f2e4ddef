"""``graphwire.compile``: graphs become torch modules.

:mod:`~graphwire.compiler.plan` (inert plan data), :mod:`~graphwire.compiler.planners` (one
``build_plan``), :mod:`~graphwire.compiler.module` (``WiredNet``, its runtime, ``compile``),
:mod:`~graphwire.compiler.carry_over` and :mod:`~graphwire.compiler.flops`.
"""

from .module import Runtime, WiredNet, compile, wired_core
from .plan import Plan
from .planners import build_plan

__all__ = ["WiredNet", "Runtime", "compile", "wired_core", "Plan", "build_plan"]
