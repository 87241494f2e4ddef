"""Training cost (what runs) against inference cost (the chosen wiring), checked by hand."""

import networkx as nx
import pytest
import torch
from torch import nn

import graphwire as gw
from graphwire import models
from graphwire.compiler.flops import count_flops, inference_cost, training_cost
from graphwire.errors import ParameterError

# A small DNW chain: 4 -> 8 (1 block) -> 16 (2 blocks) -> 32 (2 blocks) channels, ImageNet strides.
STAGES = [(4, 8, 1, 1), (8, 16, 2, 2), (16, 32, 2, 2)]


def _dnw(**kw):
    torch.manual_seed(0)
    return models.dnw_mobilenet_v1(num_classes=10, image_size=224, stages=STAGES, width_mult=0.5, **kw)


def _concentrate(model, seed=1):
    """What training does to DNW's wiring: the top-k gathers on few channels, others lose every edge."""
    g = torch.Generator().manual_seed(seed)
    w = model.wired.wiring
    u, _ = model.wired.plan.edges.arrays()
    weak = torch.rand(int(u.max()) + 1, generator=g) < 0.5  # half the channels lose their out-edges
    with torch.no_grad():
        w.weight.mul_(torch.where(weak[torch.as_tensor(u)], 0.01, 10.0))
        w.weight.masked_fill_(w._fixed, 1.0)
    w.update_mask()


