"""``graphwire.compile``: graphs become torch modules (op registry, plan, executors, WiredNet)."""

from .net import WiredNet, compile
from .ops import known_ops, register_op
from .plan import Plan, build_plan
from . import channel, darts_ops, resblocks  # noqa: E402,F401  (importing registers the ops)

__all__ = ["WiredNet", "compile", "register_op", "known_ops", "Plan", "build_plan"]
