"""graphwire: the wiring of a neural network as a networkx DAG you can generate, learn, prune and draw.

>>> import torch, graphwire as gw
>>> G = gw.generators.watts_strogatz(8, 4, 0.75, seed=1)
>>> net = gw.compile(G, in_channels=3, channels=8, wiring="sigmoid")
>>> net(torch.randn(2, 3, 16, 16)).shape
torch.Size([2, 8, 16, 16])
>>> pruned = gw.prune(net.write_back(), keep=0.5, ensure_path=True)
>>> small = net.recompile(pruned)  # the graph records how to compile it; parameters carry over
"""

from . import errors, generators, io, transforms
from .errors import GraphError, GraphwireError
from .graph import SCHEMA_VERSION, assign_roles, generations, validate
from .transforms import derive, prune, share

__version__ = "0.1.0"

# The torch side loads on first use, so graph-only work (and the CLI) does not import torch.
_LAZY = {
    "compile": ("compiler", "compile"),
    "WiredNet": ("compiler", "WiredNet"),
    "register_op": ("ops", "register_op"),
    "register_wiring": ("wiring", "register_wiring"),
    "ops": ("ops", None),
    "search": ("search", None),
    "executors": ("executors", None),
    "models": ("models", None),
    "data": ("data", None),
    "train": ("train", None),
    "wiring": ("wiring", None),
    "compiler": ("compiler", None),
    "nn": ("nn", None),
    "viz": ("viz", None),
    "inference_cost": ("compiler.flops", "inference_cost"),
    "training_cost": ("compiler.flops", "training_cost"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        mod = importlib.import_module(f".{module}", __name__)
        value = mod if attr is None else getattr(mod, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'graphwire' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "SCHEMA_VERSION",
    "executors",
    "ops",
    "search",
    "share",
    "transforms",
    "nn",
    "viz",
    "GraphError",
    "GraphwireError",
    "WiredNet",
    "assign_roles",
    "compile",
    "compiler",
    "data",
    "derive",
    "errors",
    "generations",
    "generators",
    "inference_cost",
    "io",
    "models",
    "prune",
    "register_op",
    "register_wiring",
    "train",
    "training_cost",
    "validate",
    "wiring",
]