def _expected(model, forward_reach: bool):
    """The inference cost computed by hand from the written-back graph: alive channels (a path to
    the output over chosen edges; also from the input when closed channels output 0), an edge costs
    its source's map, a channel node 3x3 depthwise (plus its 3x3 stem conv on the image), the head
    its Linear."""
    H = model.write_back()
    H.remove_edges_from([(u, v) for u, v, d in H.edges(data=True) if not d.get("active", True)])
    out = next(n for n, d in H.nodes(data=True) if d["role"] == "output")
    src = next(n for n, d in H.nodes(data=True) if d["role"] == "input")
    alive = nx.ancestors(H, out) | {out}
    if forward_reach:
        alive &= nx.descendants(H, src) | {src}
    side = {s: 112 // 2 ** s for s in range(len(STAGES))}  # conv1 stride 2, later graphs stride 2
    res = {n: side[d["stage"]] ** 2 for n, d in H.nodes(data=True) if d.get("op") == "channel"}
    edges = sum(res[u] for u, v in H.edges if u in alive and v in alive and u != src and v != out)
    nodes = 0
    for n in alive:
        if H.nodes[n].get("op") == "channel":
            nodes += 9 * res[n] + (27 * res[n] if H.has_edge(src, n) else 0)
    head = model.head[-1]
    return {"node_ops": nodes, "edges": edges, "outside": head.in_features * head.out_features}, len(alive)


@pytest.mark.parametrize("closed_nodes", ["zero", "run"])
def test_dnw_inference_cost_counts_the_chosen_edges_and_live_channels(closed_nodes):
    m = _dnw(closed_nodes=closed_nodes)
    _concentrate(m)
    cost = inference_cost(m)
    expected, alive = _expected(m, forward_reach=closed_nodes == "zero")
    assert cost.parts == expected
    assert cost.alive_nodes == alive < cost.nodes  # concentrating the wiring killed channels
    assert cost.macs == sum(expected.values())
    # training runs every candidate edge with dense block matmuls: far more than the chosen ones
    train = training_cost(m)
    assert train.macs > 3 * cost.macs
    assert train.params == sum(p.numel() for p in m.parameters()) > cost.params


def test_dnw_cost_against_the_reference_profilers_rule():
    """The reference profiler (allenai/dnw) counts every budgeted edge and every channel with an
    out-edge; graphwire drops what cannot reach the output. With the reference's node semantics
    (closed_nodes="run") the two differ by exactly the edges and channels that lead nowhere."""
    m = _dnw(closed_nodes="run")
    _concentrate(m, seed=3)
    H = m.write_back()
    H.remove_edges_from([(u, v) for u, v, d in H.edges(data=True) if not d.get("active", True)])
    src = next(n for n, d in H.nodes(data=True) if d["role"] == "input")
    out = next(n for n, d in H.nodes(data=True) if d["role"] == "output")
    side = {s: 112 // 2 ** s for s in range(len(STAGES))}
    res = {n: side[d["stage"]] ** 2 for n, d in H.nodes(data=True) if d.get("op") == "channel"}
    chosen = [(u, v) for u, v in H.edges if u != src and v != out]
    assert sum(1 for _ in chosen) == sum(m.budgets)  # the top-k holds exactly the budgets
    has_output = {u for u, _ in chosen}
    finals = [u for u in H.predecessors(out)]
    with_input = [v for v in finals if any(True for _ in H.predecessors(v))]
    reference = (sum(res[u] for u, _ in chosen)                                    # budget x map
                 + sum(9 * res[u] for u in has_output)                             # depthwise, channels with output
                 + sum(27 * res[u] for u in has_output if H.has_edge(src, u))      # conv1 channels with output
                 + side[len(STAGES) - 1] ** 2 * len(with_input)                    # pool
                 + len(with_input) * 10)                                           # FC over channels with input
    ours = inference_cost(m)
    alive = nx.ancestors(H, out)
    dead_ends = (sum(res[u] for u, v in chosen if v not in alive)
                 + sum(9 * res[u] + (27 * res[u] if H.has_edge(src, u) else 0) for u in has_output if u not in alive))
    head = m.head[-1].in_features * 10
    assert ours.macs == reference - dead_ends - side[len(STAGES) - 1] ** 2 * len(with_input) \
        - len(with_input) * 10 + head
    assert dead_ends > 0  # the comparison is not vacuous


def test_masked_edges_and_closed_nodes_leave_the_inference_cost():
    """RandWire with sigmoid gates: every chosen edge is a learned multiply-add over its source's
    map; masking a node's only input edge removes the edge, the node and what only it fed."""
    torch.manual_seed(0)
    m = models.randwire(num_classes=10, nodes=6, channels=4, image_size=32, stem_stride=1)
    full = inference_cost(m)
    plan = m.wired.plan
    assert full.chosen_edges == full.edges and full.alive_nodes == full.nodes
    # edges cost source channels x the target's input map (16, 8, 4 px after each stage's sources)
    G = m.graph
    by = plan.by_label
    side = {0: 16, 1: 8, 2: 4}
    expected_edges = 0
    for u, v in G.edges:
        s = G.nodes[v]["stage"]
        size = side[s] * 2 if G.nodes[v].get("stride", 1) == 2 else side[s]
        expected_edges += by[u].out_ch * size * size
    assert full.parts["edges"] == expected_edges
    # close the only input of one source of stage 0: it and its edges go
    source = next(n for n in G.successors(0) if G.in_degree(n) == 1 and G.nodes[n]["stage"] == 0)
    m.wired.mask_edges([(0, source)])
    cut = inference_cost(m)
    assert cut.alive_nodes < full.alive_nodes and cut.chosen_edges < full.chosen_edges
    assert cut.macs < full.macs
    # a static wiring's unit edges are plain additions: only the stage outputs' 1 / sinks weights multiply
    static = models.randwire(num_classes=10, nodes=12, channels=4, wiring="static", stem_stride=1)
    S = static.graph
    weighted = [(u, v) for u, v, d in S.edges(data=True) if d.get("weight", 1.0) != 1.0]
    assert weighted and all(S.nodes[v]["op"] == "identity" for _, v in weighted)
    sc = inference_cost(static, (1, 3, 32, 32))
    assert sc.parts["edges"] == sum(4 * 2 ** S.nodes[v]["stage"] * side[S.nodes[v]["stage"]] ** 2
                                    for _, v in weighted)


def test_costs_scale_with_the_batch_and_agree_with_count_flops():
    m = models.mobilenet_v1(width_mult=0.25, num_classes=10, stem_stride=1)
    one, four = inference_cost(m, (1, 3, 32, 32)), inference_cost(m, (4, 3, 32, 32))
    assert four.macs == 4 * one.macs and four.params == one.params
    assert training_cost(m, (2, 3, 32, 32)).macs * 2 == count_flops(m, (2, 3, 32, 32))
    assert "inference cost at [1, 3, 32, 32]" in str(one)


def test_cost_bad_input():
    with pytest.raises(ParameterError, match="holds no compiled graph"):
        inference_cost(nn.Linear(2, 2), (1, 2))
    net = gw.compile(gw.generators.chain(1), in_channels=3, channels=4)
    with pytest.raises(ParameterError, match="input_shape is needed"):
        inference_cost(net)
    with pytest.raises(ParameterError, match="input_shape must be a tuple"):
        inference_cost(net, (1, 3, 8, "8"))
