"""Compact candidate sets (graphwire.candidates): blocks of node ranges instead of networkx edges."""

import json

import networkx as nx
import numpy as np
import pytest
import torch

import graphwire as gw
from graphwire.compiler.planners import build_plan
from graphwire.edgeset import BlockEdges, edge_set, is_compact
from graphwire.errors import AttributeValueError, DeadNodeError, RoleError
from graphwire.generators import materialize_candidates
from graphwire.models import dnw as D

from _graphs import compare_executors, randomise_batchnorm

STAGES = [(2, 3, 1, 1), (3, 4, 2, 2)]
KW = dict(in_channels=3, channels=1, default_op="channel")
DNW = dict(wiring="dnw", k={0: 3, 1: 12}, group_by="stage")


def _pair(seed=0, **opts):
    """The same DNW net compiled from the compact chain and from its materialised graph."""
    C = D.channel_chain(STAGES, compact=True)
    torch.manual_seed(seed)
    a = gw.compile(C, **KW, **{**DNW, **opts})
    b = gw.compile(materialize_candidates(C), **KW, **{**DNW, **opts})
    b.load_state_dict(a.state_dict())
    return a, b


def _small():
    """A hand-made compact graph: 0 -> {1, 2} (networkx), block {1, 2} -> {3, 4}, {3, 4} -> 5."""
    G = nx.DiGraph()
    G.add_nodes_from([(0, {"role": "input"}), 1, 2, 3, 4, (5, {"role": "output"})])
    G.add_edges_from([(0, 1), (0, 2), (3, 5), (4, 5)])
    G.graph["graphwire"] = {"version": 1, "candidates": [{"sources": [1, 3], "targets": [3, 5], "attrs": {"stage": 0}}]}
    return G


# ------------------------------------------------------------------ the record and its materialised graph
def test_materialized_compact_chain_is_the_full_chain_in_source_target_order():
    C = D.channel_chain(STAGES, compact=True)
    full = D.channel_chain(STAGES)
    assert is_compact(C) and not is_compact(full)
    assert C.number_of_edges() == 2 + 4  # structural edges only
    M = materialize_candidates(C)
    assert list(M.edges) == sorted(full.edges)
    assert all(M.edges[e] == full.edges[e] for e in full.edges)
    assert dict(M.nodes(data=True)) == dict(full.nodes(data=True))
    assert not is_compact(M) and "candidates" in C.graph["graphwire"]  # C untouched
    gw.validate(C)
    sizes = D.chain_sizes(STAGES)
    assert len(edge_set(C)) == sum(sizes["candidates"]) + 6


def test_a_networkx_edge_inside_a_block_is_a_chosen_candidate_with_its_own_attributes():
    G = _small()
    G.add_edge(1, 4, weight=0.5)
    M = materialize_candidates(G)
    assert M.edges[1, 4] == {"stage": 0, "weight": 0.5} and M.edges[1, 3] == {"stage": 0}
    assert M.number_of_edges() == 8
    net = gw.compile(G, **KW, wiring="static")
    ref = gw.compile(M, **KW, wiring="static")
    assert list(net.plan.edges) == list(ref.plan.edges)
    assert net.wiring.coefficients().tolist() == ref.wiring.coefficients().tolist()


# ------------------------------------------------------------------ compile
@pytest.mark.parametrize("executor", ["batched", "reference"])
def test_compact_and_materialized_compile_to_the_same_network(executor):
    a, b = _pair(3)
    assert a.plan.planner == "compact" and isinstance(a.plan.edges, BlockEdges)
    # no per-edge Python objects: predecessors are ranges, in-edge ids arrays, edge attributes shared
    assert all(isinstance(nd.preds, range) and isinstance(nd.in_edges, np.ndarray) for nd in a.plan.nodes)
    assert all(list(x.preds) == list(y.preds) and list(x.in_edges) == list(y.in_edges)
               for x, y in zip(a.plan.nodes, b.plan.nodes))
    assert a.wiring.edges is a.plan.edges
    assert list(a.plan.edges) == list(b.plan.edges) and len(a.plan.edges) == len(b.plan.edges)
    assert a.state_dict().keys() == b.state_dict().keys()
    randomise_batchnorm(a, 3)
    b.load_state_dict(a.state_dict())
    x = torch.randn(3, 3, 6, 6)
    a.executor = b.executor = executor
    for mode in ("train", "eval"):
        getattr(a, mode)()
        getattr(b, mode)()
        torch.testing.assert_close(a(x), b(x))
    assert torch.equal(a.wiring.mask, b.wiring.mask)


