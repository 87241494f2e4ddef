"""Errors graphwire raises for bad input.

Every bad graph, file, parameter or tensor gets an exception from this module whose message
names the culprit (node, edge, field, op) and what was expected, so a user never has to read a
traceback from deep inside networkx or torch. All graph errors subclass ``ValueError`` too, so
``except ValueError`` keeps working for code that does not know graphwire.
"""

from __future__ import annotations

from typing import Iterable

__all__ = [
    "GraphwireError",
    "GraphError",
    "CycleError",
    "SelfLoopError",
    "RoleError",
    "DeadNodeError",
    "AttributeValueError",
    "ParameterError",
    "FormatError",
    "UnknownOpError",
    "ShapeError",
    "WiringError",
    "RenderError",
]


class GraphwireError(Exception):
    """Base class of everything graphwire raises on purpose."""


class GraphError(GraphwireError, ValueError):
    """A graph, a file describing one, or a parameter building one is not acceptable."""


class CycleError(GraphError):
    """The graph has a directed cycle; ``.cycle`` holds its edges."""

    def __init__(self, message: str, cycle: list | None = None):
        super().__init__(message)
        self.cycle = cycle or []


class SelfLoopError(GraphError):
    """An edge goes from a node to itself."""


class RoleError(GraphError):
    """Input/output roles are missing or contradict the edges (an input with predecessors...)."""


class DeadNodeError(GraphError):
    """Nodes that are not on any input -> output path."""

    def __init__(self, message: str, nodes: list | None = None):
        super().__init__(message)
        self.nodes = nodes or []


class AttributeValueError(GraphError):
    """A node, edge or graph attribute has a value outside its allowed set or type."""


class ParameterError(GraphError):
    """A function argument (generator size, probability, prune budget...) is out of range."""


class FormatError(GraphError):
    """A JSON or DOT document is malformed; the message names the field."""


class UnknownOpError(GraphError, KeyError):
    """A node names an operation that is not registered; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class ShapeError(GraphError):
    """Tensors meeting at a node (or entering the network) have incompatible shapes."""


class WiringError(GraphError):
    """An unknown wiring method, or an option a wiring does not accept."""


class RenderError(GraphwireError, RuntimeError):
    """Graphviz' ``dot`` binary is missing or failed."""


def describe(items: Iterable, limit: int = 8) -> str:
    """Format nodes/edges for a message: ``[3, 7, 9]`` or ``[3, 7, ... (+12 more)]``."""
    items = list(items)
    shown = ", ".join(repr(x) for x in items[:limit])
    more = f", ... (+{len(items) - limit} more)" if len(items) > limit else ""
    return f"[{shown}{more}]"
