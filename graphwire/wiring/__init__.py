"""Wiring methods: one module each, behind the interface in :mod:`graphwire.wiring.base`."""

from .base import EdgeContext, Wiring
from .registry import WIRINGS, make_wiring, register_wiring

# Importing a method module registers it.
from . import static, sigmoid, dnw, ddw, darts, depth, l0  # noqa: E402,F401  isort: skip

__all__ = ["Wiring", "EdgeContext", "WIRINGS", "make_wiring", "register_wiring"]
