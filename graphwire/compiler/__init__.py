"""``graphwire.compile``: graphs become torch modules.

The plan is inert data of its own (:mod:`graphwire.plan`); here: :mod:`~graphwire.compiler.planners` (one
``build_plan``), :mod:`~graphwire.compiler.settings` (compile's arguments and the graph's record
of them), :mod:`~graphwire.compiler.assemble` (the build sequence), :mod:`~graphwire.compiler.module`
(``WiredNet``), :mod:`~graphwire.compiler.pipeline` (``compile``),
:mod:`~graphwire.compiler.carry_over`, :mod:`~graphwire.compiler.memory` and
:mod:`~graphwire.compiler.flops`.
"""

from .module import WiredNet
from .pipeline import compile, wired_core
from .planners import build_plan

__all__ = ["WiredNet", "compile", "wired_core", "build_plan"]
