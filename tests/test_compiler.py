"""Compiler: executors agree, prune+recompile equals the masked parent, interop, bad input."""

import io as _io
import random

import networkx as nx
import numpy as np
import pytest
import torch

import graphwire as gw
from graphwire.errors import GraphError, ParameterError, ShapeError, UnknownOpError, WiringError

from _graphs import (FAMILIES, compare_executors, count_module_calls, decorate, family_graph, randomise_batchnorm,
                     record_nodes)

WIRINGS = [("static", {}), ("sigmoid", {}), ("sigmoid", {"per_channel": True})]


def _randomise(net, seed):
    """Spread the gates and give BatchNorm non-trivial affine parameters and running statistics."""
    randomise_batchnorm(net, seed, gates=1.5)


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_equals_reference_on_50_graphs(family):
    for seed in range(50):
        torch.manual_seed(seed)
        G = family_graph(family, seed)
        # a third of the graphs use one aggregation everywhere, the rest mix them per node
        aggs = [("sum",), ("concat",), ("max",), ("sum", "concat", "max")][seed % 4]
        decorate(G, seed, aggs=aggs)
        wiring, opts = WIRINGS[seed % 3]
        vector = seed % 5 == 4
        net = gw.compile(G, in_channels=2, wiring=wiring, dims=0 if vector else 2,
                         default_op="linear" if vector else random.Random(seed).choice(["conv", "sepconv"]),
                         **opts)
        _randomise(net, seed)
        if seed % 2 and G.number_of_edges() > 2:  # close some edges: closed-node semantics
            edges = list(G.edges)
            net.mask_edges(random.Random(seed).sample(edges, max(1, len(edges) // 4)))
        x = torch.randn(3, 2) if vector else torch.randn(3, 2, 6, 6)
        compare_executors(net, x, 1e-5)


def test_steps_run_one_module_call_each_and_the_reference_runs_every_node():
    """Python work grows with steps: a 3-generation graph with wide generations makes one module
    call per step (its stacked op); the reference executor runs node by node."""
    G = gw.generators.layered([6, 8, 8, 1])
    net = gw.compile(G, in_channels=3, channels=4, wiring="sigmoid")
    calls = count_module_calls(net)
    net(torch.randn(2, 3, 5, 5))
    assert len(net.plan.steps) == 4 and len(calls) == 4 and len(net.nodes) == 0
    net.executor = "reference"
    calls.clear()
    seen = record_nodes(net)
    net(torch.randn(2, 3, 5, 5))
    assert len(seen) == G.number_of_nodes() and calls == []


def test_mixed_resolution_inputs_are_resized_to_the_smallest():
    G = nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3)])
    G.nodes[0]["role"], G.nodes[3]["role"] = "input", "output"
    G.nodes[2]["stride"] = 2
    for resize in ("area", "bilinear"):
        net = gw.compile(G, in_channels=3, channels=4, resize=resize)
        y = net(torch.randn(2, 3, 8, 8))
        assert y.shape == (2, 4, 4, 4)
        net.executor = "reference"
        torch.testing.assert_close(net(torch.randn(2, 3, 8, 8)).shape, y.shape) if False else None
        x = torch.randn(2, 3, 8, 8)
        net.eval()
        a = net(x)
        net.executor = "batched"
        torch.testing.assert_close(net(x), a)


@pytest.mark.parametrize("family", FAMILIES)
def test_pruned_recompile_equals_masked_parent(family):
    for seed in range(6):
        torch.manual_seed(seed)
        G = decorate(family_graph(family, seed), seed, aggs=("sum", "max", "concat"))
        for v in gw.graph.outputs(G):  # an identity output that concatenates would change width
            G.nodes[v]["agg"] = "sum"
        # plain gates: with carry=True masking an edge also changes the strengths downstream of it
        parent = gw.compile(G, in_channels=2, wiring="sigmoid", default_op="conv", carry=False)
        _randomise(parent, seed)
        learned = parent.write_back()
        keep = 0.5 if G.number_of_edges() > 3 else 1.0
        try:
            pruned = gw.prune(learned, keep=keep)
        except gw.errors.DeadNodeError:
            continue  # pruning removed every path: nothing to compare
        removed = [e for e in G.edges if not pruned.has_edge(*e)]
        parent.mask_edges(removed)
        parent.eval()
        child = gw.compile(pruned, in_channels=2, wiring="static", default_op="conv", init_from=parent)
        child.eval()
        x = torch.randn(3, 2, 6, 6)
        for ex in ("batched", "reference"):
            parent.executor = child.executor = ex
            yp, yc = parent(x), child(x)
            # output nodes pruned away (dead) output exactly zero in the parent
            kept, off = [], 0
            for p in parent.plan.outputs:
                nd = parent.plan.nodes[p]
                block = yp[:, off:off + nd.out_ch]
                if pruned.has_node(nd.label):
                    kept.append(block)
                else:
                    assert torch.all(block == 0)
                off += nd.out_ch
            torch.testing.assert_close(yc, torch.cat(kept, 1), atol=1e-5, rtol=1e-5)


