"""A catalogue of bad inputs: each raises its specific graphwire error naming the culprit.

Never a bare KeyError/TypeError from inside networkx: the exception's exact type is the
graphwire one, and the message contains the node, edge, field or parameter at fault.
"""

from __future__ import annotations

import json

import networkx as nx
import pytest

from graphwire import errors, generators, prune, validate
from graphwire.errors import (
    AttributeValueError,
    CycleError,
    DeadNodeError,
    FormatError,
    GraphError,
    ParameterError,
    RoleError,
    SelfLoopError,
)
from graphwire.io import load, loads, render, to_dot, to_json


def dot_text(text):
    return loads(text, format="dot")


def dag(edges, roles=None) -> nx.DiGraph:
    """A DiGraph from ``edges``; ``roles`` maps node -> role."""
    G = nx.DiGraph()
    G.add_edges_from(edges)
    for n, role in (roles or {}).items():
        G.add_node(n, role=role)
    return G


def ok_graph() -> nx.DiGraph:
    """input 0 -> 1 -> 2 -> output 3, plus 0 -> 2."""
    return dag([(0, 1), (1, 2), (2, 3), (0, 2)], {0: "input", 3: "output"})


def with_node(n, **attrs) -> nx.DiGraph:
    G = ok_graph()
    G.nodes[n].update(attrs)
    return G


def with_edge(u, v, **attrs) -> nx.DiGraph:
    G = ok_graph()
    G.edges[u, v].update(attrs)
    return G


def doc(**changes) -> str:
    """JSON text of ok_graph with top-level fields changed (None deletes a field)."""
    data = json.loads(to_json(ok_graph()))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return json.dumps(data)


def doc_with(mutate) -> str:
    data = json.loads(to_json(ok_graph()))
    mutate(data)
    return json.dumps(data)


def weighted() -> nx.DiGraph:
    G = ok_graph()
    for i, (u, v) in enumerate(G.edges):
        G.edges[u, v]["weight"] = float(i + 1)
    return G


def _set_version(data):
    data["graph"]["graphwire"]["version"] = 99


def _cyclic_dot():
    return "digraph { a -> b; b -> c; c -> a; c -> d; }"


