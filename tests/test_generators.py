"""Generators: exact edge sets, RandWire conversion, seeds, layered blocks, stacking, bad arguments."""

from __future__ import annotations

import json
import math
import random

import networkx as nx
import numpy as np
import pytest

from graphwire import generators as gen
from graphwire.errors import ParameterError
from graphwire.graph import SCHEMA_VERSION, validate

SEEDS = range(200)


def edges(G):
    return sorted(G.edges())


def snapshot(G):
    """Everything that makes a graph: nodes and edges with attributes, graph attributes."""
    return (
        list(G.nodes(data=True)),
        [(u, v, d) for u, v, d in G.edges(data=True)],
        json.dumps(G.graph, sort_keys=True),
    )


def on_io_path(G, source, sink):
    reach = nx.descendants(G, source) | {source}
    back = nx.ancestors(G, sink) | {sink}
    return all(v in reach and v in back for v in G)


def check_roles(G, n):
    assert [G.nodes[i]["role"] for i in range(n + 2)] == ["input"] + ["hidden"] * n + ["output"]


# ---------------------------------------------------------------- classic edge sets
@pytest.mark.parametrize("n", [0, 1, 2, 3, 7])
def test_classic_edge_sets(n):
    N = n + 2
    expected = {
        "chain": [(i, i + 1) for i in range(N - 1)],
        "resnet": sorted([(i, i + 1) for i in range(N - 1)] + [(i, i + 2) for i in range(N - 2)]),
        "densenet": [(i, j) for i in range(N) for j in range(i + 1, N)],
        "complete": [(i, j) for i in range(N) for j in range(i + 1, N)],
    }
    for name, want in expected.items():
        G = getattr(gen, name)(n)
        validate(G)
        assert list(G.nodes()) == list(range(N))
        assert edges(G) == want, name
        assert list(G.edges()) == want, name  # added in sorted order
        check_roles(G, n)
        rec = G.graph["graphwire"]
        assert rec["version"] == SCHEMA_VERSION
        assert rec["generator"] == {"name": name, "params": {"n": n}, "seed": None, "networkx": nx.__version__}


def test_classic_small_cases():
    assert edges(gen.chain(0)) == [(0, 1)]
    assert edges(gen.resnet(0)) == [(0, 1)]
    assert edges(gen.resnet(2)) == [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]
    assert gen.complete(2).has_edge(0, 3)
    assert gen.densenet(30).number_of_edges() == 32 * 31 // 2


def test_numpy_int_accepted_and_recorded_as_int():
    G = gen.chain(np.int64(3))
    assert G.number_of_nodes() == 5
    assert type(G.graph["graphwire"]["generator"]["params"]["n"]) is int


# ---------------------------------------------------------------- RandWire random graphs
FAMILIES = {
    "erdos_renyi": (lambda n, s: gen.erdos_renyi(n, 0.2, seed=s), lambda n, s: nx.erdos_renyi_graph(n, 0.2, seed=s)),
    "barabasi_albert": (lambda n, s: gen.barabasi_albert(n, 3, seed=s), lambda n, s: nx.barabasi_albert_graph(n, 3, seed=s)),
    "watts_strogatz": (
        lambda n, s: gen.watts_strogatz(n, 4, 0.75, seed=s),
        lambda n, s: nx.watts_strogatz_graph(n, 4, 0.75, seed=s),
    ),
}


def check_randwire(G, U, n):
    """G is U shifted by one and oriented low -> high, plus input 0 and output n+1 per RandWire."""
    validate(G)
    out = n + 1
    assert list(G.nodes()) == list(range(n + 2))
    check_roles(G, n)
    hidden = G.subgraph(range(1, n + 1))
    assert all(u < v for u, v in G.edges())
    assert {frozenset((u - 1, v - 1)) for u, v in hidden.edges()} == {frozenset(e) for e in U.edges()}
    sources = {v + 1 for v in U if all(w > v for w in U[v])}
    sinks = {v + 1 for v in U if all(w < v for w in U[v])}
    assert set(G.successors(0)) == sources
    assert set(G.predecessors(out)) == sinks
    assert not G.has_edge(0, out)
    assert [v for v in G if G.in_degree(v) == 0] == [0]
    assert [v for v in G if G.out_degree(v) == 0] == [out]
    assert nx.is_directed_acyclic_graph(G)
    assert on_io_path(G, 0, out)
    assert list(G.edges()) == sorted(G.edges())


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_randwire_matches_networkx_over_many_seeds(family):
    ours, theirs = FAMILIES[family]
    for s in SEEDS:
        n = 16 + s % 17  # 16..32
        G = ours(n, s)
        check_randwire(G, theirs(n, s), n)
        assert G.graph["graphwire"]["generator"]["seed"] == s


def test_randwire_params_recorded():
    G = gen.watts_strogatz(32, 4, 0.75, seed=7)
    assert G.graph["graphwire"]["generator"] == {
        "name": "watts_strogatz",
        "params": {"n": 32, "k": 4, "p": 0.75},
        "seed": 7,
        "networkx": nx.__version__,
    }
    assert gen.barabasi_albert(32, 5, seed=1).graph["graphwire"]["generator"]["params"] == {"n": 32, "m": 5}
    rec = gen.erdos_renyi(10, 1, seed=2).graph["graphwire"]["generator"]
    assert rec["params"] == {"n": 10, "p": 1.0} and type(rec["params"]["p"]) is float
    json.dumps(rec)