def test_write_back_does_not_mutate_and_carries_gates():
    G = gw.generators.watts_strogatz(8, 4, 0.5, seed=3)
    net = gw.compile(G, in_channels=3, channels=4, wiring="sigmoid", init=2.0, carry=False)
    H = net.write_back()
    assert all("weight" not in d for *_, d in G.edges(data=True))
    w = torch.sigmoid(torch.tensor(2.0)).item()
    assert all(abs(d["weight"] - w) < 1e-6 and d["active"] is True for *_, d in H.edges(data=True))
    assert H.graph["graphwire"]["wiring"] == "sigmoid" and "wiring" not in G.graph["graphwire"]
    gw.validate(H)
    pc = gw.compile(G, in_channels=3, channels=4, wiring="sigmoid", per_channel=True).write_back()
    assert all(len(d["channel_weights"]) == 4 for *_, d in pc.edges(data=True))


def test_sigmoid_penalty_is_the_regularizer():
    G = gw.generators.complete(3)
    net = gw.compile(G, in_channels=3, channels=4, wiring="sigmoid", penalty=0.1, init=0.0)
    assert abs(net.regularizer().item() - 0.05) < 1e-6
    net.regularizer().backward()
    assert net.wiring.logit.grad.abs().sum() > 0
    assert gw.compile(G, in_channels=3, channels=4, wiring="static").regularizer().item() == 0.0


def test_static_wiring_reads_weights_and_zero_closes():
    G = gw.generators.chain(2)
    for e in G.edges:
        G.edges[e]["weight"] = 2.0
    net = gw.compile(G, in_channels=3, channels=3, default_op="identity", output_op=None)
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(net(x), 8.0 * x)  # three edges, each doubling
    G.edges[0, 1]["weight"] = 0.0
    net = gw.compile(G, in_channels=3, channels=3, default_op="conv")
    assert net.wiring.may_close and torch.all(net(x) == 0)  # nothing reaches the output


def test_init_from_carries_parameters_by_label_and_slices_concat_inputs():
    G = gw.generators.complete(3)
    for v in G:
        G.nodes[v]["agg"] = "concat"
    parent = gw.compile(G, in_channels=2, channels=3, wiring="sigmoid", output_op=None)
    _randomise(parent, 1)
    H = G.copy()
    H.remove_edge(1, 3)
    child = gw.compile(H, in_channels=2, channels=3, wiring="sigmoid", output_op=None, init_from=parent)
    assert child.init_report["skipped"] == []
    assert child.init_report["sliced"] == [3] and 4 in child.init_report["copied"]
    old, new = parent.node(3).conv.weight, child.node(3).conv.weight  # preds 0,1,2 -> 0,2
    torch.testing.assert_close(new, torch.cat([old[:, 0:3], old[:, 6:9]], 1))
    old_ids, new_ids = parent.plan.edge_ids(), child.plan.edge_ids()
    for e, i in new_ids.items():
        assert child.wiring.logit[i] == parent.wiring.logit[old_ids[e]]


def test_state_dict_round_trip_and_stable_names():
    G = gw.generators.watts_strogatz(8, 4, 0.5, seed=2)
    a = gw.compile(G, in_channels=3, channels=4, wiring="sigmoid")
    _randomise(a, 0)
    buf = _io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = gw.compile(G, in_channels=3, channels=4, wiring="sigmoid")
    b.load_state_dict(torch.load(buf, weights_only=True))
    a.eval(), b.eval()
    x = torch.randn(2, 3, 6, 6)
    torch.testing.assert_close(a(x), b(x))
    keys = list(a.state_dict())
    assert "nodes.0.conv.weight" in keys and "wiring.logit" in keys
    assert not any(k.startswith("_plan") for k in keys)
    assert keys == list(gw.compile(G, in_channels=3, channels=4, wiring="sigmoid").state_dict())


