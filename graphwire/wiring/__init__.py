"""Wiring methods: one module each, behind the protocols in :mod:`~graphwire.wiring.base` (every
method) and :mod:`~graphwire.wiring.routing` (methods whose coefficients depend on activations).

Pass a method by name with its options as keywords, or as a typed spec:
``compile(G, wiring="dnw", k=0.05)`` is ``compile(G, wiring=graphwire.wiring.DNW(k=0.05))``.
"""

from .base import Wiring, WiringSpec, WriteBack, check_bool, check_choice, check_int, check_number
from .registry import WIRINGS, make_wiring, register_wiring
from .routing import Routing

# Importing a method module registers it.
from . import static, sigmoid, dnw, ddw, darts, depth, l0
from .static import Static
from .sigmoid import Sigmoid
from .dnw import DNW
from .ddw import DDW
from .darts import Darts
from .depth import Depth
from .l0 import L0

__all__ = ["Wiring", "WriteBack", "Routing", "WIRINGS", "WiringSpec", "make_wiring", "check_number", "check_int",
           "check_bool", "check_choice",
           "register_wiring", "Static", "Sigmoid", "DNW", "DDW", "Darts", "Depth", "L0",
           "static", "sigmoid", "dnw", "ddw", "darts", "depth", "l0"]
