"""Rebuild a generated graph from its record: ``G.graph["graphwire"]["generator"]``.

A record names the generator, its parameters, the seed and, where a generator has more than one
sampler, the algorithm. Records written before the algorithm was recorded have no
``"algorithm"`` field; they regenerate with the sampler that existed then (``"gnp"`` for
Erdős–Rényi), so a saved graph comes back edge for edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

import networkx as nx

from ..errors import ParameterError
from .classic import chain, complete, densenet, resnet
from .darts_cell import darts_cell
from .layered import layered
from .random_graphs import barabasi_albert, erdos_renyi, watts_strogatz
from .stack import stack

__all__ = ["regenerate"]

_PLAIN: dict[str, Callable[..., nx.DiGraph]] = {
    "chain": chain,
    "resnet": resnet,
    "densenet": densenet,
    "complete": complete,
    "darts_cell": darts_cell,
    "barabasi_albert": barabasi_albert,
    "watts_strogatz": watts_strogatz,
}


def _from_record(rec: Any, where: str) -> nx.DiGraph:
    if not isinstance(rec, Mapping) or not isinstance(rec.get("name"), str):
        raise ParameterError(f"{where} must be a generator record with a 'name', got {rec!r}")
    name = rec["name"]
    params = rec.get("params") or {}
    if not isinstance(params, Mapping):
        raise ParameterError(f"{where}.params must be a mapping, got {params!r}")
    seed = rec.get("seed")
    if name == "stack":
        stages = rec.get("stages")
        if not isinstance(stages, list) or not stages:
            raise ParameterError(f"{where}.stages must be a non-empty list of stage records, got {stages!r}")
        H = stack([_from_record(s, f"{where}.stages[{i}]") for i, s in enumerate(stages)])
        # the stages carry their own (derived) seeds; keep the seed and flag the call was given
        H.graph["graphwire"]["generator"].update(seed=seed, same_graph=bool(rec.get("same_graph", False)))
        return H
    if name == "erdos_renyi":
        # no "algorithm": recorded before fast_gnp existed, when every ER graph used gnp
        return erdos_renyi(**params, seed=seed, algorithm=rec.get("algorithm", "gnp"))
    if name == "layered":
        return layered(**params, seed=seed)
    if name in _PLAIN:
        if name in ("barabasi_albert", "watts_strogatz"):
            return _PLAIN[name](**params, seed=seed)
        return _PLAIN[name](**params)
    known = sorted([*_PLAIN, "erdos_renyi", "layered", "stack"])
    raise ParameterError(f"{where}.name {name!r} is not a generator graphwire can replay; known: {known}")


def regenerate(source: nx.DiGraph | Mapping[str, Any]) -> nx.DiGraph:
    """Generate again the graph a record describes (a generated graph, or its record itself).

    The result has the same nodes, edges and record as the original, on the networkx version
    the record names (networkx's samplers may change between versions).

    >>> from graphwire.generators import erdos_renyi
    >>> G = erdos_renyi(40, 0.1, seed=3)
    >>> sorted(regenerate(G).edges()) == sorted(G.edges())
    True
    """
    if isinstance(source, nx.Graph):
        record = source.graph.get("graphwire")
        rec = record.get("generator") if isinstance(record, Mapping) else None
        if rec is None:
            raise ParameterError("source has no generator record (G.graph['graphwire']['generator'])")
        return _from_record(rec, "generator")
    return _from_record(source, "record")