def test_randwire_paper_edge_counts():
    # WS(32, 4, p) keeps n*k/2 = 64 edges; BA(32, 5) has m*(n-m) = 135.
    for s in range(5):
        G = gen.watts_strogatz(32, 4, 0.75, seed=s)
        assert G.subgraph(range(1, 33)).number_of_edges() == 64
        G = gen.barabasi_albert(32, 5, seed=s)
        assert G.subgraph(range(1, 33)).number_of_edges() == 135


def test_erdos_renyi_isolated_nodes():
    found = 0
    for s in range(300):
        U = nx.erdos_renyi_graph(32, 0.2, seed=s)
        isolated = [v for v in U if U.degree(v) == 0]
        if not isolated:
            continue
        found += 1
        G = gen.erdos_renyi(32, 0.2, seed=s)
        check_randwire(G, U, 32)
        for v in isolated:
            assert set(G.predecessors(v + 1)) == {0} and set(G.successors(v + 1)) == {33}
    assert found >= 3  # about 3% of ER(32, 0.2) graphs have an isolated node
    # p = 0: every hidden node isolated; n = 1: a single hidden node.
    assert edges(gen.erdos_renyi(3, 0.0, seed=0)) == [(0, 1), (0, 2), (0, 3), (1, 4), (2, 4), (3, 4)]
    assert edges(gen.erdos_renyi(1, 0.5, seed=0)) == [(0, 1), (1, 2)]


def test_watts_strogatz_smallest_and_densest():
    check_randwire(gen.watts_strogatz(3, 2, 0.5, seed=1), nx.watts_strogatz_graph(3, 2, 0.5, seed=1), 3)
    for s in range(20):  # k = n - 1: rewiring has nowhere to go, must not hang
        check_randwire(gen.watts_strogatz(9, 8, 1.0, seed=s), nx.watts_strogatz_graph(9, 8, 1.0, seed=s), 9)


# ---------------------------------------------------------------- seeds
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_same_seed_same_graph_different_seed_different_graph(family):
    ours, _ = FAMILIES[family]
    for s in range(10):
        assert snapshot(ours(24, s)) == snapshot(ours(24, s))
    distinct = {tuple(edges(ours(24, s))) for s in range(50)}
    assert len(distinct) >= 45


@pytest.mark.parametrize(
    "make",
    [
        lambda seed: gen.erdos_renyi(20, 0.3, seed=seed),
        lambda seed: gen.barabasi_albert(20, 2, seed=seed),
        lambda seed: gen.watts_strogatz(20, 4, 0.75, seed=seed),
        lambda seed: gen.layered([3, 4, 4, 2], density=0.4, seed=seed),
        lambda seed: gen.stack(gen.watts_strogatz, 2, seed=seed, n=12, k=4, p=0.75),
    ],
)
def test_seed_none_records_a_regenerating_seed(make):
    G = make(None)
    seed = G.graph["graphwire"]["generator"]["seed"]
    assert isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0
    assert snapshot(make(seed)) == snapshot(G)
    seeds = {make(None).graph["graphwire"]["generator"]["seed"] for _ in range(5)}
    assert len(seeds) > 1  # a fresh seed each call


def test_numpy_integer_seed_recorded_as_int():
    G = gen.watts_strogatz(16, 4, 0.5, seed=np.int64(3))
    assert type(G.graph["graphwire"]["generator"]["seed"]) is int
    assert snapshot(G) == snapshot(gen.watts_strogatz(16, 4, 0.5, seed=3))


# ---------------------------------------------------------------- layered
def layered_formula(sizes, max_skip):
    block = [b for b, s in enumerate(sizes) for _ in range(s)]
    skip = len(sizes) if max_skip is None else max_skip
    N = len(block)
    return [(u, v) for u in range(N) for v in range(N) if 0 < block[v] - block[u] <= skip]


@pytest.mark.parametrize("sizes", [[1, 1], [2, 3, 1], [3, 2, 4, 2], [1, 5, 5, 5, 1]])
@pytest.mark.parametrize("max_skip", [None, 1, 2, 10])
def test_layered_formula(sizes, max_skip):
    G = gen.layered(sizes, max_skip=max_skip)
    validate(G)
    N = sum(sizes)
    assert list(G.nodes()) == list(range(N))
    assert list(G.edges()) == layered_formula(sizes, max_skip)
    block = [b for b, s in enumerate(sizes) for _ in range(s)]
    assert [G.nodes[v]["block"] for v in G] == block
    last = len(sizes) - 1
    want_roles = ["input" if b == 0 else "output" if b == last else "hidden" for b in block]
    assert [G.nodes[v]["role"] for v in G] == want_roles
    assert G.graph["graphwire"]["generator"] == {
        "name": "layered",
        "params": {"sizes": list(sizes), "max_skip": max_skip, "density": 1.0},
        "seed": None,
        "networkx": nx.__version__,
    }


