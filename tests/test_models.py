"""Ready-made models: RandWire's staged structure, training, recompile-after-prune, shapes, bad input."""

import warnings

import networkx as nx
import pytest
import torch

import graphwire as gw
from graphwire import generators, models
from graphwire.errors import ParameterError

from _graphs import randomise_batchnorm

FAMILIES = ["ws", "er", "ba"]
NODES, CHANNELS, STAGES = 6, 8, 3
# BA's paper default m=5 on 6 nodes has a single possible graph (a star: m * (n - m) = 5 edges),
# so every stage would be the same graph; m=2 leaves room for distinct stages.
FAMILY_PARAMS = {"ws": {}, "er": {}, "ba": {"m": 2}}


def _small(family, **kw):
    torch.manual_seed(0)
    kw = FAMILY_PARAMS[family] | kw
    kw.setdefault("wiring", gw.wiring.Sigmoid(carry=False, init=0.0, penalty=0.0))  # plain gates
    return models.randwire(num_classes=10, family=family, nodes=NODES, channels=CHANNELS, **kw)


def _stage_nodes(G, stage):
    """A stage's random nodes and, last, its output node (label order is topological)."""
    return sorted(n for n, d in G.nodes(data=True) if d["stage"] == stage and n != 0)


@pytest.mark.parametrize("family", FAMILIES)
def test_randwire_output_shape_and_the_papers_node_roles(family):
    m = _small(family, stem_stride=1)
    x = torch.randn(2, 3, 32, 32)
    assert m(x).shape == (2, 10)
    G = m.graph
    plan = {nd.label: nd for nd in m.wired.plan.nodes}
    assert sorted({d["stage"] for _, d in G.nodes(data=True)}) == [0, 1, 2]
    stages = [_stage_nodes(G, s) for s in range(STAGES)]
    assert [len(s) for s in stages] == [NODES + 1] * STAGES  # N random nodes + the output node
    entry = 0  # the stem's output: aggregates only
    assert G.nodes[0]["role"] == "input" and plan[0].op == "identity" and plan[0].out_ch == CHANNELS
    for s, nodes in enumerate(stages):
        *random_nodes, out = nodes
        sources = [n for n in random_nodes if set(G.predecessors(n)) == {entry}]
        sinks = list(G.predecessors(out))
        assert sources and sinks
        # the stage's input node feeds exactly its sources; they alone change resolution and width
        assert sorted(G.successors(entry)) == sources
        for n in random_nodes:
            assert plan[n].op == "sepconv" and plan[n].out_ch == CHANNELS * 2 ** s
            assert plan[n].stride == (2 if n in sources else 1)
            assert plan[n].in_ch == (plan[entry].out_ch if n in sources else CHANNELS * 2 ** s)
        # the output node averages the sinks and does no convolution
        assert plan[out].op == "identity" and plan[out].out_ch == CHANNELS * 2 ** s
        assert all(G.edges[u, out]["weight"] == pytest.approx(1 / len(sinks)) for u in sinks)
        assert all(n in random_nodes for n in sinks)
        entry = out
    # stages are distinct random graphs (derived seeds), compared after relabelling
    shapes = [frozenset((u - s[0], v - s[0]) for u, v in G.subgraph(s).edges) for s in stages]
    assert len(set(shapes)) == STAGES
    if family == "ba":  # family parameters reach the generator: BA has m * (n - m) edges among its nodes
        assert all(G.subgraph(s[:-1]).number_of_edges() == 2 * (NODES - 2) for s in stages)
    assert m.wired.out_channels == CHANNELS * 4
    # stem_stride=1 keeps 32 px through the stem; three stages halve it -> 4
    assert m.wired(m.stem(x)).shape == (2, CHANNELS * 4, 4, 4)


def test_randwire_small_regime_downsamples_like_the_paper():
    """conv1 and conv2 at stride 2, then each stage halves: 224 px reaches the classifier at 7 x 7."""
    m = models.randwire(num_classes=10, nodes=6, channels=8)
    x = torch.randn(1, 3, 224, 224)
    s = m.stem(x)
    assert s.shape == (1, 8, 56, 56)
    assert m.wired(s).shape == (1, 32, 7, 7)
    assert m.input_shape == (1, 3, 224, 224)


def test_randwire_regular_regime_has_a_half_size_first_stage():
    m = models.randwire(num_classes=10, regime="regular", nodes=12, channels=6, seed=3)
    G = m.graph
    sizes = [len(_stage_nodes(G, s)) - 1 for s in range(4)]
    assert sizes == [6, 12, 12, 12]
    widths = [G.nodes[_stage_nodes(G, s)[0]]["channels"] for s in range(4)]
    assert widths == [6, 12, 24, 48]
    assert G.nodes[0]["channels"] == 3  # conv1 gives C / 2
    x = torch.randn(1, 3, 224, 224)
    assert m.stem(x).shape == (1, 3, 112, 112)  # no conv2: the first random stage halves 112 -> 56
    assert m.wired(m.stem(x)).shape == (1, 48, 7, 7)
    assert m(x).shape == (1, 10)
    assert len(G.graph["graphwire"]["randwire"]["stages"]) == 4