def test_compact_net_executors_agree_and_options_match_the_materialized_net():
    a, _ = _pair(4)
    randomise_batchnorm(a, 4)
    compare_executors(a, torch.randn(3, 3, 6, 6))
    for opts in ({"k_over": "dense", "k": 0.3}, {"closed_nodes": "run"}, {"refresh": 2}):
        a, b = _pair(5, **opts)
        x = torch.randn(2, 3, 6, 6)
        torch.testing.assert_close(a.eval()(x), b.eval()(x))
        assert a.wiring.budgets == b.wiring.budgets


def test_a_compact_graph_that_is_no_interval_graph_is_materialised_and_planned():
    G = _small()
    G.graph["graphwire"]["candidates"] = [{"sources": [1, 2], "targets": [3, 4]}, {"sources": [2, 3], "targets": [4, 5]}]
    G.add_edge(1, 5)  # the output reads 1, 3 and 4: not one contiguous range
    net = gw.compile(G, **KW, wiring="static")
    ref = gw.compile(materialize_candidates(G), **KW, wiring="static")
    assert net.plan.planner == "general"
    assert list(net.plan.edges) == list(ref.plan.edges) == sorted(ref.plan.edges)
    C = D.channel_chain(STAGES, compact=True)
    general, _ = build_plan(C, planner="general", **KW)
    compact, _ = build_plan(C, **KW)
    assert general.planner == "general" and compact.planner == "compact"
    assert list(general.edges) == list(compact.edges)
    x = torch.randn(2, 3, 5, 5)
    ref.load_state_dict(net.state_dict())
    torch.testing.assert_close(net(x), ref(x))


def test_mask_edges_and_edge_ids_on_a_compact_net():
    a, b = _pair(6)
    ids = a.plan.edge_ids()
    assert len(ids) == len(b.plan.edges)
    assert all(ids[e] == i for i, e in enumerate(b.plan.edges))
    assert (1, 0) not in ids and "x" not in ids
    chosen = [e for e, m in zip(b.plan.edges, a.wiring.mask.tolist()) if m][:2]
    a.mask_edges(chosen)
    b.mask_edges(chosen)
    x = torch.randn(2, 3, 6, 6)
    torch.testing.assert_close(a.eval()(x), b.eval()(x))
    H = a.write_back()
    assert not any(H.has_edge(*e) and H.edges[e]["active"] for e in chosen)
    with pytest.raises(gw.errors.ParameterError, match="not in the graph"):
        a.mask_edges([(5, 1)])


# ------------------------------------------------------------------ write_back and prune
def test_write_back_holds_the_chosen_edges_and_prunes_like_the_materialized_net():
    a, b = _pair(7)
    x = torch.randn(4, 3, 6, 6)
    opt = torch.optim.SGD(a.parameters(), lr=0.5)
    a.train()
    for _ in range(3):
        opt.zero_grad()
        a(x).pow(2).mean().backward()
        opt.step()
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    H, Hb = a.write_back(), b.write_back()
    gw.validate(H)
    assert is_compact(H) and H.graph["graphwire"]["wiring"] == "dnw"
    active = {(u, v) for u, v, d in Hb.edges(data=True) if d["active"]}
    assert set(H.edges) == active  # structural edges are always active
    for e in H.edges:
        assert H.edges[e] == Hb.edges[e]
    for blk in H.graph["graphwire"]["candidates"]:
        assert blk["attrs"]["active"] is False and blk["attrs"]["weight"] == 0.0
    M = materialize_candidates(H)  # every candidate: the materialised net's active / weight
    for u, v, d in Hb.edges(data=True):
        assert M.edges[u, v]["active"] == d["active"] and M.edges[u, v]["weight"] == d["weight"]
    # static wiring on the written-back compact graph computes what the DNW net computes
    static = gw.compile(H, **KW, wiring="static", init_from=a).eval()
    torch.testing.assert_close(static(x), a(x))
    P, Pb = gw.prune(H, attr="active"), gw.prune(Hb, attr="active")
    assert not is_compact(P)
    assert list(P.edges(data=True)) == list(Pb.edges(data=True)) or sorted(P.edges) == sorted(Pb.edges)
    assert sorted(P.nodes) == sorted(Pb.nodes)
    assert P.graph["graphwire"]["pruned"]["edges_before"] == len(b.plan.edges)
    assert P.graph["graphwire"]["pruned"]["removed_nodes"] == Pb.graph["graphwire"]["pruned"]["removed_nodes"]
    # a budget over every candidate: materialised first, same answer
    T = gw.prune(H, threshold=0.5, attr="active")
    assert sorted(T.edges) == sorted(P.edges)
    K = gw.prune(H, keep=20, attr="weight", ensure_path=True)
    assert sorted(K.edges) == sorted(gw.prune(materialize_candidates(H), keep=20, attr="weight", ensure_path=True).edges)


