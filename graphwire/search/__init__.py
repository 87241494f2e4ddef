"""Discrete architecture search over graphs: spaces make graphs, strategies propose them,
Optuna runs the trials (one journal file by default), every candidate is stored as a graph.

>>> from graphwire import search
>>> space = search.CellSpace(blocks=2)
>>> G = space.sample(__import__("random").Random(0))
>>> space.decode(space.encode(G)).number_of_nodes() == G.number_of_nodes()
True

Graph-only work (spaces, hashing, strategies' bookkeeping) imports neither torch nor Optuna;
training objectives, the rl/pnas strategies and the runner import them when used.
"""

from .hashing import HASH_VERSION, graph_hash
from .spaces import (
    CellSpace,
    FunctionSpace,
    GeneratorSpace,
    MacroSpace,
    SPACES,
    SearchSpace,
    space,
)
from .strategies import (
    Proposal,
    Record,
    Strategy,
    STRATEGIES,
    make_strategy,
)

__all__ = [
    "HASH_VERSION",
    "CellSpace",
    "FunctionSpace",
    "GeneratorSpace",
    "MacroSpace",
    "Proposal",
    "SPACES",
    "STRATEGIES",
    "Record",
    "SearchSpace",
    "Strategy",
    "TabularBenchmark",
    "graph_hash",
    "make_strategy",
    "report",
    "retrain",
    "run",
    "simulate",
    "space",
]

_LAZY = {"run": ("runner", "run"), "TabularBenchmark": ("tabular", "TabularBenchmark"),
         "simulate": ("tabular", "simulate"), "report": ("report", "report"),
         "retrain": ("report", "retrain")}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'graphwire.search' has no attribute {name!r}")