@pytest.mark.slow
@pytest.mark.parametrize("wiring,density", [("static", 0.015), ("sigmoid", 0.015), ("sigmoid", 1.0)])
def test_torch_compile_fullgraph(wiring, density):
    G = gw.generators.watts_strogatz(8, 4, 0.75, seed=0)
    net = gw.compile(G, in_channels=3, channels=4, wiring=wiring, sparse_density=density)
    assert any(sb.sparse for st in net.plan.steps for sb in st.sources) == (density == 1.0)
    x = torch.randn(2, 3, 6, 6)
    eager = net(x)
    compiled = torch.compile(net, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x), eager)
    compiled(x).sum().backward()


def test_executor_option_and_dtype_device_moves():
    G = gw.generators.resnet(4)
    net = gw.compile(G, in_channels=3, channels=4, executor="reference").double()
    assert net(torch.randn(2, 3, 5, 5, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(ParameterError, match="unknown executor 'fast'.*batched"):
        net.executor = "fast"


# ------------------------------------------------------------------ bad input
def test_sum_of_different_widths_names_the_node_and_shapes():
    G = nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3)])
    G.nodes[0]["role"], G.nodes[3]["role"] = "input", "output"
    G.nodes[1]["channels"], G.nodes[2]["channels"] = 4, 8
    with pytest.raises(ShapeError, match=r"node 3 .*'sum'.*1: 4, 2: 8"):
        gw.compile(G, in_channels=3, channels=4)


def test_unknown_op_lists_known_ops():
    G = gw.generators.chain(1)
    G.nodes[1]["op"] = "conv7x7"
    with pytest.raises(UnknownOpError, match=r"unknown op 'conv7x7' at node 1.*'conv'.*'sepconv'"):
        gw.compile(G, in_channels=3, channels=4)


def test_unknown_wiring_and_unknown_option():
    G = gw.generators.chain(1)
    with pytest.raises(WiringError, match=r"unknown wiring 'gates'.*'sigmoid'.*'static'"):
        gw.compile(G, in_channels=3, channels=4, wiring="gates")
    with pytest.raises(WiringError, match=r"sigmoid wiring has no option 'temperature'.*per_channel"):
        gw.compile(G, in_channels=3, channels=4, wiring="sigmoid", temperature=2.0)


def test_wrong_input_channels_names_expected_shape():
    net = gw.compile(gw.generators.chain(1), in_channels=3, channels=4)
    with pytest.raises(ShapeError, match=r"\[2, 5, 8, 8\].*input node\(s\) \[0\].*C = 3"):
        net(torch.randn(2, 5, 8, 8))
    with pytest.raises(ShapeError, match=r"\[B, C, H, W\]"):
        net(torch.randn(2, 3))


def test_missing_channels_and_op_dims_mismatch():
    with pytest.raises(ParameterError, match="node 0 has no 'channels'"):
        gw.compile(gw.generators.chain(1), in_channels=3)
    with pytest.raises(ShapeError, match="op 'linear' works on vectors"):
        gw.compile(gw.generators.chain(1), in_channels=3, channels=4, default_op="linear")


def test_register_op_user_op_and_duplicate():
    gw.register_op("tanh_lin", lambda cin, cout, stride, dims: torch.nn.Sequential(
        torch.nn.Linear(cin, cout), torch.nn.Tanh()), spatial=False, overwrite=True)
    net = gw.compile(gw.generators.complete(3), in_channels=2, channels=5, default_op="tanh_lin", dims=0)
    x = torch.randn(4, 2)
    y = net(x)
    net.executor = "reference"
    torch.testing.assert_close(net(x), y)
    with pytest.raises(ParameterError, match="already registered"):
        gw.register_op("conv", lambda *a, **k: None)


def test_write_back_share_and_prune_ensure_path():
    G = gw.generators.chain(3)
    G.add_edge(0, 2)
    G.add_edge(1, 4)
    net = gw.compile(G, in_channels=2, channels=3, wiring="sigmoid")
    with torch.no_grad():
        net.wiring.logit.copy_(torch.tensor([-3.0 if e == (0, 1) else 1.0 for e in net.plan.edges]))
    H = net.write_back()
    H = gw.share(H)  # share: a plain graph function
    for v in H:  # shares of a node's inputs add up to one
        if H.in_degree(v):
            assert abs(sum(d["share"] for *_, d in H.in_edges(v, data=True)) - 1) < 1e-9
    assert H.edges[2, 3]["share"] == 1.0  # an only input carries everything
    # keeping the single strongest edge disconnects; ensure_path adds the widest path back
    with pytest.raises(gw.errors.DeadNodeError, match="no path from an input"):
        gw.prune(H, keep=1)
    P = gw.prune(H, keep=1, ensure_path=True)
    assert list(nx.all_simple_paths(P, 0, 4)) and (0, 1) not in P.edges  # the weak (0, 1) edge avoided
    assert P.graph["graphwire"]["pruned"]["ensure_path"] is True


