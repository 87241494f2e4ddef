"""DARTS' evaluation networks and MobileNet V1: structure, semantics against the papers' formulas, options."""

import networkx as nx
import pytest
import torch

import graphwire as gw
from graphwire import models
from graphwire.errors import ParameterError
from graphwire.models.darts_net import DARTS_V1, DARTS_V2, Genotype, check_genotype


def _cells(G):
    return sorted({d["cell"] for _, d in G.nodes(data=True) if d["cell"] >= 0})


def _part(G, cell, part):
    return sorted(n for n, d in G.nodes(data=True) if d["cell"] == cell and d["part"] == part)


# ------------------------------------------------------------------ DARTS: sizes
def test_darts_v2_cifar10_has_the_published_parameter_count():
    m = models.darts_network("DARTS_V2")
    assert sum(p.numel() for p in m.parameters()) == 3_349_342
    assert m.input_shape == (1, 3, 32, 32)
    assert m(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_auxiliary_head_adds_only_its_own_parameters_and_reads_the_two_thirds_cell():
    aux = models.darts_network("DARTS_V2", auxiliary=True)
    head = sum(p.numel() for p in aux.aux_head.parameters())
    assert sum(p.numel() for p in aux.parameters()) == 3_349_342 + head
    # the head reads cell 2 * 20 // 3 = 13 (the second reduction cell): 4 states x 144 channels
    assert aux.aux_channels == 4 * 144 and aux.aux_head[2].in_channels == 576
    tap = [n for n, d in aux.graph.nodes(data=True) if d["part"] == "auxiliary"]
    assert len(tap) == 1 and aux.graph.nodes[next(aux.graph.predecessors(tap[0]))]["cell"] == 13
    # evaluation: no auxiliary logits; its parameters are not part of the inference cost
    aux.eval()
    aux(torch.randn(1, 3, 32, 32))
    assert aux.aux_logits is None
    assert gw.inference_cost(aux).params == 3_349_342
    aux.train()
    y = aux(torch.randn(2, 3, 32, 32))
    assert y.shape == aux.aux_logits.shape == (2, 10)


def test_reduction_cells_sit_at_a_third_and_two_thirds_and_double_the_width():
    G = models.darts_network_graph("DARTS_V2", channels=8, cells=8)
    kinds = {c: G.nodes[_part(G, c, "output")[0]]["cell_type"] for c in _cells(G)}
    assert [c for c, k in kinds.items() if k == "reduce"] == [8 // 3, 2 * 8 // 3]
    widths = [G.nodes[_part(G, c, "state")[0]]["channels"] for c in _cells(G)]
    assert widths == [8, 8, 16, 16, 16, 32, 32, 32]


@pytest.mark.parametrize("setting", ["cifar10", "imagenet"])
def test_each_cell_reads_the_two_previous_cells(setting):
    G = models.darts_network_graph("DARTS_V1", setting=setting, channels=8, cells=6)
    outs = {c: _part(G, c, "output")[0] for c in _cells(G)}
    stem = 0
    stem1 = [n for n, d in G.nodes(data=True) if d["part"] == "stem1"]
    first = [stem, stem] if setting == "cifar10" else [stem, stem1[0]]
    prev = {0: first, 1: [first[1], outs[0]]}
    for c in _cells(G):
        p0, p1 = _part(G, c, "preprocess0")[0], _part(G, c, "preprocess1")[0]
        s0, s1 = prev[c] if c in prev else (outs[c - 2], outs[c - 1])
        assert list(G.predecessors(p0)) == [s0] and list(G.predecessors(p1)) == [s1]
        reduced_before = (c == 0 and setting == "imagenet") or (c > 0 and G.nodes[outs[c - 1]]["cell_type"] == "reduce")
        # after a resolution change the older input is reduced by a FactorizedReduce (skip_connect, stride 2)
        assert (G.nodes[p0]["op"], G.nodes[p0].get("stride", 1)) == (
            ("skip_connect", 2) if reduced_before else ("relu_conv_bn_1x1", 1))
    m = models.darts_network("DARTS_V1", setting=setting, channels=8, cells=6, num_classes=5)
    size = 32 if setting == "cifar10" else 64
    assert m(torch.randn(2, 3, size, size)).shape == (2, 5)


def _hooked_activations(model, x):
    """Every node module's input and output in one evaluation forward (reference executor)."""
    acts = {}
    net = model.wired
    net.executor = "reference"
    hooks = []
    for nd in net.plan.nodes:
        if nd.key in net.nodes:
            hooks.append(net.nodes[nd.key].register_forward_hook(
                lambda mod, args, out, label=nd.label: acts.__setitem__(label, (args[0], out))))
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return acts


@pytest.mark.parametrize("genotype", [DARTS_V1, DARTS_V2], ids=["V1", "V2"])
def test_a_cell_computes_the_genotypes_formula(genotype):
    """state j = op(states[i]) + op(states[k]) per genotype pair; the cell output concatenates the
    concat states -- checked against what the next cell's preprocessing receives."""
    torch.manual_seed(0)
    m = models.darts_network(genotype, channels=4, cells=5, drop_path=False)
    G = m.graph
    acts = _hooked_activations(m, torch.randn(2, 3, 16, 16))
    for c in range(4):
        kind = G.nodes[_part(G, c, "output")[0]]["cell_type"]
        pairs = genotype.reduce if kind == "reduce" else genotype.normal
        concat = genotype.reduce_concat if kind == "reduce" else genotype.normal_concat
        ops = _part(G, c, "op")  # in genotype order
        assert [G.nodes[o]["op"] for o in ops] == [op for op, _ in pairs]
        states = [acts[_part(G, c, "preprocess0")[0]][1], acts[_part(G, c, "preprocess1")[0]][1]]
        for j in range(len(pairs) // 2):
            outs = []
            for o, (_, src) in zip(ops[2 * j: 2 * j + 2], pairs[2 * j: 2 * j + 2]):
                x_in, y = acts[o]
                torch.testing.assert_close(x_in, states[src])  # the op reads the genotype's input
                outs.append(y)
            states.append(outs[0] + outs[1])
        cell_out = torch.cat([states[i] for i in concat], 1)
        nxt = _part(G, c + 1, "preprocess1")[0]  # the next cell's newer input is this cell's output
        torch.testing.assert_close(acts[nxt][0], cell_out, atol=1e-6, rtol=1e-5)


# ------------------------------------------------------------------ DARTS: drop-path, recompile, genotypes
def test_drop_path_zeroes_whole_samples_in_training_only():
    torch.manual_seed(0)
    m = models.darts_network("DARTS_V2", channels=4, cells=3)
    G = m.graph
    dps = [n for n, d in G.nodes(data=True) if d["part"] == "drop_path"]
    ops = [n for n, d in G.nodes(data=True) if d["part"] == "op"]
    skips = [n for n in ops if G.nodes[n]["op"] == "skip_connect" and G.nodes[n].get("stride", 1) == 1]
    assert len(dps) == len(ops) - len(skips)  # every op but the identity skip gets one
    assert m.drop_path_prob == 0.0
    m.drop_path_prob = 0.5
    dp = m.wired.node(dps[0])
    x = torch.ones(400, 4, 3, 3)
    dp.train()
    y = dp(x)
    kept = (y.flatten(1) != 0).all(1)
    assert set(y.unique().tolist()) == {0.0, 2.0}  # dropped or scaled by 1 / (1 - p)
    assert ((y.flatten(1) == 0).all(1) | kept).all() and 120 < int(kept.sum()) < 280
    dp.eval()
    assert torch.equal(dp(x), x)
    with pytest.raises(ParameterError, match="drop_path_prob must be a probability"):
        m.drop_path_prob = 1.0
    plain = models.darts_network("DARTS_V2", channels=4, cells=3, drop_path=False)
    assert not any(d["part"] == "drop_path" for _, d in plain.graph.nodes(data=True))
    with pytest.raises(ParameterError, match="no drop_path nodes"):
        plain.drop_path_prob = 0.2


def test_recompile_of_the_written_back_graph_keeps_the_network():
    torch.manual_seed(0)
    m = models.darts_network("DARTS_V2", channels=4, cells=3, auxiliary=True).eval()
    G = m.write_back()
    again = m.recompile(G)
    assert isinstance(again, models.DARTSNetwork) and again.aux_head is not None
    assert again.input_shape == m.input_shape
    x = torch.randn(2, 3, 16, 16)
    again.eval()
    torch.testing.assert_close(again(x), m(x))


def test_genotype_from_a_derived_search_cell_builds_the_network():
    torch.manual_seed(0)
    search = models.darts_search_net(in_channels=3, num_classes=10, n_nodes=3, channels=4)
    with torch.no_grad():  # give the architecture a clear preference
        for p in search.wired.wiring.parameters():
            p.copy_(torch.randn(p.shape) * 3)
    derived = gw.derive(search.write_back())
    g = models.genotype_from_graph(derived)
    assert len(g.normal) == 6 and g.normal_concat == [2, 3, 4] and g.reduce == g.normal
    chosen = derived.graph["graphwire"]["derived"]["genotype"]
    assert sorted(op for *_, op in chosen) == sorted(op for op, _ in g.normal)
    net = models.darts_network(derived, channels=4, cells=3)
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    normal_ops = [net.graph.nodes[n]["op"] for n in _part(net.graph, 0, "op")]
    assert normal_ops == [op for op, _ in g.normal]


def test_genotypes_as_names_mappings_and_tuples_agree():
    as_dict = {k: v for k, v in DARTS_V2._asdict().items()}
    assert check_genotype("DARTS_V2") == check_genotype(as_dict) == check_genotype(Genotype(**as_dict))
    assert check_genotype("DARTS_V1") != check_genotype("DARTS_V2")


@pytest.mark.parametrize("genotype, match", [
    ("DARTS_V3", "genotype must be one of"),
    ({"normal": []}, "lacks"),
    (DARTS_V2._replace(normal=[("conv_7x7", 0)] + DARTS_V2.normal[1:]), r"normal\[0\]: op must be one of"),
    (DARTS_V2._replace(normal=[("none", 0)] + DARTS_V2.normal[1:]), r"op must be one of"),
    (DARTS_V2._replace(normal=[("sep_conv_3x3", 2)] + DARTS_V2.normal[1:]), "input of node 2 must be a state 0..1"),
    (DARTS_V2._replace(normal_concat=[2, 9]), "normal_concat must list"),
    (DARTS_V2._replace(normal_concat=[5]), r"states \[3, 4\] feed nothing"),
])
def test_bad_genotypes_name_the_field(genotype, match):
    with pytest.raises(ParameterError, match=match):
        models.darts_network(genotype, channels=4, cells=3)


def test_darts_network_bad_arguments():
    with pytest.raises(ParameterError, match="did you mean 'channels'"):
        models.darts_network("DARTS_V2", chanels=4)
    with pytest.raises(ParameterError, match="setting must be one of"):
        models.darts_network("DARTS_V2", setting="cifar100")
    with pytest.raises(ParameterError, match="cells must be an integer"):
        models.darts_network("DARTS_V2", cells=0)
    with pytest.raises(ParameterError, match="not a cell written by graphwire.derive"):
        models.darts_network(gw.generators.chain(2))


# ------------------------------------------------------------------ MobileNet V1
def test_mobilenet_v1_is_a_chain_of_the_papers_blocks():
    m = models.mobilenet_v1(width_mult=0.5, num_classes=7)
    G = m.graph
    assert nx.is_directed_acyclic_graph(G) and G.number_of_nodes() == 14
    widths = [G.nodes[n]["channels"] for n in range(14)]
    assert widths == [16, 32, 64, 64, 128, 128, 256, 256, 256, 256, 256, 256, 512, 512]
    strides = [G.nodes[n].get("stride", 1) for n in range(1, 14)]
    assert strides == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    assert m(torch.randn(1, 3, 224, 224)).shape == (1, 7)
    assert m.wired(m.stem(torch.randn(1, 3, 224, 224))).shape == (1, 512, 7, 7)
    assert models.mobilenet_v1(width_mult=0.25, stem_stride=1)(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("width, params, macs", [(0.25, 470_072, 41.0e6), (1.0, 4_231_976, 568.7e6)])
def test_mobilenet_v1_counts(width, params, macs):
    m = models.mobilenet_v1(width_mult=width, num_classes=1000)
    cost = gw.inference_cost(m)
    assert cost.params == params == sum(p.numel() for p in m.parameters())
    assert cost.macs == pytest.approx(macs, rel=1e-3)
    assert gw.training_cost(m).macs == cost.macs  # a chain: nothing runs that the inference does not


def test_mobilenet_v1_bad_width():
    with pytest.raises(ParameterError, match="width_mult must be a number"):
        models.mobilenet_v1(width_mult=0)
    with pytest.raises(ParameterError, match="did you mean 'width_mult'"):
        models.mobilenet_v1(width=0.5)
