"""graphwire: the wiring of a neural network as a networkx DAG you can generate, learn, prune and draw.

>>> import torch, graphwire as gw
>>> G = gw.generators.watts_strogatz(8, 4, 0.75, seed=1)
>>> net = gw.compile(G, in_channels=3, channels=8, wiring="sigmoid")
>>> net(torch.randn(2, 3, 16, 16)).shape
torch.Size([2, 8, 16, 16])
>>> pruned = gw.prune(net.write_back(), keep=0.5)
>>> small = gw.compile(pruned, in_channels=3, channels=8, init_from=net)
"""

from . import errors, generators, io
from .compiler import WiredNet, compile, known_ops, register_op
from .errors import GraphError, GraphwireError
from .graph import SCHEMA_VERSION, assign_roles, generations, validate
from .prune import prune
from .wiring import register_wiring

__version__ = "0.1.0"

__all__ = [
    "SCHEMA_VERSION",
    "GraphError",
    "GraphwireError",
    "WiredNet",
    "assign_roles",
    "compile",
    "errors",
    "generations",
    "generators",
    "io",
    "known_ops",
    "prune",
    "register_op",
    "register_wiring",
    "validate",
]