def test_randwire_records_its_stages_and_seeds():
    G = models.randwire(nodes=8, channels=4, seed=5).graph
    rec = G.graph["graphwire"]["randwire"]
    assert rec["regime"] == "small" and rec["family"] == "ws" and rec["params"] == {"k": 4, "p": 0.75}
    assert [s["seed"] for s in rec["stages"]] == [generators.stage_seed(5, s) for s in range(3)]
    for s, st in enumerate(rec["stages"]):  # the recorded generator graph is the stage's graph
        R = generators.watts_strogatz(8, 4, 0.75, seed=st["seed"])
        assert st["sources"] == R.out_degree(0) and st["sinks"] == R.in_degree(9)
        nodes = _stage_nodes(G, s)
        internal = G.subgraph(nodes[:-1]).number_of_edges()
        assert internal == R.number_of_edges() - st["sources"] - st["sinks"]


def _randomise(model, seed):
    """Non-trivial BatchNorm affine parameters and running statistics."""
    randomise_batchnorm(model, seed)


def test_randwire_seed_and_family_change_the_graph():
    a, b = _small("ws").graph, _small("ws", seed=1).graph
    assert set(a.edges) != set(b.edges)
    assert set(_small("ws").graph.edges) == set(a.edges)  # deterministic
    assert set(_small("er").graph.edges) != set(a.edges)


@pytest.mark.parametrize("family", FAMILIES)
def test_randwire_training_step_lowers_loss_and_reaches_every_parameter(family):
    m = _small(family)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 3, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g)
    opt = torch.optim.SGD(m.parameters(), lr=0.05)
    m.train()
    loss = torch.nn.functional.cross_entropy(m(x), y) + m.regularizer()
    opt.zero_grad()
    loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} got a zero gradient"
    before = m.wired.wiring.logit.detach().clone()
    opt.step()
    assert not torch.equal(m.wired.wiring.logit, before)  # edge gates are trained
    after = torch.nn.functional.cross_entropy(m(x), y) + m.regularizer()
    assert after.item() < loss.item()


@pytest.mark.parametrize("family", FAMILIES)
def test_recompile_pruned_equals_parent_with_removed_edges_masked(family):
    parent = _small(family)
    _randomise(parent, 0)
    G = parent.graph
    ids = parent.wired.plan.edge_ids()
    # spread the gates, but keep one input -> output path strong so pruning leaves a network
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        parent.wired.wiring.logit.copy_(torch.randn(parent.wired.wiring.logit.shape, generator=g) * 2)
        path = nx.shortest_path(G, min(G), max(G))
        for e in zip(path, path[1:]):
            parent.wired.wiring.logit[ids[e]] = 5.0
    learned = parent.write_back()
    assert all("weight" in d and "active" in d for *_, d in learned.edges(data=True))
    pruned = gw.prune(learned, keep=0.5, keep_unlearned=False)  # plain gates: some are learned=False
    removed = [e for e in G.edges if not pruned.has_edge(*e)]
    assert len(removed) >= G.number_of_edges() // 2

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every surviving node's parameters are carried over
        child = parent.recompile(pruned)
    assert isinstance(child, models.WiredClassifier) and child.wired.wiring.name == "sigmoid"  # as the graph records
    assert child.wired.init_report["skipped"] == []
    assert child.wired.graph.number_of_edges() == pruned.number_of_edges()
    assert sum(p.numel() for p in child.parameters()) < sum(p.numel() for p in parent.parameters())
    assert child.stem is not parent.stem and child.head is not parent.head

    parent.eval(), child.eval()
    x = torch.randn(3, 3, 32, 32, generator=g)
    unmasked = parent(x)
    parent.wired.mask_edges(removed)
    with torch.no_grad():
        yp, yc = parent(x), child(x)
    assert yc.shape == (3, 10)
    assert (unmasked - yp).abs().max() > 1e-4  # the masked edges mattered: the check can fail
    torch.testing.assert_close(yc, yp, atol=1e-5, rtol=1e-5)
    # the parent is untouched by recompiling; reopening restores its output
    parent.wired.mask_edges(None)
    torch.testing.assert_close(parent(x), unmasked)


def test_recompile_wired_mlp_keeps_the_vector_settings():
    torch.manual_seed(0)
    G = generators.watts_strogatz(8, 4, 0.75, seed=0)
    parent = models.wired_mlp(G, in_channels=64, num_classes=10, channels=16)
    _randomise(parent, 1)
    learned = parent.write_back()
    pruned = gw.prune(learned, keep=1.0)
    child = parent.recompile(pruned)
    parent.eval(), child.eval()
    x = torch.randn(5, 64)
    torch.testing.assert_close(child(x), parent(x), atol=1e-5, rtol=1e-5)