def test_prune_of_a_compact_graph_without_the_attribute_names_the_block():
    C = D.channel_chain(STAGES, compact=True)
    with pytest.raises(AttributeValueError, match=r"candidates\[0\].*no 'active'"):
        gw.prune(C, attr="active")


def test_classifier_on_the_compact_chain_recompiles_to_the_pruned_wiring():
    torch.manual_seed(0)
    model = gw.models.dnw_mobilenet_v1(num_classes=10, stages=[(4, 6, 1, 1), (6, 8, 2, 2)], width_mult=0.5)
    assert model.wired.plan.planner == "compact" and is_compact(model.wired.graph)
    full = gw.models.dnw_mobilenet_v1(num_classes=10, stages=[(4, 6, 1, 1), (6, 8, 2, 2)], width_mult=0.5,
                                      compact=False)
    assert full.wired.plan.planner == "interval"
    assert list(full.wired.plan.edges) == list(model.wired.plan.edges)
    full.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 8, 8)
    model.eval(), full.eval()
    torch.testing.assert_close(model(x), full(x))
    small = model.recompile(gw.prune(model.write_back(), attr="active")).eval()
    torch.testing.assert_close(small(x), model(x), atol=1e-5, rtol=1e-4)
    R = D.random_edges(D.channel_chain([(4, 6, 1, 1), (6, 8, 2, 2)], compact=True), {0: 4, 1: 30}, seed=1)
    assert R.edges == D.random_edges(D.channel_chain([(4, 6, 1, 1), (6, 8, 2, 2)]), {0: 4, 1: 30}, seed=1).edges


# ------------------------------------------------------------------ JSON
def test_json_round_trips_the_compact_record_and_the_written_back_graph(tmp_path):
    C = D.channel_chain(STAGES, compact=True)
    a, _ = _pair(8)
    for G in (C, a.write_back()):
        path = tmp_path / "g.json"
        gw.io.to_json(G, path)
        back = gw.io.load(path)
        assert back.graph == G.graph
        assert list(back.edges(data=True)) == list(G.edges(data=True))
        assert dict(back.nodes(data=True)) == dict(G.nodes(data=True))
        assert gw.io.to_json(back) == gw.io.to_json(G)
    net = gw.compile(gw.io.loads(gw.io.to_json(C)), **KW, **DNW)
    assert net.plan.planner == "compact" and len(net.plan.edges) == len(a.plan.edges)


# ------------------------------------------------------------------ errors
def _with(blocks, G=None):
    G = _small() if G is None else G
    G.graph["graphwire"]["candidates"] = blocks
    return G