CASES = [
    # (id, thunk, exact exception type, substrings the message must contain)
    ("cycle", lambda: validate(dag([(0, 1), (1, 2), (2, 1), (2, 3)], {0: "input", 3: "output"})),
     CycleError, ["1 -> 2 -> 1"]),
    ("self-loop", lambda: validate(dag([(0, 1), (1, 1), (1, 2)], {0: "input", 2: "output"})),
     SelfLoopError, ["(1, 1)"]),
    ("no-input", lambda: validate(dag([(0, 1), (1, 2)], {2: "output"})), RoleError, ["'input'"]),
    ("no-output", lambda: validate(dag([(0, 1), (1, 2)], {0: "input"})), RoleError, ["'output'"]),
    ("no-roles-hint", lambda: validate(dag([(0, 1), (1, 2)])), RoleError, ["assign_roles"]),
    ("dead-node", lambda: validate(dag([(0, 1), (1, 2), (0, 7)], {0: "input", 2: "output"})),
     DeadNodeError, ["7", "reaching no output"]),
    ("unreachable-node", lambda: validate(dag([(0, 1), (1, 2), (9, 1)], {0: "input", 2: "output"})),
     DeadNodeError, ["9", "not reachable"]),
    ("input-with-incoming-edge",
     lambda: validate(dag([(0, 1), (1, 2), (2, 3)], {0: "input", 1: "input", 3: "output"})),
     RoleError, ["(0, 1)"]),
    ("unknown-agg", lambda: validate(with_node(1, agg="mean")), AttributeValueError,
     ["node 1", "'agg'", "'sum'", "'concat'", "'max'", "'mean'"]),
    ("bad-role", lambda: validate(with_node(2, role="middle")), AttributeValueError,
     ["node 2", "'role'", "'middle'", "'hidden'"]),
    ("negative-channels", lambda: validate(with_node(1, channels=-4)), AttributeValueError,
     ["node 1", "'channels'", "-4"]),
    ("zero-stride", lambda: validate(with_node(2, stride=0)), AttributeValueError, ["node 2", "'stride'", "0"]),
    ("nan-weight", lambda: validate(with_edge(1, 2, weight=float("nan"))), AttributeValueError,
     ["edge (1, 2)", "'weight'", "nan"]),
    ("inf-weight", lambda: to_json(with_edge(0, 2, weight=float("inf"))), AttributeValueError,
     ["edge (0, 2)", "'weight'", "inf"]),
    ("non-bool-active", lambda: validate(with_edge(2, 3, active="yes")), AttributeValueError,
     ["edge (2, 3)", "'active'", "'yes'"]),
    ("undirected-graph", lambda: validate(nx.Graph([(0, 1)])), GraphError, ["DiGraph", "Graph"]),
    ("multidigraph", lambda: validate(nx.MultiDiGraph([(0, 1)])), GraphError, ["MultiDiGraph"]),
    ("empty-graph", lambda: validate(nx.DiGraph()), RoleError, ["no nodes"]),
    ("non-integer-n", lambda: generators.chain(2.5), ParameterError, ["n must", "2.5"]),
    ("p-above-1", lambda: generators.erdos_renyi(8, 1.5, seed=0), ParameterError, ["p must", "1.5"]),
    ("p-below-0", lambda: generators.watts_strogatz(8, 4, -0.1, seed=0), ParameterError, ["p must", "-0.1"]),
    ("malformed-json", lambda: loads('{"nodes": [1, 2,]}'), FormatError, ["invalid JSON", "line 1, column"]),
    ("json-top-level-list", lambda: loads("[1, 2]"), FormatError, ["top level", "object"]),
    ("json-without-nodes", lambda: loads(doc(nodes=None)), FormatError, ["'nodes'"]),
    ("json-nodes-not-list", lambda: loads(doc(nodes={"0": {}})), FormatError, ["'nodes' must be a list"]),
    ("json-node-without-id", lambda: loads(doc_with(lambda d: d["nodes"][1].pop("id"))), FormatError,
     ["nodes[1]", "'id'"]),
    ("json-duplicate-node", lambda: loads(doc_with(lambda d: d["nodes"][2].update(id=1))), FormatError,
     ["duplicate node id 1"]),
    ("json-edge-without-target", lambda: loads(doc_with(lambda d: d["edges"][0].pop("target"))),
     FormatError, ["edges[0]", "'target'"]),
    ("json-edge-to-unknown-node", lambda: loads(doc_with(lambda d: d["edges"][1].update(target=99))),
     FormatError, ["edges[1]", "99"]),
    ("json-directed-false", lambda: loads(doc(directed=False)), FormatError, ["'directed'"]),
    ("json-multigraph", lambda: loads(doc(multigraph=True)), FormatError, ["'multigraph'"]),
    ("json-schema-version-99", lambda: loads(doc_with(_set_version)), FormatError,
     ["version", "99"]),
    ("json-cycle", lambda: loads(doc_with(lambda d: d["edges"].append({"source": 2, "target": 1}))),
     CycleError, ["1 -> 2 -> 1"]),
    ("json-missing-file", lambda: load("no_such_dir/graph.json"), FormatError, ["graph.json"]),
    ("json-unserialisable-value", lambda: to_json(with_node(1, tensor=object())), AttributeValueError,
     ["node 1", "'tensor'"]),
    ("dot-cycle", lambda: dot_text(_cyclic_dot()), CycleError, ["'a'", "'b'", "'c'"]),
    ("malformed-dot", lambda: dot_text("digraph { a -> ; }"), FormatError, ["malformed DOT"]),
    ("undirected-dot", lambda: dot_text("graph { a -- b; }"), FormatError, ["undirected"]),
    ("dot-bad-gw-json", lambda: dot_text('digraph { 0 -> 1 [gw_weight="{oops"]; }'), FormatError,
     ["gw_weight"]),
    ("dot-bad-rankdir", lambda: to_dot(ok_graph(), rankdir="up"), ParameterError, ["rankdir", "'up'"]),
    ("render-unknown-format", lambda: render(ok_graph(), "g.bmp"), ParameterError, ["'bmp'", "svg"]),
    ("prune-threshold-and-keep", lambda: prune(weighted(), threshold=1.0, keep=2), ParameterError,
     ["threshold", "keep"]),
    ("prune-keep-1.5", lambda: prune(weighted(), keep=1.5), ParameterError, ["keep", "1.5"]),
    ("prune-without-weight", lambda: prune(ok_graph(), keep=2), AttributeValueError, ["'weight'"]),
]


@pytest.mark.parametrize("thunk, expected, parts", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(thunk, expected, parts):
    with pytest.raises(GraphError) as info:
        thunk()
    exc = info.value
    assert type(exc) is expected, f"{type(exc).__name__}: {exc}"
    assert isinstance(exc, errors.GraphwireError) and isinstance(exc, ValueError)
    assert not isinstance(exc, (KeyError, TypeError))
    message = str(exc)
    for part in parts:
        assert part in message, (part, message)


def test_catalogue_is_large_and_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) >= 24 and len(set(ids)) == len(ids)


def test_nothing_is_executed_from_files(tmp_path):
    """JSON/DOT payloads that look like code are data: no eval, no pickle."""
    marker = tmp_path / "pwned"
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    G = ok_graph()
    G.nodes[1]["op"] = code
    H = loads(to_json(G))
    assert H.nodes[1]["op"] == code
    K = dot_text(f'digraph {{ 0 -> 1 [gw_note="\\"{code}\\""]; 1 -> 2; }}')
    assert K.edges[0, 1]["note"] == code
    assert not marker.exists()


# ---------------------------------------------------------------- the first hour's surprises
BIG = "1" + "0" * 400


def _json_with_big_weight():
    return to_json(ok_graph()).replace('{"source": 0, "target": 1}', '{"source": 0, "target": 1, "weight": %s}' % BIG)


