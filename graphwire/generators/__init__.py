"""Graph generators: plain functions returning a new, valid ``networkx.DiGraph``.

``n`` counts hidden nodes: node 0 is the input, node ``n + 1`` the output. Every generator
records its name, parameters, seed and the networkx version in ``G.graph["graphwire"]``.

* classic edge sets: :func:`chain` (VGG), :func:`resnet`, :func:`densenet`, :func:`complete`;
* RandWire random graphs: :func:`erdos_renyi`, :func:`barabasi_albert`, :func:`watts_strogatz`;
* DNW depth-limited blocks: :func:`layered`;
* several stages chained into one network: :func:`stack`;
* each method's graphs: :func:`darts_cell` / :func:`darts_cells` (DARTS), :func:`depth_chain`
  (depth search), :func:`ddw_resnet_graph` (DDW's ResNets), :func:`channel_chain` and
  :func:`tiny_graph` (DNW's channel graphs);
* a graph generated again from its record: :func:`regenerate`;
* a compact graph's candidate blocks as networkx edges: :func:`materialize_candidates` (see
  :mod:`graphwire.edgeset.blocks`; ``channel_chain(..., compact=True)`` builds one).

Generators build their edges as numpy arrays and add them to networkx once, so time and memory
grow with nodes + edges, and refuse (``ParameterError``) a size whose estimated memory exceeds
what the machine has available, before allocating it.

>>> from graphwire import generators
>>> generators.watts_strogatz(32, 4, 0.75, seed=1).number_of_nodes()
34
"""

from ..edgeset.blocks import materialize_candidates
from .classic import chain, complete, densenet, resnet
from .darts_cell import darts_cell, darts_cells
from .ddw import ddw_resnet_graph
from .dnw import channel_chain, tiny_graph
from .depth import depth_chain
from .layered import layered
from .random_graphs import barabasi_albert, erdos_renyi, watts_strogatz
from .regenerate import regenerate
from .stack import stack, stage_seed

__all__ = [
    "barabasi_albert",
    "chain",
    "complete",
    "darts_cell",
    "densenet",
    "erdos_renyi",
    "layered",
    "materialize_candidates",
    "regenerate",
    "resnet",
    "stack",
    "stage_seed",
    "darts_cells",
    "channel_chain",
    "tiny_graph",
    "ddw_resnet_graph",
    "depth_chain",
    "watts_strogatz",
]