def test_layered_depth_is_bounded_by_blocks():
    G = gen.layered([4, 4, 4, 4, 4])
    assert nx.dag_longest_path_length(G) == 4
    assert nx.dag_longest_path_length(gen.layered([2, 2, 2, 2], max_skip=3)) == 3
    assert gen.layered((2, 3), max_skip=1).number_of_edges() == 6


@pytest.mark.parametrize("max_skip", [None, 1, 2])
def test_layered_density_valid_and_deterministic(max_skip):
    sizes = [3, 5, 4, 6, 2]
    block = [b for b, s in enumerate(sizes) for _ in range(s)]
    allowed = set(layered_formula(sizes, max_skip))
    counts = {0.05: [], 0.2: [], 0.5: [], 0.9: []}
    for s in SEEDS:
        density = (0.05, 0.2, 0.5, 0.9)[s % 4]
        G = gen.layered(sizes, max_skip=max_skip, density=density, seed=s)
        validate(G)
        assert set(G.edges()) <= allowed
        assert [G.nodes[v]["block"] for v in G] == block
        H = G.copy()
        assert on_io_path(H, *_super_io(H))
        assert list(G.edges()) == sorted(G.edges())
        counts[density].append(G.number_of_edges())
        if s < 20:
            assert snapshot(G) == snapshot(gen.layered(sizes, max_skip=max_skip, density=density, seed=s))
    # a fraction ~density of the allowed edges survives, plus a few repairs
    means = [sum(c) / len(c) / len(allowed) for _, c in sorted(counts.items())]
    assert means == sorted(means) and len(set(means)) == 4
    assert 0.4 < means[2] < 0.65 and 0.8 < means[3] < 1.0
    distinct = {tuple(edges(gen.layered(sizes, max_skip=max_skip, density=0.5, seed=s))) for s in range(30)}
    assert len(distinct) == 30
    rec = gen.layered(sizes, max_skip=max_skip, density=0.5, seed=9).graph["graphwire"]["generator"]
    assert rec["seed"] == 9 and rec["params"]["density"] == 0.5


def _super_io(G):
    """Add a super-source/sink over the inputs/outputs so one path check covers every node."""
    ins = [v for v in G if G.nodes[v].get("role") == "input"]
    outs = [v for v in G if G.nodes[v].get("role") == "output"]
    G.add_edges_from(("SRC", v) for v in ins)
    G.add_edges_from((v, "SNK") for v in outs)
    return "SRC", "SNK"


def test_layered_repair_gives_every_node_an_edge():
    # A tiny density keeps almost nothing: the repair alone must make the graph valid.
    for s in range(50):
        G = gen.layered([2, 3, 3, 2], max_skip=1, density=1e-9, seed=s)
        validate(G)
        assert all(G.in_degree(v) >= 1 for v in G if G.nodes[v]["block"] > 0)
        assert all(G.out_degree(v) >= 1 for v in G if G.nodes[v]["block"] < 3)
        # one repair edge into each non-input node, at most one out of each non-output node
        assert 8 <= G.number_of_edges() <= 16


# ---------------------------------------------------------------- stack
def test_stack_list_of_graphs():
    A, B, C = gen.chain(2), gen.resnet(3), gen.layered([1, 2, 3])
    H = gen.stack([A, B, C])
    validate(H)
    assert H.number_of_nodes() == 4 + 5 + 6
    assert list(H.nodes()) == list(range(15))
    assert [H.nodes[v]["stage"] for v in H] == [0] * 4 + [1] * 5 + [2] * 6
    joins = [(3, 4), (8, 9)]
    want = (
        [(u, v) for u, v in A.edges()]
        + [joins[0]]
        + [(u + 4, v + 4) for u, v in B.edges()]
        + [joins[1]]
        + [(u + 9, v + 9) for u, v in C.edges()]
    )
    assert sorted(H.edges()) == sorted(want)
    assert list(H.edges()) == sorted(H.edges())
    roles = [H.nodes[v]["role"] for v in H]
    assert roles == ["input"] + ["hidden"] * 11 + ["output"] * 3
    assert [H.nodes[v]["block"] for v in range(9, 15)] == [0, 1, 1, 2, 2, 2]
    rec = H.graph["graphwire"]
    assert rec["version"] == SCHEMA_VERSION
    assert rec["generator"]["name"] == "stack"
    assert [s["name"] for s in rec["generator"]["stages"]] == ["chain", "resnet", "layered"]
    assert rec["generator"]["stages"][0] == A.graph["graphwire"]["generator"]
    assert rec["generator"]["seed"] is None and rec["generator"]["same_graph"] is False
    json.dumps(rec)
    # the inputs are untouched
    assert A.nodes[3]["role"] == "output" and "stage" not in A.nodes[0]