@pytest.mark.parametrize("blocks, match", [
    ({"sources": [1, 3]}, r"graph\.graphwire\.candidates must be a list of blocks"),
    ([[1, 3, 3, 5]], r"candidates\[0\] must be a mapping"),
    ([{"sources": [1, 3], "targets": [3, 5], "stage": 0}], r"candidates\[0\] has unknown field\(s\) \['stage'\]"),
    ([{"targets": [3, 5]}], r"candidates\[0\] has no 'sources'"),
    ([{"sources": [1, 3]}], r"candidates\[0\] has no 'targets'"),
    ([{"sources": [3, 1], "targets": [3, 5]}], r"candidates\[0\]\.sources must be a node range \[lo, hi\].*got \[3, 1\]"),
    ([{"sources": [1, 3], "targets": [3, 7]}], r"candidates\[0\]\.targets must be .*hi <= 6"),
    ([{"sources": [1, 3.0], "targets": [3, 5]}], r"candidates\[0\]\.sources must be a node range"),
    ([{"sources": [1, 2, 3], "targets": [3, 5]}], r"candidates\[0\]\.sources must be a node range"),
    ([{"sources": [1, 4], "targets": [3, 5]}], r"candidates\[0\]: sources \[1, 4\] must end at or before targets"),
    ([{"sources": [1, 3], "targets": [3, 5], "attrs": [1]}], r"candidates\[0\]\.attrs must be a mapping"),
    ([{"sources": [1, 3], "targets": [3, 5], "attrs": {"weight": float("nan")}}],
     r"candidates\[0\]\.attrs: attribute 'weight' must be a finite number"),
    ([{"sources": [1, 3], "targets": [3, 5], "attrs": {1: 2}}], r"candidates\[0\]\.attrs has the key 1"),
    ([{"sources": [1, 3], "targets": [3, 5]}, {"sources": [2, 3], "targets": [4, 6]}],
     r"candidates\[0\] and graph\.graphwire\.candidates\[1\] share candidate edges"),
])
def test_bad_compact_records_name_the_field(blocks, match):
    with pytest.raises(AttributeValueError, match=match):
        gw.validate(_with(blocks))
    with pytest.raises(AttributeValueError, match=match):
        gw.compile(_with(blocks), **KW)


def test_bad_compact_graphs_raise_clear_errors():
    G = nx.relabel_nodes(_small(), {5: "out"})
    with pytest.raises(AttributeValueError, match=r"needs the node labels 0\.\.5 \(integers\), got the label 'out'"):
        gw.validate(G)
    G = _small()
    G.add_edge(4, 2)
    with pytest.raises(AttributeValueError, match=r"edge \(4, 2\).*from a lower to a higher label"):
        gw.validate(G)
    G = _small()
    G.nodes[3]["role"] = "input"
    with pytest.raises(RoleError, match="input nodes must have no incoming edges.*candidates"):
        gw.validate(G)
    G = _small()
    G.graph["graphwire"]["candidates"] = [{"sources": [1, 2], "targets": [3, 5]}]  # node 2 feeds nothing
    with pytest.raises(DeadNodeError, match=r"reaching no output: \[2\]"):
        gw.compile(G, **KW)
    G = _small()
    G.remove_edge(0, 2)
    with pytest.raises(DeadNodeError, match=r"not reachable from an input: \[2\]"):
        gw.validate(G)
    with pytest.raises(gw.errors.ParameterError, match="compact must be True or False"):
        D.channel_chain(STAGES, compact="yes")


def test_a_bad_record_in_json_is_refused_with_the_field():
    data = json.loads(gw.io.to_json(_small()))
    data["graph"]["graphwire"]["candidates"][0]["targets"] = [5, 3]
    text = json.dumps(data)
    with pytest.raises(AttributeValueError, match=r"candidates\[0\]\.targets must be a node range"):
        gw.io.loads(text)


@pytest.mark.parametrize("wiring", ["static", "sigmoid"])
def test_write_back_of_other_wirings_on_a_compact_graph_matches_the_materialized_net(wiring):
    C = D.channel_chain(STAGES, compact=True)
    a = gw.compile(C, **KW, wiring=wiring)
    b = gw.compile(materialize_candidates(C), **KW, wiring=wiring)
    b.load_state_dict(a.state_dict())
    H, Hb = a.write_back(), b.write_back()
    M = materialize_candidates(H)  # every edge is active here: all of them written as networkx edges
    assert H.number_of_edges() == Hb.number_of_edges() == M.number_of_edges()
    assert all(M.edges[e] == Hb.edges[e] for e in Hb.edges)


def test_prune_of_a_compact_graph_names_edges_without_the_attribute_and_refuses_an_empty_result():
    a, _ = _pair(9)
    H = a.write_back()
    u, v = next(iter(H.edges))
    del H.edges[u, v]["active"]
    with pytest.raises(AttributeValueError, match=rf"1 edge\(s\) have no 'active' attribute, e.g. \[\({u}, {v}\)\]"):
        gw.prune(H, attr="active")
    H = a.write_back()
    for e in H.edges:
        H.edges[e]["active"] = False
    with pytest.raises(DeadNodeError, match="leaves no path from an input to an output"):
        gw.prune(H, attr="active")