def test_large_blocks_take_the_matmul_path_and_agree():
    """A 40 x 40 block (G * J > _LARGE_BLOCK) is aggregated by one matmul; it must match the oracle."""
    from graphwire.executors import _aggregate

    G = gw.generators.layered([40, 40, 1])
    assert 40 * 40 > _aggregate._LARGE_BLOCK
    net = gw.compile(G, in_channels=2, channels=2, wiring="sigmoid")
    _randomise(net, 0)
    compare_executors(net, torch.randn(3, 2, 4, 4), 1e-5)


def test_prune_and_write_back_share_nothing_mutable_with_their_input():
    G = gw.generators.complete(3)
    for i, e in enumerate(G.edges):
        G.edges[e].update(weight=float(10 - i), op_weights={"conv": 0.5, "skip": 0.5})
    P = gw.prune(G, keep=0.5)
    u, v = next(iter(P.edges))
    P.edges[u, v]["op_weights"]["conv"] = 9.0
    P.graph["graphwire"]["generator"]["params"]["n"] = 99
    assert G.edges[u, v]["op_weights"]["conv"] == 0.5 and G.graph["graphwire"]["generator"]["params"]["n"] == 3
    net = gw.compile(G, in_channels=2, channels=2, wiring="sigmoid")
    H = net.write_back()
    H.edges[u, v]["op_weights"]["skip"] = 7.0
    assert net.graph.edges[u, v]["op_weights"]["skip"] == 0.5


# ---- sparse aggregation: edge-list blocks against the oracle

_SPARSE_WIRINGS = [("static", {}), ("sigmoid", {}), ("sigmoid", {"per_channel": True}), ("l0", {}), ("ddw", {}),
                   ("masked", {})]


def _blocks(net):
    blocks = [sb for st in net.plan.steps for sb in st.sources]
    return sum(sb.sparse for sb in blocks), sum(not sb.sparse for sb in blocks)