def test_stack_copies_attributes_and_relabels_strings():
    G1 = nx.DiGraph()
    G1.add_node("x", role="input", channels=8, tags=["t"])
    G1.add_node("y", role="output", op="identity")
    G1.add_edge("x", "y", weight=0.5, ops=["a", "b"])
    G2 = gen.chain(1)
    G2.edges[0, 1]["weight"] = 2.0
    H = gen.stack([G1, G2])
    validate(H)
    assert H.nodes[0] == {"role": "input", "channels": 8, "tags": ["t"], "stage": 0}
    assert H.nodes[0]["tags"] is not G1.nodes["x"]["tags"]
    assert H.nodes[1] == {"role": "hidden", "op": "identity", "stage": 0}
    assert H.edges[0, 1] == {"weight": 0.5, "ops": ["a", "b"]}
    assert H.edges[0, 1]["ops"] is not G1.edges["x", "y"]["ops"]
    assert H.edges[2, 3] == {"weight": 2.0}
    assert edges(H) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert H.graph["graphwire"]["generator"]["stages"] == [None, G2.graph["graphwire"]["generator"]]


def test_stack_first_stage_may_have_many_inputs_last_many_outputs():
    H = gen.stack([gen.layered([2, 1]), gen.chain(0), gen.layered([1, 1, 3])])
    validate(H)
    roles = [H.nodes[v]["role"] for v in H]
    assert roles == ["input", "input"] + ["hidden"] * 5 + ["output"] * 3
    tail = [(5, 6), (5, 7), (5, 8), (5, 9), (6, 7), (6, 8), (6, 9)]
    assert edges(H) == [(0, 2), (1, 2), (2, 3), (3, 4), (4, 5)] + tail


