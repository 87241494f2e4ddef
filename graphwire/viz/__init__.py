"""Plots of graphs and of what training learned about them (matplotlib)."""

from . import adjacency, depth, history
from .adjacency import *  # noqa: F403
from .depth import *  # noqa: F403
from .history import *  # noqa: F403

__all__ = history.__all__ + adjacency.__all__ + depth.__all__