def _torch_cases():
    import numpy as np
    import torch

    import graphwire as gw
    from graphwire import data, models, train

    net = gw.compile(generators.chain(2), in_channels=3, channels=4)
    mlp = models.wired_mlp(generators.chain(2), in_channels=8, num_classes=3, channels=4)
    x, y = torch.randn(8, 8), torch.randint(0, 3, (8,))
    good = data.loader(x, y, 4)
    return [
        ("float64-input", lambda: net(torch.randn(2, 3, 4, 4, dtype=torch.float64)), errors.ShapeError,
         ["float64", "float32", "x.to("]),
        ("int64-input", lambda: mlp(torch.ones(2, 8, dtype=torch.int64)), errors.ShapeError, ["int64"]),
        ("numpy-input", lambda: mlp(np.zeros((2, 8), np.float32)), errors.ShapeError, ["torch.Tensor", "ndarray"]),
        ("empty-batch", lambda: net(torch.randn(0, 3, 4, 4)), errors.ShapeError, ["B >= 1", "[0, 3, 4, 4]"]),
        ("loader-numpy", lambda: data.loader(np.zeros((4, 2)), np.zeros(4)), ParameterError, ["x", "torch.Tensor"]),
        ("loader-lengths", lambda: data.loader(torch.zeros(4, 2), torch.zeros(3)), ParameterError,
         ["same length", "4", "3"]),
        ("fit-epochs-negative", lambda: train.fit(mlp, good, -1, progress=False), ParameterError, ["epochs", "-1"]),
        ("fit-lr-nan", lambda: train.fit(mlp, good, 1, lr=float("nan"), progress=False), ParameterError,
         ["lr", "nan"]),
        ("mlp-no-classes", lambda: models.wired_mlp(generators.chain(2), in_channels=8, num_classes=0), ParameterError, ["num_classes", "0"]),
        ("conv2d-no-channels", lambda: models.wired_conv2d(generators.chain(2), in_channels=0, num_classes=10), ParameterError,
         ["in_channels", "0"]),
        ("compile-op-options-unknown", lambda: gw.compile(generators.chain(2), in_channels=3, channels=4,
                                                          op_options={"convv": {}}), ParameterError,
         ["'convv'", "known ops"]),
        ("compile-init-from-path", lambda: gw.compile(generators.chain(2), in_channels=3, channels=4,
                                                      init_from="net.pt"), ParameterError, ["init_from", "str"]),
        ("mask-edges-int", lambda: net.mask_edges([5]), ParameterError, ["(u, v) pairs", "5"]),
    ]


GRAPH_CASES = [
    ("json-400-digit-weight", lambda: loads(_json_with_big_weight()), AttributeValueError,
     ["(0, 1)", "'weight'", "401 digits"]),
    ("dot-400-digit-channels", lambda: dot_text("digraph { a [channels=%s]; a -> b }" % BIG), AttributeValueError,
     ["'a'", "'channels'", "401 digits"]),
    ("loads-long-non-json", lambda: loads("x" * 5000), FormatError, ["invalid JSON"]),
    ("load-given-text", lambda: load('{"nodes": []}'), FormatError, ["loads"]),
    ("load-unknown-suffix", lambda: load("graph.txt"), FormatError, ["'.txt'", "format="]),
    ("dot-undirected-edge-in-digraph", lambda: dot_text("digraph { a -> b; a -- c }"), FormatError, ["'--'"]),
    ("dot-parallel-edges", lambda: dot_text("digraph { a -> b; a -> b }"), FormatError, ["('a', 'b')", "twice"]),
    ("prune-no-path-suggests-ensure-path", lambda: prune(weighted(), keep=1), DeadNodeError, ["ensure_path=True",
                                                                                                 "--ensure-path"]),
    ("prune-per-node-with-threshold", lambda: prune(weighted(), threshold=1.0, per_node="in"), ParameterError,
     ["per_node", "keep"]),
]


@pytest.mark.parametrize("case", GRAPH_CASES + _torch_cases(), ids=lambda c: c[0])
def test_first_hour_bad_input(case):
    _, thunk, expected, parts = case
    with pytest.raises(errors.GraphwireError) as info:
        thunk()
    exc = info.value
    assert type(exc) is expected, f"{type(exc).__name__}: {exc}"
    message = str(exc)
    assert "\n" not in message.strip()  # one line
    for part in parts:
        assert part in message, (part, message)


def test_history_from_another_graph_is_refused(tmp_path):
    from graphwire.io import History, to_html

    from graphwire.graph import edges_hash

    h = History(edges=list(generators.chain(3).edges), meta={"graph_hash": edges_hash(generators.chain(3).edges)})
    h.add({"weight": [0.5] * 4}, epoch=0, step=0)
    with pytest.raises(ParameterError, match="another graph"):
        h.check_graph(generators.resnet(3))
    with pytest.raises(ParameterError, match="another graph"):
        to_html(generators.resnet(3), h)
    h.check_graph(generators.chain(3))
    G = generators.chain(3)
    for i, e in enumerate(G.edges):
        G.edges[e]["weight"] = 1.0
    h.check_graph(prune(G, threshold=0.5))  # a graph pruned from the one trained: its lineage says so