def test_wired_mlp_shapes():
    G = generators.watts_strogatz(8, 4, 0.75, seed=0)
    m = models.wired_mlp(G, in_channels=64, num_classes=10, channels=16, wiring="sigmoid")
    assert m(torch.randn(5, 64)).shape == (5, 10)
    assert m.wired.in_channels == 64 and m.wired.out_channels == 16
    assert m.wired.wiring.name == "sigmoid" and m.head.in_features == 16
    assert all(nd.op in ("linear", "identity") for nd in m.wired.plan.nodes)
    with pytest.raises(gw.errors.ShapeError):
        m(torch.randn(5, 63))
    static = models.wired_mlp(G, in_channels=3, num_classes=2, channels=4, wiring="static")
    assert static(torch.randn(4, 3)).shape == (4, 2) and static.wired.wiring.name == "static"


def test_wired_conv1d_and_conv2d_shapes():
    G = generators.watts_strogatz(6, 2, 0.5, seed=1)
    m = models.wired_conv1d(G, in_channels=1, num_classes=10, channels=8)
    assert m(torch.randn(3, 1, 40)).shape == (3, 10)
    assert m.wired(m.stem(torch.randn(3, 1, 40))).shape == (3, 8, 40)
    assert m.wired.plan.dims == 1
    m2 = models.wired_conv2d(G, in_channels=1, num_classes=7, channels=8)
    assert m2(torch.randn(2, 1, 8, 8)).shape == (2, 7)
    assert m2.wired(m2.stem(torch.randn(2, 1, 8, 8))).shape == (2, 8, 8, 8)


def test_randwire_paper_defaults_for_ba_on_few_nodes():
    """Default BA (m=5) on 6 nodes: every stage is the one possible BA graph, still a working model."""
    torch.manual_seed(0)
    m = models.randwire(num_classes=10, family="ba", nodes=NODES, channels=CHANNELS)
    assert m(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    G = m.graph
    hidden = _stage_nodes(G, 0)[:-1]
    assert G.subgraph(hidden).number_of_edges() == 5 * (NODES - 5)


@pytest.mark.parametrize("family", ["WS", "rand", "", "watts_strogatz"])
def test_bad_family_raises_parameter_error(family):
    with pytest.raises(ParameterError, match="family must be one of"):
        models.randwire(num_classes=10, family=family, nodes=NODES, channels=CHANNELS)


@pytest.mark.parametrize("kwargs, match", [
    ({"chanels": 8}, "did you mean 'channels'"),
    ({"regime": "large"}, "regime must be one of"),
    ({"family": "ws", "m": 3}, "family 'ws' takes"),
    ({"nodes": 0}, "nodes must be an integer"),
    ({"stem_stride": 0}, "stem_stride must be an integer"),
])
def test_randwire_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        models.randwire(num_classes=10, **{"nodes": NODES, "channels": CHANNELS, **kwargs})


def test_randwire_family_parameters_override_the_papers():
    G = models.randwire(num_classes=10, family="er", nodes=8, channels=4, p=0.9).graph
    assert G.graph["graphwire"]["randwire"]["params"] == {"p": 0.9}
    dense = G.subgraph(_stage_nodes(G, 0)[:-1]).number_of_edges()
    sparse = models.randwire(num_classes=10, family="er", nodes=8, channels=4).graph
    assert dense > sparse.subgraph(_stage_nodes(sparse, 0)[:-1]).number_of_edges()


def test_randwire_static_wiring_averages_each_stages_sinks():
    """With fixed weights the stage output is the paper's unweighted mean of its sinks."""
    torch.manual_seed(0)
    m = models.randwire(num_classes=10, nodes=6, channels=4, wiring="static", stem_stride=1).eval()
    G = m.graph
    out = _stage_nodes(G, 0)[-1]
    sinks = sorted(G.predecessors(out))
    x = m.stem(torch.randn(2, 3, 16, 16))
    ref = gw.compile(G, in_channels=4, dims=2, executor="reference")
    ref.load_state_dict(m.wired.state_dict())
    ref.eval()
    y = m.wired(x)
    # the same net run node by node, each node's inputs summed with the edges' weights by hand
    with torch.no_grad():
        acts = {}
        order = [nd.label for nd in ref.plan.nodes]
        for label in order:
            preds = list(G.predecessors(label))
            inp = x if not preds else sum(G.edges[p, label].get("weight", 1.0) * acts[p] for p in preds)
            acts[label] = ref.node(label)(inp)
    torch.testing.assert_close(acts[out], torch.stack([acts[s] for s in sinks]).mean(0))
    torch.testing.assert_close(acts[order[-1]], y, atol=1e-5, rtol=1e-5)