def test_stack_generator_derived_seeds():
    H = gen.stack(gen.watts_strogatz, 3, seed=1, n=16, k=4, p=0.75)
    validate(H)
    assert H.number_of_nodes() == 3 * 18
    assert [H.nodes[v]["stage"] for v in H] == [v // 18 for v in range(54)]
    for k in range(2):
        assert H.has_edge(18 * k + 17, 18 * (k + 1))
    assert [v for v in H if H.nodes[v]["role"] == "input"] == [0]
    assert [v for v in H if H.nodes[v]["role"] == "output"] == [53]
    rec = H.graph["graphwire"]["generator"]
    assert rec["name"] == "stack" and rec["seed"] == 1 and rec["same_graph"] is False
    seeds = [s["seed"] for s in rec["stages"]]
    assert seeds == [int(np.random.SeedSequence([1, i]).generate_state(1)[0]) for i in range(3)]
    assert seeds == [gen.stage_seed(1, i) for i in range(3)]
    assert len(set(seeds)) == 3
    stage_edges = []
    for k, s in enumerate(seeds):
        want = gen.watts_strogatz(16, 4, 0.75, seed=s)
        got = sorted((u - 18 * k, v - 18 * k) for u, v in H.edges() if 18 * k <= u and v < 18 * (k + 1))
        assert got == edges(want)
        stage_edges.append(tuple(got))
        assert rec["stages"][k] == want.graph["graphwire"]["generator"]
    assert len(set(stage_edges)) == 3
    json.dumps(rec)
    assert snapshot(H) == snapshot(gen.stack(gen.watts_strogatz, 3, seed=1, n=16, k=4, p=0.75))
    assert edges(H) != edges(gen.stack(gen.watts_strogatz, 3, seed=2, n=16, k=4, p=0.75))


def test_stack_same_graph():
    H = gen.stack(gen.erdos_renyi, 3, seed=5, same_graph=True, n=12, p=0.3)
    validate(H)
    per_stage = [
        sorted((u - 14 * k, v - 14 * k) for u, v in H.edges() if 14 * k <= u and v < 14 * (k + 1)) for k in range(3)
    ]
    assert per_stage[0] == per_stage[1] == per_stage[2] == edges(gen.erdos_renyi(12, 0.3, seed=5))
    rec = H.graph["graphwire"]["generator"]
    assert rec["same_graph"] is True and [s["seed"] for s in rec["stages"]] == [5, 5, 5]


def test_stack_generator_without_seed_parameter():
    H = gen.stack(gen.chain, 2, n=1)
    assert edges(H) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert H.graph["graphwire"]["generator"]["seed"] is None


# ---------------------------------------------------------------- bad parameters
def _two_outputs():
    return gen.layered([1, 2])


BAD = [
    ("chain float n", lambda: gen.chain(2.0), "n"),
    ("chain str n", lambda: gen.chain("3"), "n"),
    ("chain bool n", lambda: gen.chain(True), "n"),
    ("resnet negative n", lambda: gen.resnet(-1), "n"),
    ("densenet None n", lambda: gen.densenet(None), "n"),
    ("complete negative n", lambda: gen.complete(-3), "n"),
    ("er n zero", lambda: gen.erdos_renyi(0, 0.5, seed=1), "n"),
    ("er bool n", lambda: gen.erdos_renyi(True, 0.5, seed=1), "n"),
    ("er p above 1", lambda: gen.erdos_renyi(8, 1.5, seed=1), "p"),
    ("er p negative", lambda: gen.erdos_renyi(8, -0.1, seed=1), "p"),
    ("er p nan", lambda: gen.erdos_renyi(8, math.nan, seed=1), "p"),
    ("er p bool", lambda: gen.erdos_renyi(8, True, seed=1), "p"),
    ("er p str", lambda: gen.erdos_renyi(8, "0.2", seed=1), "p"),
    ("ba m equals n", lambda: gen.barabasi_albert(5, 5, seed=1), "m"),
    ("ba m zero", lambda: gen.barabasi_albert(5, 0, seed=1), "m"),
    ("ba m float", lambda: gen.barabasi_albert(5, 2.0, seed=1), "m"),
    ("ba n one", lambda: gen.barabasi_albert(1, 1, seed=1), "n"),
    ("ws k too large", lambda: gen.watts_strogatz(8, 8, 0.5, seed=1), "k"),
    ("ws k odd", lambda: gen.watts_strogatz(8, 3, 0.5, seed=1), "k"),
    ("ws k zero", lambda: gen.watts_strogatz(8, 0, 0.5, seed=1), "k"),
    ("ws k float", lambda: gen.watts_strogatz(8, 4.0, 0.5, seed=1), "k"),
    ("ws p inf", lambda: gen.watts_strogatz(8, 4, math.inf, seed=1), "p"),
    ("ws n too small", lambda: gen.watts_strogatz(2, 2, 0.5, seed=1), "n"),
    ("seed float", lambda: gen.watts_strogatz(8, 4, 0.5, seed=1.5), "seed"),
    ("seed str", lambda: gen.erdos_renyi(8, 0.5, seed="1"), "seed"),
    ("seed bool", lambda: gen.erdos_renyi(8, 0.5, seed=True), "seed"),
    ("seed negative", lambda: gen.erdos_renyi(8, 0.5, seed=-1), "seed"),
    ("seed RandomState", lambda: gen.barabasi_albert(8, 2, seed=np.random.RandomState(0)), "seed"),
    ("seed random.Random", lambda: gen.barabasi_albert(8, 2, seed=random.Random(0)), "seed"),
    ("layered empty sizes", lambda: gen.layered([]), "sizes"),
    ("layered one block", lambda: gen.layered([4]), "sizes"),
    ("layered zero block", lambda: gen.layered([2, 0, 2]), "sizes"),
    ("layered float size", lambda: gen.layered([2, 1.5]), "sizes"),
    ("layered int sizes", lambda: gen.layered(3), "sizes"),
    ("layered str sizes", lambda: gen.layered("12"), "sizes"),
    ("layered density 0", lambda: gen.layered([2, 2], density=0), "density"),
    ("layered density > 1", lambda: gen.layered([2, 2], density=1.2), "density"),
    ("layered density nan", lambda: gen.layered([2, 2], density=math.nan), "density"),
    ("layered max_skip 0", lambda: gen.layered([2, 2], max_skip=0), "max_skip"),
    ("layered max_skip float", lambda: gen.layered([2, 2], max_skip=1.0), "max_skip"),
    ("layered bad seed", lambda: gen.layered([2, 2], density=0.5, seed=0.5), "seed"),
    ("stack empty list", lambda: gen.stack([]), "graphs"),
    ("stack multi-output middle", lambda: gen.stack([gen.chain(1), _two_outputs(), gen.chain(1)]), "graphs[1]"),
    ("stack multi-output first", lambda: gen.stack([_two_outputs(), gen.chain(1)]), "graphs[0]"),
    ("stack multi-input later", lambda: gen.stack([gen.chain(1), gen.layered([2, 1])]), "graphs[1]"),
    ("stack not a graph", lambda: gen.stack([gen.chain(1), "G"]), "graphs[1]"),
    ("stack undirected", lambda: gen.stack([nx.path_graph(3)]), "graphs[0]"),
    ("stack invalid stage", lambda: gen.stack([gen.chain(1), nx.DiGraph([(0, 1)])]), "graphs[1]"),
    ("stack single graph", lambda: gen.stack(gen.chain(1)), "graphs"),
    ("stack list with stages", lambda: gen.stack([gen.chain(1)], 2), "stages"),
    ("stack list with seed", lambda: gen.stack([gen.chain(1)], seed=1), "seed"),
    ("stack list with params", lambda: gen.stack([gen.chain(1)], n=3), "n"),
    ("stack no stage count", lambda: gen.stack(gen.chain, n=3), "stages"),
    ("stack zero stages", lambda: gen.stack(gen.chain, 0, n=3), "stages"),
    ("stack bool stages", lambda: gen.stack(gen.chain, True, n=3), "stages"),
    ("stack unknown param", lambda: gen.stack(gen.watts_strogatz, 2, n=8, k=4, q=0.5), "q"),
    ("stack missing param", lambda: gen.stack(gen.watts_strogatz, 2, n=8, k=4), "p"),
    ("stack bad stage param", lambda: gen.stack(gen.watts_strogatz, 2, n=8, k=3, p=0.5), "k"),
    ("stack bad seed", lambda: gen.stack(gen.watts_strogatz, 2, seed=1.0, n=8, k=4, p=0.5), "seed"),
    ("stack same_graph not bool", lambda: gen.stack(gen.watts_strogatz, 2, same_graph=1, n=8, k=4, p=0.5), "same_graph"),
]


@pytest.mark.parametrize("call,param", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_parameters(call, param):
    with pytest.raises(ParameterError) as info:
        call()
    assert param in str(info.value)
    assert isinstance(info.value, ValueError)


def test_bad_parameter_message_names_value_and_allowed():
    with pytest.raises(ParameterError, match=r"p must be a real number in \[0, 1\], got 1\.5"):
        gen.erdos_renyi(8, 1.5)
    with pytest.raises(ParameterError, match=r"k must be an even integer with 2 <= k < n \(n = 8\), got 3"):
        gen.watts_strogatz(8, 3, 0.5)
    with pytest.raises(ParameterError, match=r"m must be an integer with 1 <= m <= 4.*got 5"):
        gen.barabasi_albert(5, 5)
    with pytest.raises(ParameterError, match=r"seed must be None or a non-negative integer, got 1\.5 \(float\)"):
        gen.erdos_renyi(8, 0.5, seed=1.5)


# ---------------------------------------------------------------- algorithms, regeneration, size
# Graphs made by the code before the ER algorithm was recorded (main at f7f588d, networkx 3.6.1):
# their records have no "algorithm" and must regenerate edge for edge.
OLD_ER_EDGES = {
    (12, 0.15, 1): [(0, 1), (0, 3), (0, 4), (0, 6), (0, 7), (0, 8), (1, 2), (1, 10), (1, 11), (2, 5), (2, 11),
                    (2, 12), (3, 9), (4, 10), (5, 10), (6, 13), (7, 13), (8, 9), (9, 13), (10, 13), (11, 13),
                    (12, 13)],
    (16, 0.1, 7): [(0, 1), (0, 2), (0, 3), (0, 4), (0, 6), (0, 7), (0, 14), (0, 16), (1, 5), (1, 8), (1, 10),
                   (1, 12), (1, 13), (2, 9), (3, 8), (3, 9), (4, 17), (5, 8), (6, 12), (7, 11), (7, 15), (8, 13),
                   (9, 17), (10, 17), (11, 13), (12, 17), (13, 15), (14, 17), (15, 17), (16, 17)],
}
OLD_ER_DIGESTS = {  # (n, p, seed): (edge count, sha256 of json.dumps(sorted edges))[:16]
    (100, 0.05, 0): (317, "b824a1f9049d3dd5"),
    (100, 0.05, 1): (307, "864242a39ddef6b0"),
    (300, 0.01, 2): (631, "680e74a4a65f16d1"),
    (500, 0.004, 3): (946, "073a7c5f0828befb"),
    (64, 0.19, 4): (393, "27310930f0a70683"),
    (1000, 0.002, 5): (1888, "1a5fad45d290c86a"),
}
# Full digests (nodes with data, successor order, predecessor order) of generators whose sampling
# did not change: the vectorised building must give the very same graphs.
OLD_DIGESTS = {
    "ws": (lambda: gen.watts_strogatz(200, 6, 0.5, seed=11), "d2bb76b9d9924030"),
    "ba": (lambda: gen.barabasi_albert(200, 3, seed=12), "03b89287f49bb083"),
    "er_dense": (lambda: gen.erdos_renyi(60, 0.3, seed=13), "e32a81df6b1e8714"),
    "layered": (lambda: gen.layered([5, 9, 7, 3], max_skip=2, density=0.3, seed=14), "58a9fc4a6c175b5c"),
    "layered_full": (lambda: gen.layered([4, 6, 5, 2], max_skip=2), "ddee04da8e344e5d"),
    "chain": (lambda: gen.chain(50), "ed8a120d62ba7fcb"),
    "resnet": (lambda: gen.resnet(50), "685be1cad800e45a"),
    "complete": (lambda: gen.complete(30), "1cd49bc61c98551b"),
}


def _edge_digest(G):
    import hashlib

    return hashlib.sha256(json.dumps(sorted(G.edges())).encode()).hexdigest()[:16]


def _full_digest(G):
    import hashlib

    doc = [list(G.nodes(data=True)), list(G.edges()), [list(G.pred[v]) for v in G]]
    return hashlib.sha256(json.dumps(doc).encode()).hexdigest()[:16]


def _old_record(n, p, seed):
    return {"name": "erdos_renyi", "params": {"n": n, "p": p}, "seed": seed, "networkx": nx.__version__}


def test_old_er_records_regenerate_exactly():
    for (n, p, s), want in OLD_ER_EDGES.items():
        assert edges(gen.regenerate(_old_record(n, p, s))) == want
        assert edges(gen.erdos_renyi(n, p, seed=s, algorithm="gnp")) == want
    for (n, p, s), (count, digest) in OLD_ER_DIGESTS.items():
        G = gen.regenerate(_old_record(n, p, s))
        assert (G.number_of_edges(), _edge_digest(G)) == (count, digest)
        assert G.graph["graphwire"]["generator"]["algorithm"] == "gnp"
        # the same call today samples with fast_gnp (p < 0.2): another graph, told apart by the record
        H = gen.erdos_renyi(n, p, seed=s)
        assert H.graph["graphwire"]["generator"]["algorithm"] == "fast_gnp"
        assert _edge_digest(H) != digest


@pytest.mark.parametrize("name", sorted(OLD_DIGESTS))
def test_unchanged_generators_give_the_old_graphs(name):
    make, digest = OLD_DIGESTS[name]
    assert _full_digest(make()) == digest


def test_er_algorithm_choice_and_fast_gnp_conversion():
    for s in range(30):
        n, p = 40 + s, 0.02 + 0.005 * s  # all sparse: auto picks fast_gnp
        G = gen.erdos_renyi(n, p, seed=s)
        assert G.graph["graphwire"]["generator"]["algorithm"] == "fast_gnp"
        check_randwire(G, nx.fast_gnp_random_graph(n, p, seed=s), n)
        assert snapshot(G) == snapshot(gen.erdos_renyi(n, p, seed=s, algorithm="fast_gnp"))
    for p in (0.2, 0.5, 1.0, 0.0):  # dense (and the empty graph) keep the per-pair sampler
        assert gen.erdos_renyi(30, p, seed=1).graph["graphwire"]["generator"]["algorithm"] == "gnp"
    assert gen.erdos_renyi(30, 0.1999, seed=1).graph["graphwire"]["generator"]["algorithm"] == "fast_gnp"
    G = gen.erdos_renyi(30, 0.5, seed=2, algorithm="fast_gnp")
    check_randwire(G, nx.fast_gnp_random_graph(30, 0.5, seed=2), 30)
    with pytest.raises(ParameterError, match=r"algorithm must be one of \['auto', 'gnp', 'fast_gnp'\], got 'fast'"):
        gen.erdos_renyi(30, 0.1, seed=1, algorithm="fast")


@pytest.mark.parametrize(
    "make",
    [
        lambda: gen.erdos_renyi(50, 0.08, seed=1),
        lambda: gen.erdos_renyi(50, 0.4, seed=1),
        lambda: gen.barabasi_albert(30, 2, seed=3),
        lambda: gen.watts_strogatz(30, 4, 0.3, seed=4),
        lambda: gen.layered([3, 5, 2], density=0.5, seed=5),
        lambda: gen.layered([3, 5, 2], max_skip=1),
        lambda: gen.resnet(6),
        lambda: gen.densenet(4),
        lambda: gen.darts_cell(3, reduction=True),
        lambda: gen.stack(gen.erdos_renyi, 3, seed=6, n=20, p=0.1),
        lambda: gen.stack(gen.watts_strogatz, 2, seed=7, same_graph=True, n=12, k=4, p=0.5),
    ],
)
def test_regenerate_from_a_saved_graph(make, tmp_path):
    from graphwire.io import load, to_json

    G = make()
    to_json(G, tmp_path / "g.json")
    H = gen.regenerate(load(tmp_path / "g.json"))
    assert snapshot(H) == snapshot(G)


def test_old_stack_record_regenerates_old_stages():
    # stack(erdos_renyi, 3, seed=15, n=40, p=0.08) as the old code recorded it (no "algorithm")
    rec = gen.stack(gen.erdos_renyi, 3, seed=15, n=40, p=0.08).graph["graphwire"]["generator"]
    old = json.loads(json.dumps(rec))
    for stage in old["stages"]:
        del stage["algorithm"]
    H = gen.regenerate(old)
    assert all(s["algorithm"] == "gnp" for s in H.graph["graphwire"]["generator"]["stages"])
    assert _full_digest(H) == "c42e0cff4a5ac9bb"  # the old code's graph


@pytest.mark.parametrize(
    "source,culprit",
    [
        (nx.DiGraph([(0, 1)]), "no generator record"),
        ({"params": {}}, "record must be a generator record"),
        ({"name": "torus", "params": {}}, "'torus' is not a generator"),
        ({"name": "stack", "stages": []}, "record.stages"),
        ({"name": "chain", "params": {"n": -1}}, "n must be"),
    ],
)
def test_regenerate_bad_records(source, culprit):
    with pytest.raises(ParameterError, match=culprit):
        gen.regenerate(source)


HUGE = [
    ("chain", lambda: gen.chain(10**12), "n = 1000000000000"),
    ("resnet", lambda: gen.resnet(10**11), "n = 100000000000"),
    ("complete", lambda: gen.complete(10**7), "n = 10000000"),
    ("densenet", lambda: gen.densenet(10**6), "n = 1000000"),
    ("er", lambda: gen.erdos_renyi(10**8, 0.5, seed=1), "n = 100000000, p = 0.5"),
    ("er sparse huge n", lambda: gen.erdos_renyi(10**12, 1e-12, seed=1), "n = 1000000000000"),
    ("ba", lambda: gen.barabasi_albert(10**10, 5, seed=1), "n = 10000000000, m = 5"),
    ("ws", lambda: gen.watts_strogatz(10**10, 4, 0.5, seed=1), "n = 10000000000, k = 4"),
    ("layered", lambda: gen.layered([10**6, 10**6, 10**6]), "sizes = [1000000, 1000000, 1000000]"),
    ("layered sparse", lambda: gen.layered([10**6] * 8, density=0.5, seed=1), "sizes = [1000000, 1000000, ..."),
    ("stack", lambda: gen.stack(gen.chain, 10**9, n=1000), "stages = 1000000000"),
    # beyond a float: no OverflowError, counts shown in scientific notation
    ("er 10**400", lambda: gen.erdos_renyi(10**400, 0.5, seed=1), "n = 1.00e+400, p = 0.5"),
    ("er 10**400 p=0", lambda: gen.erdos_renyi(10**400, 0.0, seed=1), "n = 1.00e+400, p = 0.0"),
    ("chain 10**400", lambda: gen.chain(10**400), "n = 1.00e+400 asks for a graph of 1.00e+400 nodes"),
    ("layered 10**400", lambda: gen.layered([10**400, 2], density=0.1, seed=1), "sizes = [1.00e+400, 2]"),
]


@pytest.mark.parametrize("call,culprit", [h[1:] for h in HUGE], ids=[h[0] for h in HUGE])
def test_huge_sizes_refused_with_an_estimate(call, culprit):
    with pytest.raises(ParameterError) as info:
        call()  # returns at once: nothing is allocated
    msg = str(info.value)
    assert culprit in msg and "needs about" in msg and "is available" in msg, msg
    assert "\n" not in msg


def test_size_check_uses_available_memory_and_runs_before_building(monkeypatch):
    from graphwire.generators import _common, classic

    monkeypatch.setattr(_common, "available_memory", lambda: 10**6)  # 1 MB
    assert gen.chain(100).number_of_edges() == 101  # ~100 KB: fine
    built = []
    real = classic.build_arrays
    monkeypatch.setattr(classic, "build_arrays", lambda *a, **k: built.append(a) or real(*a, **k))
    with pytest.raises(ParameterError, match=r"n = 10000 asks for a graph of 10,002 nodes and about 10,001 edges, "
                                             r"which needs about 10 MB of memory as a networkx graph; "
                                             r"only 1 MB is available"):
        gen.chain(10_000)
    assert built == []
    monkeypatch.setattr(_common, "available_memory", lambda: None)  # unknown: no check
    gen.chain(10_000)
    assert len(built) == 1


def test_generators_pause_the_garbage_collector_and_restore_it(monkeypatch):
    import gc

    from graphwire.generators import random_graphs

    seen = []
    real = random_graphs.fast_gnp_edges

    def spy(*a, **k):
        seen.append(gc.isenabled())
        return real(*a, **k)

    monkeypatch.setattr(random_graphs, "fast_gnp_edges", spy)
    try:
        assert gc.isenabled()
        gen.erdos_renyi(50, 0.05, seed=1)
        assert seen == [False] and gc.isenabled()
        with pytest.raises(ParameterError):
            gen.erdos_renyi(50, 2.0, seed=1)
        assert gc.isenabled()
        gc.disable()  # a caller that paused it keeps it paused
        gen.chain(3)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_fast_gnp_edges_are_networkx_fast_gnp():
    from graphwire.generators.random_graphs import fast_gnp_edges

    for n, p, s in [(2, 0.5, 0), (10, 0.3, 1), (500, 0.01, 2), (2000, 0.003, 3), (300, 0.9, 4), (50, 1e-6, 5)]:
        a, b = fast_gnp_edges(n, p, s)
        assert (a < b).all()
        got = sorted(zip(a.tolist(), b.tolist()))
        want = sorted((min(u, v), max(u, v)) for u, v in nx.fast_gnp_random_graph(n, p, seed=s).edges())
        assert got == want, (n, p, s)


def test_watts_strogatz_edges_are_networkx_watts_strogatz():
    from graphwire.generators.random_graphs import watts_strogatz_edges

    cases = [(3, 2, 0.5, 0), (9, 8, 1.0, 1), (10, 4, 0.0, 2), (50, 6, 0.3, 3), (400, 8, 0.75, 4), (64, 2, 1.0, 5)]
    cases += [(30 + s, 4, 0.75, 100 + s) for s in range(40)]
    for n, k, p, s in cases:
        a, b = watts_strogatz_edges(n, k, p, s)
        got = sorted(zip(a.tolist(), b.tolist()))
        want = sorted((min(u, v), max(u, v)) for u, v in nx.watts_strogatz_graph(n, k, p, seed=s).edges())
        assert got == want, (n, k, p, s)


def test_barabasi_albert_edges_are_networkx_barabasi_albert():
    from graphwire.generators.random_graphs import barabasi_albert_edges

    cases = [(2, 1, 0), (5, 4, 1), (10, 1, 2), (50, 3, 3), (500, 5, 4), (64, 20, 5)]
    cases += [(30 + s, 2 + s % 4, 100 + s) for s in range(40)]
    for n, m, s in cases:
        a, b = barabasi_albert_edges(n, m, s)
        got = sorted((min(u, v), max(u, v)) for u, v in zip(a.tolist(), b.tolist()))
        want = sorted((min(u, v), max(u, v)) for u, v in nx.barabasi_albert_graph(n, m, seed=s).edges())
        assert got == want, (n, m, s)