@pytest.mark.parametrize("graph", ["sparse", "dense", "mixed"])
@pytest.mark.parametrize("wiring,opts", _SPARSE_WIRINGS)
def test_sparse_dense_and_mixed_aggregation_match_the_reference(graph, wiring, opts):
    """Per-edge, per-channel and per-sample coefficients, closing edges (l0, masks): the sparse
    path, the dense path and graphs mixing them give the oracle's outputs, gradients and BN stats."""
    if graph == "sparse":    # every multi-node block an edge list
        G, density = gw.generators.erdos_renyi(24, 0.15, seed=2), 1.0
    elif graph == "dense":   # every block a GEMM
        G, density = gw.generators.layered([4, 5, 5, 1], density=0.5, seed=1), 0.0
    else:                    # some of each
        G, density = gw.generators.stack(gw.generators.erdos_renyi, 2, seed=3, n=12, p=0.3), 0.4
    torch.manual_seed(0)
    net = gw.compile(G, in_channels=3, channels=4, default_op="linear", dims=0,
                     wiring="sigmoid" if wiring == "masked" else wiring, sparse_density=density, **opts)
    sparse, dense = _blocks(net)
    assert {"sparse": sparse >= 3 * dense,  # only full blocks stay dense
            "dense": sparse == 0, "mixed": sparse > 0 and dense > sparse // 4}[graph], (sparse, dense)
    randomise_batchnorm(net, 0, gates=1.5)
    if wiring == "masked":
        edges = list(G.edges)
        net.mask_edges(random.Random(0).sample(edges, len(edges) // 3))
    net.double()
    compare_executors(net, torch.randn(5, 3, dtype=torch.float64), 1e-9, seed=0)


def test_sparse_aggregation_on_images_matches_the_reference():
    G = gw.generators.erdos_renyi(10, 0.3, seed=4)
    net = gw.compile(G, in_channels=2, channels=3, wiring="sigmoid", sparse_density=1.0)
    assert _blocks(net)[0] > 0
    _randomise(net, 0)
    compare_executors(net.double(), torch.randn(2, 2, 5, 5, dtype=torch.float64), 1e-9)


def test_sparse_blocks_hold_their_edges_not_a_matrix():
    """ER(1000) at the default threshold: blocks are edge lists and the plan's index memory grows
    with the edges (the dense [G, J] blocks held ~0.5M entries for its ~4.3k edges)."""
    G = gw.generators.erdos_renyi(1000, 0.0086, seed=1)
    plan, _ = gw.compiler.planners.build_plan(G, in_channels=8, channels=8, default_op="linear", dims=0)
    sparse = [sb for st in plan.steps for sb in st.sources if sb.sparse]
    assert sparse and all(len(sb.tgt) == len(sb.src) == len(sb.eid) for sb in sparse)
    entries = sum(a.size for st in plan.steps for a in st.arrays().values())
    dense, _ = gw.compiler.planners.build_plan(G, in_channels=8, channels=8, default_op="linear", dims=0,
                                               sparse_density=0.0)
    assert all(sb.edge_index is not None for st in dense.steps for sb in st.sources)
    assert entries * 5 < sum(a.size for st in dense.steps for a in st.arrays().values())
    covered = np.sort(np.concatenate([sb.eid if sb.sparse else sb.edge_index[sb.edge_index < len(plan.edges)]
                                      for st in plan.steps for sb in st.sources]))
    assert np.array_equal(covered, np.arange(len(plan.edges)))  # every edge in exactly one block


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.1", True, None, float("nan")])
def test_sparse_density_out_of_range_names_the_option(bad):
    with pytest.raises(ParameterError, match="sparse_density"):
        gw.compile(gw.generators.chain(2), in_channels=2, channels=2, sparse_density=bad)


def test_a_graph_too_large_for_memory_fails_early_with_an_estimate():
    G = gw.generators.chain(3)
    with pytest.raises(GraphError, match=r"needs about [0-9.]+ GiB .* this machine has"):
        gw.compile(G, in_channels=2, channels=2**21, default_op="linear", dims=0)


def test_interval_and_general_planners_agree_on_sparse_blocks():
    """A sparse layered graph: both planners store the same edge lists (same state, same plan)."""
    from graphwire.compiler.planners import build_plan

    G = nx.DiGraph()  # a band: hidden node 40 + i reads inputs i-1..i+1 (density ~0.07), one output
    G.add_nodes_from(range(40), role="input")
    G.add_nodes_from(range(40, 80))
    G.add_node(80, role="output")
    G.add_edges_from((j, 40 + i) for i in range(40) for j in range(max(0, i - 1), min(40, i + 2)))
    G.add_edges_from((v, 80) for v in range(40, 80))
    kw = dict(in_channels=2, channels=2, dims=0, default_op="linear", sparse_density=0.1)
    a, _ = build_plan(G, planner="interval", **kw)
    b, _ = build_plan(G, planner="general", **kw)
    sa = [sb for st in a.steps for sb in st.sources]
    sb_ = [sb for st in b.steps for sb in st.sources]
    assert any(x.sparse for x in sa) and [x.sparse for x in sa] == [y.sparse for y in sb_]
    for x, y in zip(sa, sb_):
        for f in ("edge_index", "tgt", "src", "eid"):
            assert (getattr(x, f) is None) == (getattr(y, f) is None)
            if getattr(x, f) is not None:
                assert np.array_equal(getattr(x, f), getattr(y, f))


@pytest.mark.slow
def test_gpu_check_script_runs_on_cpu(tmp_path):
    """scripts/gpu-check.sh end to end in its CI-sized CPU form, writing every benchmark's JSON."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(["bash", str(root / "scripts" / "gpu-check.sh"), "--device", "cpu", "--out", str(tmp_path)],
                         cwd=root, capture_output=True, text=True, timeout=900,
                         env={**__import__("os").environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    names = sorted(p.name for p in tmp_path.glob("*.json"))
    assert any(n.startswith("executors") for n in names) and any(n.startswith("dnw") for n in names)
    assert any(n.startswith("ddw") for n in names) and any(n.startswith("scale") for n in names), names


def test_nodes_reading_inputs_of_different_resolutions_run_in_different_steps():
    """Two same-signature nodes of one generation, one reading a downsampled input and one a
    full-size input: the batched executor must not resize both to the smaller size."""
    G = nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 5)])
    G.nodes[0]["role"], G.nodes[5]["role"] = "input", "output"
    G.nodes[1]["stride"] = 2
    net = gw.compile(G, in_channels=2, channels=3, wiring="sigmoid")
    n3, n4 = net.plan.by_label[3], net.plan.by_label[4]
    assert n3.gen == n4.gen and n3.step != n4.step
    compare_executors(net, torch.randn(2, 2, 8, 8))
    # a random graph with strides: the executors agree
    R = gw.generators.erdos_renyi(12, 0.35, seed=4)
    for n in list(R)[1:5]:
        R.nodes[n]["stride"] = 2
    compare_executors(gw.compile(R, in_channels=2, channels=3, wiring="sigmoid"), torch.randn(2, 2, 16, 16))
