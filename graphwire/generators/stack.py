"""Stacking stages into one network: the output node of stage k feeds the input node of stage k+1."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import networkx as nx
import numpy as np

from ..errors import GraphError, ParameterError
from ..graph import inputs, meta, outputs, sort_key, validate
from ._common import (
    check_bool,
    check_int,
    check_seed,
    check_size,
    gc_paused,
    resolve_seed,
    show_int,
)

__all__ = ["stack", "stage_seed"]


def stage_seed(seed: int, stage: int) -> int:
    """The seed of stage ``stage`` derived from ``seed`` (same on every machine).

    >>> stage_seed(1, 0) == stage_seed(1, 0) != stage_seed(1, 1)
    True
    """
    return int(np.random.SeedSequence([seed, stage]).generate_state(1)[0])


def _accepts(func: Callable, name: str, sig: inspect.Signature | None) -> bool:
    if sig is None:
        return True
    params = sig.parameters
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _generate(func: Callable, stages: Any, seed: Any, same_graph: bool, params: dict) -> tuple[list, int | None]:
    fname = getattr(func, "__name__", repr(func))
    stages = check_int("stages", stages, 1, why="the number of stages to generate with " + fname)
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):  # builtins without a signature
        sig = None
    if sig is not None:
        has_var = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
        unknown = [k for k in params if k not in sig.parameters and not has_var]
        if unknown:
            known = [k for k in sig.parameters if k != "seed"]
            raise ParameterError(
                f"{fname}() does not accept the parameter(s) {unknown}; it accepts {known}"
            )
    takes_seed = _accepts(func, "seed", sig)
    seed = resolve_seed(seed) if takes_seed else check_seed(seed)
    if sig is not None:
        try:
            sig.bind(**params, **({"seed": seed} if takes_seed else {}))
        except TypeError as err:
            raise ParameterError(f"cannot call {fname}() with {sorted(params)}: {err}") from err
    graphs = []
    for i in range(stages):
        kwargs = dict(params)
        if takes_seed:
            kwargs["seed"] = seed if same_graph else stage_seed(seed, i)
        G = func(**kwargs)
        if not isinstance(G, nx.DiGraph):
            raise ParameterError(
                f"graphs: {fname}(**{kwargs!r}) returned {type(G).__name__}, expected a networkx.DiGraph"
            )
        if i == 0 and stages > 1:  # every stage is about this size: refuse the whole before building more
            check_size(f"stages = {show_int(stages, False)} of {fname}", stages * G.number_of_nodes(), stages * G.number_of_edges())
        graphs.append(G)
    return graphs, seed


def _order(G: nx.DiGraph) -> list:
    # Label order when it is topological (generated graphs), else the lexicographic topological one.
    # When every edge goes from a lower to a higher int label, the smallest remaining label is
    # always free, so the lexicographic sort would give label order: O(m) check, no heap.
    if all(type(v) is int for v in G) and all(u < v for u, v in G.edges()):
        return sorted(G)
    return list(nx.lexicographical_topological_sort(G, key=sort_key))


_ATOMS = (str, int, float, bool, type(None))


def _own(d: dict) -> dict:
    """A copy sharing nothing mutable with ``d``: ``dict(d)`` when every value is a plain scalar
    (generated graphs), else a deep copy."""
    return dict(d) if all(type(x) in _ATOMS for x in d.values()) else copy.deepcopy(d)


@gc_paused
def stack(
    graphs: Sequence[nx.DiGraph] | Callable[..., nx.DiGraph],
    stages: int | None = None,
    *,
    seed: int | None = None,
    same_graph: bool = False,
    **params: Any,
) -> nx.DiGraph:
    """Chain stages into one network: stage k's output node feeds stage k+1's input node.

    Two forms:

    * ``stack([G1, G2, G3])``: the given graphs are the stages. Every stage but the first must
      have exactly one input node, every stage but the last exactly one output node.
    * ``stack(watts_strogatz, 3, seed=1, n=32, k=4, p=0.75)``: a generator called ``stages``
      times with ``**params``. Stage ``i`` gets the derived seed :func:`stage_seed(seed, i)
      <stage_seed>`, so stages are distinct graphs (as in the RandWire paper); with
      ``same_graph=True`` every stage gets ``seed`` itself and so the same graph. ``seed=None``
      draws a seed and records it. Generators without a ``seed`` parameter are called without one.

    Nodes are relabelled ``0..N-1`` stage by stage (each stage in label order when that is a
    topological order, else in lexicographic topological order); node and edge attributes are
    copied, every node gets ``stage=k`` (replacing any ``stage`` it had), and the joined nodes
    become ``role="hidden"``. The joining edges carry no attributes.

    >>> from graphwire.generators import watts_strogatz
    >>> G = stack(watts_strogatz, 3, seed=1, n=8, k=4, p=0.75)
    >>> G.number_of_nodes(), sorted(G.nodes[9].items())
    (30, [('role', 'hidden'), ('stage', 0)])
    >>> G.has_edge(9, 10)
    True
    """
    same_graph = check_bool("same_graph", same_graph)
    if callable(graphs) and not isinstance(graphs, nx.Graph):
        stage_graphs, seed = _generate(graphs, stages, seed, same_graph, params)
    else:
        if stages is not None:
            raise ParameterError(
                f"stages must be None when graphs is a list of graphs (the list sets the stages), got {stages!r}"
            )
        if seed is not None or same_graph or params:
            extra = [k for k, v in (("seed", seed), ("same_graph", same_graph)) if v not in (None, False)]
            extra += list(params)
            raise ParameterError(
                f"{extra} only apply when graphs is a generator function; got a list of graphs"
            )
        if isinstance(graphs, nx.Graph):
            raise ParameterError(
                f"graphs must be a list of networkx.DiGraph stages or a generator function, got a single "
                f"{type(graphs).__name__}; wrap it in a list"
            )
        if isinstance(graphs, (str, bytes)) or not hasattr(graphs, "__iter__"):
            raise ParameterError(
                f"graphs must be a list of networkx.DiGraph stages or a generator function, got {graphs!r}"
            )
        stage_graphs = list(graphs)
    if not stage_graphs:
        raise ParameterError("graphs must hold at least one stage, got an empty list")

    last = len(stage_graphs) - 1
    for k, G in enumerate(stage_graphs):
        if not isinstance(G, nx.DiGraph) or G.is_multigraph():
            raise ParameterError(f"graphs[{k}] must be a networkx.DiGraph, got {type(G).__name__}")
        try:
            validate(G)
        except GraphError as err:
            raise ParameterError(f"graphs[{k}] (stage {k}) is not a valid graph: {err}") from err
        if k > 0 and len(inputs(G)) != 1:
            raise ParameterError(
                f"graphs[{k}] (stage {k}) must have exactly one input node to be fed by stage {k - 1}, "
                f"it has {len(inputs(G))}: {inputs(G)!r}"
            )
        if k < last and len(outputs(G)) != 1:
            raise ParameterError(
                f"graphs[{k}] (stage {k}) must have exactly one output node to feed stage {k + 1}, "
                f"it has {len(outputs(G))}: {outputs(G)!r}"
            )

    H = nx.DiGraph()
    records = []
    prev_out = None
    offset = 0
    for k, G in enumerate(stage_graphs):
        order = _order(G)
        label = {node: offset + i for i, node in enumerate(order)}
        first_in = label[inputs(G)[0]]
        for node in order:
            attrs = _own(G.nodes[node])
            attrs.setdefault("role", "hidden")
            attrs["stage"] = k
            H.add_node(label[node], **attrs)
        if k > 0:
            H.nodes[first_in]["role"] = "hidden"
            H.add_edge(prev_out, first_in)
        if k < last:
            prev_out = label[outputs(G)[0]]
            H.nodes[prev_out]["role"] = "hidden"
        stage_edges = sorted(((label[u], label[v], d) for u, v, d in G.edges(data=True)), key=lambda e: e[:2])
        H.add_edges_from((u, v, _own(d)) for u, v, d in stage_edges)
        record = G.graph.get("graphwire")
        records.append(copy.deepcopy(record.get("generator")) if isinstance(record, dict) else None)
        offset += len(order)

    meta(H)["generator"] = {"name": "stack", "stages": records, "seed": seed, "same_graph": same_graph}
    return H
