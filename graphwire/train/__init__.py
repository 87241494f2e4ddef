"""Training helpers: a fit loop with a history of the wiring, evaluation, BatchNorm recalibration,
and bilevel (architecture / weight) updates."""

from . import bilevel, loop
from .bilevel import *  # noqa: F401,F403
from .loop import *  # noqa: F401,F403

__all__ = loop.__all__ + bilevel.__all__
