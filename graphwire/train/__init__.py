"""Training: :mod:`~graphwire.train.loop` (``fit``, ``evaluate``...), :mod:`~graphwire.train.darts`
(bilevel search) and :mod:`~graphwire.train.depth` (the exact-ELBO loop)."""

from . import darts, depth, loop
from ..compiler.module import wired_core
from ..io.history import History
from .darts import *  # noqa: F401,F403
from .depth import *  # noqa: F401,F403
from .loop import *  # noqa: F401,F403
