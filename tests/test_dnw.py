"""Discovering Neural Wirings: channel graphs, top-k straight-through wiring, sparse layers, models."""

import math
import random

import pytest
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import graphwire as gw
from graphwire.errors import ParameterError, ShapeError, WiringError
from graphwire.models import dnw as D

from _graphs import compare_executors, randomise_batchnorm, record_nodes


def _net(sizes=(3, 4, 4, 2), k=8, in_channels=1, executor="batched", **opts):
    G = gw.generators.layered(list(sizes))
    return gw.compile(G, in_channels=in_channels, channels=1, default_op="channel", wiring="dnw", k=k,
                      executor=executor, **opts)


def _topk_ids(w, k):
    return set(torch.topk(w.detach().abs(), k).indices.tolist())


# ------------------------------------------------------------------ channel graphs
def test_layered_channel_graph_runs_one_step_per_block_and_no_node_module():
    sizes = [5, 6, 6, 3]
    net = _net(sizes, k=30, in_channels=2)
    assert len(net.plan.steps) == len(sizes)
    assert [st.size for st in net.plan.steps] == sizes
    calls = []
    for m in net.nodes.values():  # the channel nodes' own modules: the batched executor calls none
        m.register_forward_hook(lambda *a: calls.append(1))
    y = net(torch.randn(2, 2, 7, 7))
    assert y.shape == (2, 3, 7, 7) and calls == []
    net.executor = "reference"
    seen = record_nodes(net)
    net(torch.randn(2, 2, 7, 7))
    assert len(seen) == sum(sizes) and len(calls) == len(net.nodes) > 0


def test_channel_graph_is_masked_1x1_conv_plus_grouped_depthwise_per_block():
    """Batched output == the DNW formulation written by hand: per block, one masked 1x1 conv over
    every earlier block and one grouped depthwise 3x3 conv (BN -> ReLU before it)."""
    torch.manual_seed(0)
    sizes = [3, 5, 4, 2]
    G = gw.generators.layered(sizes)
    for n in range(sizes[0]):
        G.nodes[n]["stride"] = 2  # stride at the graph's input nodes
    net = gw.compile(G, in_channels=1, channels=1, default_op="channel", wiring="dnw", k=20).eval()
    randomise_batchnorm(net, 0)
    x = torch.randn(2, 1, 8, 8)
    coef = net.wiring.coefficients().detach()
    ids = net.plan.edge_ids()
    offs = [0]
    for s in sizes:
        offs.append(offs[-1] + s)
    alive = {n: n < sizes[0] for n in G}  # closed nodes (no open input from a live node) output 0
    for v in range(sizes[0], offs[-1]):
        alive[v] = any(coef[ids[(u, v)]] != 0 and alive[u] for u in G.predecessors(v))

    def block_op(b, inp):
        mods = [net.nodes[str(n)] for n in range(offs[b], offs[b + 1])]
        w = torch.cat([m.weight for m in mods])
        h = F.batch_norm(inp, torch.cat([m.bn.running_mean for m in mods]), torch.cat([m.bn.running_var for m in mods]),
                         torch.cat([m.bn.weight for m in mods]), torch.cat([m.bn.bias for m in mods]))
        y = F.conv2d(F.relu(h), w, None, mods[0].stride, 1, 1, len(mods))  # one grouped depthwise conv
        return y * torch.tensor([float(alive[n]) for n in range(offs[b], offs[b + 1])])[None, :, None, None]

    with torch.no_grad():
        feats = [block_op(0, x.repeat(1, sizes[0], 1, 1))]
        for b in range(1, len(sizes)):
            W = torch.zeros(sizes[b], offs[b])
            for i, v in enumerate(range(offs[b], offs[b + 1])):
                for u in range(offs[b]):
                    W[i, u] = coef[ids[(u, v)]]
            inp = F.conv2d(torch.cat(feats, 1), W[:, :, None, None])  # one masked 1x1 conv over earlier blocks
            feats.append(inp if b == len(sizes) - 1 else block_op(b, inp))  # outputs: identity op
        y = net(x)
    assert y.shape == (2, sizes[-1], 4, 4)
    torch.testing.assert_close(y, feats[-1], atol=1e-5, rtol=1e-5)


def test_channel_op_checks_and_stem():
    with pytest.raises(ShapeError, match="one output channel"):
        gw.compile(gw.generators.layered([2, 2]), in_channels=1, channels=2, default_op="channel", output_op="channel")
    with pytest.raises(ParameterError, match="kernel_size"):
        gw.compile(gw.generators.layered([2, 2]), in_channels=1, channels=1, default_op="channel",
                   op_options={"channel": {"kernel_size": 2}})
    net = gw.compile(gw.generators.layered([2, 2]), in_channels=3, channels=1, default_op="channel", dims=1)
    assert net.nodes["0"].stem.shape == (1, 3, 3) and net.nodes["0"].weight.shape == (1, 1, 3)
    assert net(torch.randn(2, 3, 10)).shape == (2, 2, 10)


# ------------------------------------------------------------------ the dnw wiring
def test_topk_selects_exactly_k_edges_by_count_and_fraction():
    torch.manual_seed(0)
    net = _net((3, 4, 4, 2), k=7)
    E = len(net.plan.edges)
    w = net.wiring
    assert int(w.mask.sum()) == 7 and w.k == 7
    assert set(w.mask.nonzero().flatten().tolist()) == _topk_ids(w.weight, 7)
    for frac in (0.1, 0.5, 1.0):
        n = _net((3, 4, 4, 2), k=frac).wiring
        assert int(n.active_mask().sum()) == n.k == max(1, math.ceil(frac * E - 1e-9))
    # per-group budgets on a chain of channel graphs; structural edges are always active
    G = D.channel_chain([(2, 3, 1, 1), (3, 4, 2, 2)])
    net = gw.compile(G, in_channels=3, channels=1, default_op="channel", wiring="dnw", k={0: 2, 1: 0.25},
                     group_by="stage")
    assert net.wiring.budgets == {0: 2, 1: math.ceil(0.25 * 40)}
    stage = [G.edges[e].get("stage") for e in net.plan.edges]
    act = net.wiring.active_mask()
    assert sum(1 for s, a in zip(stage, act) if s == 0 and a) == 2
    assert sum(1 for s, a in zip(stage, act) if s == 1 and a) == 10
    assert all(a for s, a in zip(stage, act) if s is None)


def test_straight_through_gradient_is_the_inner_product_float64():
    """dL/dw_uv = <Z_u, g_v> for every edge, used or not (g_v = dL/dI_v, I_v = v's aggregated input)."""
    torch.manual_seed(1)
    net = _net((3, 4, 3), k=8, executor="reference").double()
    randomise_batchnorm(net, 1)
    seen = record_nodes(net)
    x = torch.randn(4, 1, 5, 5, dtype=torch.float64)
    y = net(x)
    ins, outs = {k: v[0] for k, v in seen.items()}, {k: v[1] for k, v in seen.items()}
    loss = (y * torch.linspace(-1, 1, y.numel(), dtype=torch.float64).reshape(y.shape)).sum()
    keys = sorted((k for k in ins if net.graph.in_degree(int(k)) > 0), key=int)  # x needs no gradient
    gs = dict(zip(keys, torch.autograd.grad(loss, [ins[k] for k in keys], retain_graph=True)))
    loss.backward()
    act = net.wiring.active_mask()
    ids = net.plan.edge_ids()
    G = net.graph
    alive = {}
    for n in gw.graph.topological_order(G):  # closed nodes output exactly 0
        alive[n] = G.in_degree(n) == 0 or any(act[ids[(u, n)]] and alive[u] for u in G.predecessors(n))
    grad = net.wiring.weight.grad
    unused_nonzero = 0
    for (u, v), e in ids.items():
        z_u = outs[str(u)] * float(alive[u])
        expect = (z_u * gs[str(v)]).sum().detach()
        torch.testing.assert_close(grad[e], expect, atol=1e-10, rtol=1e-8)
        if not act[e] and abs(float(expect)) > 1e-8:
            unused_nonzero += 1
    assert unused_nonzero > 0  # the gradient flows to unused edges


def test_gradcheck_active_edges_and_input():
    torch.manual_seed(2)
    net = _net((2, 3, 2), k=5).double().eval()
    randomise_batchnorm(net, 2)
    ids = net.wiring.active_mask().nonzero().flatten()
    w0 = net.wiring.weight.detach().clone()

    def f(x, wa):
        w = w0.index_put((ids,), wa)
        return torch.func.functional_call(net, {"wiring.weight": w}, (x,))

    x = torch.randn(2, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (x, w0[ids].clone().requires_grad_()))
    # the straight-through rule is not the true derivative for an unused edge (which is 0)
    net.train()
    out = net(x.detach())
    out.sum().backward()
    unused = (~net.wiring.active_mask()).nonzero().flatten()
    assert net.wiring.weight.grad[unused].abs().sum() > 0


def test_refresh_every_m_steps():
    torch.manual_seed(3)
    net = _net((3, 5, 5, 2), k=6, refresh=3).train()
    w = net.wiring
    x = torch.randn(2, 1, 5, 5)
    prev = None
    for step in range(7):
        with torch.no_grad():
            w.weight.copy_(torch.randn_like(w.weight))
        net(x)
        got = set(w.mask.nonzero().flatten().tolist())
        if step % 3 == 0:
            assert got == _topk_ids(w.weight, 6)
        else:
            assert got == prev
        prev = got
        assert int(w.steps) == step + 1
    net.eval()  # evaluation uses the last selection: the wiring the network trained with
    with torch.no_grad():
        w.weight.copy_(torch.randn_like(w.weight))
    assert set(w.coefficients().nonzero().flatten().tolist()) == prev
    assert set(net.wiring.update_mask().nonzero().flatten().tolist()) == _topk_ids(w.weight, 6)
    assert {"wiring.steps", "wiring.mask"} <= set(net.state_dict())  # saved with the model


@pytest.mark.slow
def test_refresh_under_torch_compile_does_not_recompile():
    torch.manual_seed(4)
    net = _net((3, 4, 4, 2), k=10, refresh=2).train()
    x = torch.randn(2, 1, 6, 6)
    net(x)  # fills the net's caches eagerly
    with torch.no_grad():
        net.wiring.steps.zero_()
    count = {"n": 0}

    def backend(gm, inputs):
        count["n"] += 1
        return gm.forward

    torch._dynamo.reset()
    c = torch.compile(net, backend=backend, fullgraph=True)
    prev = None
    for step in range(5):
        with torch.no_grad():
            net.wiring.weight.copy_(torch.randn_like(net.wiring.weight))
        c(x).sum().backward()
        got = set(net.wiring.mask.nonzero().flatten().tolist())
        assert got == (_topk_ids(net.wiring.weight, 10) if step % 2 == 0 else prev)
        prev = got
    assert count["n"] == 1 and int(net.wiring.steps) == 5
    torch._dynamo.reset()


def test_batched_equals_reference_for_dnw():
    for seed in range(8):
        torch.manual_seed(seed)
        r = random.Random(seed)
        sizes = [r.randint(1, 4) for _ in range(r.randint(2, 4))]
        G = gw.generators.layered(sizes, density=r.choice([0.6, 1.0]), seed=seed)
        cin = r.choice([1, 2])
        net = gw.compile(G, in_channels=cin, channels=1, default_op="channel", wiring="dnw",
                         k=r.choice([0.3, 0.6, 1.0]), refresh=r.choice([1, 2]), dims=r.choice([1, 2]))
        randomise_batchnorm(net, seed)
        x = torch.randn((3, cin, 6) + ((6,) if net.plan.dims == 2 else ()))
        compare_executors(net, x)
    G = D.channel_chain([(2, 3, 1, 1), (3, 4, 2, 2)])  # chained graphs, concat output, structural edges
    net = gw.compile(G, in_channels=3, channels=1, default_op="channel", wiring="dnw", k={0: 3, 1: 12},
                     group_by="stage")
    randomise_batchnorm(net, 9)
    compare_executors(net, torch.randn(3, 3, 6, 6))


def test_write_back_attributes():
    torch.manual_seed(5)
    G = D.channel_chain([(2, 3, 1, 1), (3, 4, 2, 2)])
    net = gw.compile(G, in_channels=3, channels=1, default_op="channel", wiring="dnw", k={0: 3, 1: 12},
                     group_by="stage")
    H = net.write_back()
    gw.validate(H)
    wts = net.wiring.weight.detach()
    act = net.wiring.active_mask()
    for e, (u, v) in enumerate(net.plan.edges):
        d = H.edges[u, v]
        if "stage" not in d:  # structural: coefficient 1, always active
            assert d["weight"] == 1.0 and d["active"] is True
            continue
        assert d["active"] is bool(act[e])
        assert d["magnitude"] == pytest.approx(abs(float(wts[e])))
        assert d["weight"] == pytest.approx(float(wts[e]) if d["active"] else 0.0)
    assert sum(1 for *_, d in H.edges(data=True) if d["active"] and "stage" in d) == 15
    assert H.graph["graphwire"]["wiring"] == "dnw"


def _train_a_little(model, x, y, steps=3):
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    model.train()
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y) if y is not None else model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_pruned_static_recompile_equals_dnw_eval():
    torch.manual_seed(6)
    G = gw.generators.layered([4, 6, 6, 3])
    net = gw.compile(G, in_channels=1, channels=1, default_op="channel", wiring="dnw", k=14)
    randomise_batchnorm(net, 6)
    x = torch.randn(8, 1, 6, 6)
    _train_a_little(net, x, None)
    net.eval()
    pruned = gw.prune(net.write_back(), attr="active")
    for n in pruned:  # channel nodes without inputs or outputs are gone
        assert pruned.in_degree(n) > 0 or pruned.nodes[n]["role"] == "input"
        assert pruned.out_degree(n) > 0 or pruned.nodes[n]["role"] == "output"
    assert pruned.number_of_edges() <= 14
    child = gw.compile(pruned, in_channels=1, channels=1, default_op="channel", wiring="static", init_from=net).eval()
    assert not child.init_report["skipped"]
    with torch.no_grad():
        yp, yc = net(x), child(x)
    kept, off = [], 0
    for p in net.plan.outputs:
        nd = net.plan.nodes[p]
        if pruned.has_node(nd.label):
            kept.append(yp[:, off:off + 1])
        else:
            assert torch.all(yp[:, off:off + 1] == 0)
        off += 1
    torch.testing.assert_close(yc, torch.cat(kept, 1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("which", ["mobilenet", "tiny"])
def test_classifier_recompile_equals_dnw_eval(which):
    torch.manual_seed(7)
    if which == "mobilenet":
        model = gw.models.dnw_mobilenet_v1(num_classes=10, stages=[(4, 6, 1, 1), (6, 8, 2, 2)], width_mult=0.5)
        x = torch.randn(8, 3, 8, 8)
    else:
        model = gw.models.dnw_tiny(num_classes=10, in_channels=1, dims=1, sizes=(4, 6, 6), features=4, k=25)
        x = torch.randn(8, 1, 16)
    y = torch.randint(0, 10, (8,))
    _train_a_little(model, x, y)
    model.eval()
    pruned = gw.prune(model.write_back(), attr="active")
    small = model.recompile(pruned).eval()
    assert small.wired.wiring.name == "static"
    with torch.no_grad():
        torch.testing.assert_close(small(x), model(x), atol=1e-5, rtol=1e-5)
    assert small.wired.plan.nodes[small.wired.plan.outputs[0]].in_ch <= model.wired.out_channels


# ------------------------------------------------------------------ sparse layers
def test_dnw_layers_exact_sparsity_and_gradients_to_pruned_weights():
    torch.manual_seed(8)
    for layer, x, fn in ((gw.nn.DNWConv2d(4, 6, 3, padding=1, prune_rate=0.7), torch.randn(2, 4, 5, 5),
                          lambda inp, w, b: F.conv2d(inp, w, b, 1, 1)),
                         (gw.nn.DNWLinear(10, 7, prune_rate=0.35), torch.randn(3, 10), F.linear)):
        w_eff = layer.sparse_weight()
        n = layer.weight.numel()
        assert int((w_eff == 0).sum()) == int(layer.prune_rate * n) and layer.kept == n - int(layer.prune_rate * n)
        kept = w_eff != 0
        assert torch.equal(w_eff[kept], layer.weight[kept])
        assert set(torch.nonzero(kept.flatten()).flatten().tolist()) == _topk_ids(layer.weight.flatten(), layer.kept)
        y = layer(x)
        g = torch.randn_like(y)
        (y * g).sum().backward()
        dense = w_eff.detach().clone().requires_grad_(True)
        (fn(x, dense, layer.bias) * g).sum().backward()
        torch.testing.assert_close(layer.weight.grad, dense.grad)  # pruned weights get the gradient too
        assert layer.weight.grad[~kept].abs().sum() > 0


def test_sparsify_swaps_layers_copies_weights_and_keeps_first_dense():
    torch.manual_seed(9)
    inner = nn.Sequential(nn.Conv2d(6, 6, 3, padding=1, groups=2, bias=False), nn.ReLU())
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), inner, nn.Flatten(), nn.Linear(6 * 16, 5))
    model.eval()
    x = torch.randn(2, 3, 4, 4)
    before = model(x)
    weights = [model[0].weight.clone(), inner[0].weight.clone(), model[4].weight.clone()]
    out = gw.nn.sparsify(model, 0.0, keep_first_dense=True)
    assert out is model
    assert type(model[0]) is nn.Conv2d
    assert isinstance(inner[0], gw.nn.DNWConv2d) and inner[0].groups == 2 and inner[0].bias is None
    assert isinstance(model[4], gw.nn.DNWLinear)
    for w, m in zip(weights, (model[0], inner[0], model[4])):
        assert torch.equal(w, m.weight)
    torch.testing.assert_close(model(x), before)  # prune_rate 0: the same function
    gw.nn.sparsify(model, 0.5)  # everything, the first layer too; DNW layers get the new rate
    assert isinstance(model[0], gw.nn.DNWConv2d) and inner[0].prune_rate == 0.5
    assert int((model[4].sparse_weight() == 0).sum()) == model[4].weight.numel() // 2
    for bad in (1.0, -0.1, "0.5", True):
        with pytest.raises(ParameterError, match="prune_rate"):
            gw.nn.sparsify(model, bad)
    with pytest.raises(ParameterError, match="prune_rate"):
        gw.nn.DNWLinear(3, 3, prune_rate=1.5)


# ------------------------------------------------------------------ models
def test_mobilenet_budgets_and_node_counts():
    assert D.mobilenet_v1_budgets(0.225) == [103, 1244, 4976, 72990, 79626]
    sizes = D.chain_sizes(D.MOBILENET_V1_STAGES)
    assert sizes["stage_nodes"] == [96, 320, 640, 3328, 2560] and sizes["nodes"] == 6944
    assert sizes["distinct_nodes"] == 5984
    assert sizes["candidates"] == [2048, 32768, 131072, 4718592, 2097152]
    assert sizes["matrix"] == [2048, 49152, 196608, 8650752, 3145728]
    # the builder agrees with the counts (on a chain with the same shape, 16x narrower)
    small = [(a // 16, b // 16, s, n) for a, b, s, n in D.MOBILENET_V1_STAGES]
    G = D.channel_chain(small)
    s = D.chain_sizes(small)
    assert G.number_of_nodes() == s["distinct_nodes"] + 2
    for i, cand in enumerate(s["candidates"]):
        assert sum(1 for *_, d in G.edges(data=True) if d.get("stage") == i) == cand
    blocks = {}
    for n, d in G.nodes(data=True):
        if "block" in d:
            blocks.setdefault(d["block"], []).append(n)
    assert len(blocks) == 1 + sum(n for *_, n in small)  # 14 blocks: depth is the number of sub-layers
    strides = sorted({G.nodes[n].get("stride", 1) for n in blocks[1]} | {G.nodes[n].get("stride", 1) for n in blocks[3]})
    assert strides == [2]  # each chained graph's input block strides
    model = gw.models.dnw_mobilenet_v1(num_classes=10, stages=small, width_mult=0.225)
    assert model.budgets == D.mobilenet_v1_budgets(0.225, small)
    assert model.wired.wiring.budgets == dict(enumerate(model.budgets))
    assert len(model.wired.plan.steps) == len(blocks) + 2
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_dnw_tiny_structure():
    G = D.tiny_graph()
    channel = [n for n, d in G.nodes(data=True) if "block" in d]
    assert channel == list(range(1, 801))
    assert [sum(1 for n in channel if G.nodes[n]["block"] == b) for b in range(5)] == [32, 192, 192, 192, 192]
    feats = [n for n in channel if G.nodes[n]["op"] == "identity"]
    assert feats == list(range(701, 801))
    assert sorted(G.predecessors(801)) == feats and G.nodes[801]["agg"] == "concat"
    assert sum(1 for *_, d in G.edges(data=True) if "stage" in d) == 254960
    model = gw.models.dnw_tiny()
    assert model.wired.wiring.k == 32000 and model.wired.out_channels == 100
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_random_edges_baseline():
    G = D.tiny_graph((4, 6, 6), features=3)
    R = D.random_edges(G, 12, seed=1)
    assert sum(1 for *_, d in R.edges(data=True) if "stage" in d) <= 12
    assert set(R) <= set(G)
    gw.validate(R)
    assert D.random_edges(G, 12, seed=1).edges == R.edges


# ------------------------------------------------------------------ bad input
def test_bad_options_raise_clear_errors():
    G = gw.generators.layered([2, 3, 2])
    E = G.number_of_edges()

    def comp(**opts):
        return gw.compile(G, in_channels=1, channels=1, default_op="channel", wiring="dnw", **opts)

    for k in (0, E + 1, -3):
        with pytest.raises(WiringError, match=rf"k={k} is out of range: give a count 1..{E}"):
            comp(k=k)
    for k in (1.5, 0.0, -0.2, float("nan")):
        with pytest.raises(WiringError, match="out of range"):
            comp(k=k)
    for k in ("5", True, None):
        with pytest.raises(WiringError, match="edge count"):
            comp(k=k)
    with pytest.raises(WiringError, match=r"no option 'topk'.*'k'"):
        comp(topk=3)
    with pytest.raises(WiringError, match="refresh"):
        comp(refresh=0)
    with pytest.raises(WiringError, match="no edge has the attribute 'stage'"):
        comp(group_by="stage")
    with pytest.raises(WiringError, match="needs group_by"):
        comp(k={0: 1})
    C = D.channel_chain([(2, 3, 1, 1), (3, 4, 2, 2)])
    with pytest.raises(WiringError, match="missing \\[1\\]"):
        gw.compile(C, in_channels=3, channels=1, default_op="channel", wiring="dnw", k={0: 2}, group_by="stage")
    with pytest.raises(ParameterError, match="width"):
        D.mobilenet_v1_budgets(1.5)
    with pytest.raises(ParameterError, match="stages\\[1\\] starts with 4"):
        D.channel_chain([(2, 3, 1, 1), (4, 4, 2, 2)])


# ------------------------------------------------------------------ fast planning of interval graphs
def _same_plan(a, b):
    assert a.edges == b.edges and a.outputs == b.outputs and len(a.nodes) == len(b.nodes)
    for x, y in zip(a.nodes, b.nodes):
        assert vars(x) == vars(y)
    assert len(a.steps) == len(b.steps)
    for x, y in zip(a.steps, b.steps):
        for f in ("index", "nodes", "op", "agg", "in_ch", "out_ch", "stride", "gen", "is_input", "gather_steps",
                  "k"):
            assert getattr(x, f) == getattr(y, f), f
        for f in ("gather_index", "gather_edges"):
            tx, ty = getattr(x, f), getattr(y, f)
            assert (tx is None and ty is None) or np.array_equal(tx, ty)
        assert [(s.step, s.single) for s in x.sources] == [(s.step, s.single) for s in y.sources]
        assert all(np.array_equal(s.edge_index, t.edge_index) for s, t in zip(x.sources, y.sources))


def _planned(G, planner, **kw):
    from graphwire.compiler.planners import build_plan

    return build_plan(G, output_op="identity", planner=planner, **kw)[0]


def test_one_planner_interval_and_general_paths_agree():
    """build_plan tries the interval planner and falls back to the general one; on interval graphs
    both give the same plan, edge order and state dict."""
    kw = dict(in_channels=3, channels=1, default_op="channel", dims=2)
    graphs = [gw.generators.layered([3, 4, 4, 2]), gw.generators.layered([2, 3, 3, 2], max_skip=1),
              D.channel_chain([(2, 3, 1, 1), (3, 4, 2, 2)]), D.tiny_graph((4, 6, 6), 3),
              gw.generators.chain(3)]
    for G in graphs:
        general, interval = _planned(G, "general", **kw), _planned(G, "interval", **kw)
        assert general.planner == "general" and interval.planner == "interval"
        _same_plan(general, interval)
        assert _planned(G, "auto", **kw).planner == "interval"
        opts = {"k": 0.5, "group_by": "stage"} if any("stage" in d for *_, d in G.edges(data=True)) else {"k": 0.5}
        torch.manual_seed(0)
        net = gw.compile(G, wiring="dnw", **kw, **opts)
        assert net.plan.planner == "interval"
        ref = net.state_dict()
        twin = gw.compile(G, wiring="dnw", **kw, **opts)
        twin.load_state_dict(ref)  # interchangeable state dicts
        x = torch.randn(2, 3, 6, 6)
        torch.testing.assert_close(twin.eval()(x), net.eval()(x))
    # a random graph that happens to be an interval graph takes the interval path, with the same plan
    lucky = next(G for s in range(200) for G in [gw.generators.erdos_renyi(4, 0.6, seed=s)]
                 if _interval_ok(G))
    _same_plan(_planned(lucky, "general", in_channels=3, channels=4, default_op="conv"),
               _planned(lucky, "interval", in_channels=3, channels=4, default_op="conv"))


def _interval_ok(G):
    return _planned(G, "auto", in_channels=3, channels=4, default_op="conv").planner == "interval"


def test_interval_planner_declines_what_it_cannot_plan():
    kw = dict(in_channels=3, channels=1, default_op="channel", dims=2)
    # not interval graphs (or invalid ones): the general planner does the work, and raises its own errors
    for G in (gw.generators.watts_strogatz(8, 4, 0.5, seed=1), gw.generators.layered([3, 4, 2], density=0.5, seed=2)):
        assert _planned(G, "auto", **kw).planner == "general"
        assert gw.compile(G, **kw).plan.planner == "general"
        with pytest.raises(gw.errors.ParameterError, match="planner='interval'"):
            _planned(G, "interval", **kw)
    bad = gw.generators.layered([2, 2])
    bad.edges[0, 2]["weight"] = float("nan")
    with pytest.raises(gw.errors.AttributeValueError, match="weight"):
        gw.compile(bad, **kw)
    dead = gw.generators.layered([2, 2, 2])
    dead.add_node(6, role="hidden")
    with pytest.raises(gw.errors.DeadNodeError):
        gw.compile(dead, **kw)


# ------------------------------------------------------------------ the reference code's settings as options
def _ref_net(sizes=(2, 4, 4, 2), k=6, norm="batch", dims=2, **opts):
    G = gw.generators.layered(list(sizes))
    return gw.compile(G, in_channels=1, channels=1, default_op="channel", wiring="dnw", k=k, dims=dims,
                      op_options={"channel": {"norm": norm}}, **opts)


@pytest.mark.parametrize("dims", [1, 2])
def test_instance_norm_channel_node_is_per_sample_and_same_in_train_and_eval(dims):
    torch.manual_seed(0)
    node = gw.ops.channel.ChannelNode(1, dims=dims, norm="instance")
    with torch.no_grad():
        node.norm.weight.fill_(1.7)
        node.norm.bias.fill_(-0.3)
    assert not hasattr(node, "bn") and not list(node.buffers())  # no running statistics
    x = torch.randn((3, 1, 7) + ((7,) if dims == 2 else ())) * 4 + 2
    conv = F.conv1d if dims == 1 else F.conv2d
    axes = tuple(range(2, x.dim()))
    h = (x - x.mean(axes, keepdim=True)) / torch.sqrt(x.var(axes, unbiased=False, keepdim=True) + 1e-5)
    expected = conv(F.relu(h * 1.7 - 0.3), node.weight, None, 1, 1)
    torch.testing.assert_close(node.train()(x), expected)
    torch.testing.assert_close(node.eval()(x), expected)
    torch.testing.assert_close(node(x[1:2]), expected[1:2])  # a sample's output ignores the rest of the batch

    net = _ref_net(norm="instance", dims=dims, k=10)
    x = torch.randn((4, 1, 6) + ((6,) if dims == 2 else ()))
    y_train = net.train()(x)
    y_eval = net.eval()(x)
    torch.testing.assert_close(y_train, y_eval)  # the wiring's mask is the same selection, the norm the same
    torch.testing.assert_close(net(x[:2]), y_eval[:2])
    assert not any("running" in k for k in net.state_dict())
    compare_executors(net, x)


def _closed_node_net(closed_nodes):
    """A net whose node 3 (block 1) has only inactive in-edges and one active out-edge."""
    torch.manual_seed(1)
    net = _ref_net(sizes=(2, 2, 2), k=3, closed_nodes=closed_nodes)
    w = net.wiring
    ids = net.plan.edge_ids()
    with torch.no_grad():
        w.weight.fill_(0.01)
        for e in [(0, 2), (2, 4), (3, 5)]:  # node 3's in-edges (0,3), (1,3) stay small: inactive
            w.weight[ids[e]] = 1.0 + ids[e] / 10
        w.update_mask()
        net.nodes["3"].bn.bias.fill_(0.5)  # relu(beta) > 0: at beta <= 0 no gradient passes the ReLU
    assert [e for e, i in ids.items() if w.mask[i] > 0] == [(0, 2), (2, 4), (3, 5)]
    return net, ids


@pytest.mark.parametrize("executor", ["batched", "reference"])
def test_closed_nodes_run_mode_gives_inactive_in_edges_a_gradient(executor):
    for mode in ("zero", "run"):
        net, ids = _closed_node_net(mode)
        net.executor = executor
        net.train()
        outs = {}
        if executor == "reference":
            net.nodes["3"].register_forward_hook(lambda m, i, o, outs=outs: outs.setdefault("3", o))
        y = net(torch.randn(4, 1, 5, 5))
        (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
        g = net.wiring.weight.grad
        closed_in = torch.stack([g[ids[(0, 3)]], g[ids[(1, 3)]]])
        if mode == "zero":
            assert net.wiring.may_close
            assert torch.equal(closed_in, torch.zeros(2))  # a closed node outputs 0: nothing flows back
        else:
            assert not net.wiring.may_close
            assert bool((closed_in != 0).all())  # the reference: its norm still runs, its in-edges learn
            if executor == "reference":  # closed node 3 emits conv(relu(beta)) of its BatchNorm's bias
                m = net.nodes["3"]
                const = F.relu(m.bn.bias).reshape(1, 1, 1, 1).expand(4, 1, 5, 5)
                torch.testing.assert_close(outs["3"], F.conv2d(const, m.weight, None, 1, 1))
    net, _ = _closed_node_net("run")
    randomise_batchnorm(net, 3)
    compare_executors(net, torch.randn(3, 1, 5, 5))


def test_centre_pool_is_the_reference_slice_and_avgpool():
    x = torch.randn(3, 5, 8, 8)
    half = 8 // 2 - 1  # the reference head: AvgPool2d(2) of x[..., half-1:half+2, half-1:half+2]
    ref = F.avg_pool2d(x[:, :, half - 1:half + 2, half - 1:half + 2], 2).flatten(1)
    pool = D.CentrePool(2)
    torch.testing.assert_close(pool(x), ref)
    torch.testing.assert_close(pool(x), x[:, :, 2:4, 2:4].mean((2, 3)))
    s = torch.randn(2, 4, 10)
    torch.testing.assert_close(D.CentrePool(1)(s), s[:, :, 3:5].mean(2))
    with pytest.raises(ShapeError, match="at least 4"):
        pool(torch.randn(1, 2, 3, 3))

    torch.manual_seed(0)
    G = D.tiny_graph((4, 6, 6), features=3)
    model = gw.models.dnw_tiny(num_classes=10, in_channels=1, graph=G, k=20, pool="centre").eval()
    x = torch.randn(2, 1, 32, 32)
    feats = model.wired(model.stem(x))  # [2, 3, 8, 8]
    lin = model.head[-1]
    torch.testing.assert_close(model(x), lin(feats[:, :, 2:4, 2:4].mean((2, 3))))
    small = model.recompile(gw.prune(model.write_back(), attr="active"))
    torch.testing.assert_close(small.eval()(x), model(x), atol=1e-5, rtol=1e-5)


def test_k_over_dense_ranks_the_whole_matrix():
    torch.manual_seed(0)
    sizes = (3, 4, 4, 2)
    G = gw.generators.layered(list(sizes))
    n, E = sum(sizes), G.number_of_edges()
    net = gw.compile(G, in_channels=1, channels=1, default_op="channel", wiring="dnw", k=0.25, k_over="dense")
    w = net.wiring
    k = math.ceil(0.25 * n * n)
    assert w.k == k and w.unread.numel() == n * n - E
    assert w.weight.detach().abs().max() <= 1 / math.sqrt(n) and w.unread.detach().abs().max() <= 1 / math.sqrt(n)
    net.train()(torch.randn(2, 1, 5, 5)).sum().backward()
    ranked = torch.cat([w.weight.detach().abs(), w.unread.detach().abs()])
    top = set(torch.topk(ranked, k).indices.tolist())
    assert set(torch.nonzero(w.mask).flatten().tolist()) == {i for i in top if i < E}
    real, budget = w.selected_edges()[None]
    assert budget == k and real == sum(1 for i in top if i < E) < k
    assert torch.equal(w.unread.grad, torch.zeros_like(w.unread))  # zero, not None: weight decay still applies
    opt = torch.optim.SGD(w.parameters(), lr=0.5, weight_decay=0.1)
    before = w.unread.detach().clone()
    opt.step()
    torch.testing.assert_close(w.unread.detach(), before * (1 - 0.05))
    assert gw.compile(G, in_channels=1, channels=1, default_op="channel", wiring="dnw", k=n * n,
                      k_over="dense").wiring.selected_edges()[None] == (E, n * n)
    with pytest.raises(WiringError, match=rf"k={n * n + 1} is out of range: give a count 1..{n * n}"):
        gw.compile(G, in_channels=1, channels=1, default_op="channel", wiring="dnw", k=n * n + 1, k_over="dense")
    torch.manual_seed(2)
    net = gw.compile(G, in_channels=1, channels=1, default_op="channel", wiring="dnw", k=0.3, k_over="dense")
    randomise_batchnorm(net, 2)
    compare_executors(net, torch.randn(3, 1, 5, 5))


def test_eval_mask_current_reselects_in_evaluation():
    for mode, expect_new in (("last", False), ("current", True)):
        torch.manual_seed(0)
        net = _net((2, 3, 2), k=4, eval_mask=mode)
        w = net.wiring
        net.train()(torch.randn(2, 1, 5, 5))
        old = w.mask.clone()
        with torch.no_grad():  # an optimizer step that reorders the magnitudes
            w.weight.copy_(w.weight.flip(0))
        net.eval()(torch.randn(2, 1, 5, 5))
        new = torch.zeros_like(old).index_fill_(0, torch.topk(w.weight.detach().abs(), 4).indices, 1.0)
        assert not torch.equal(old, new)
        assert torch.equal(w.mask, new if expect_new else old)


def test_random_edges_over_the_dense_matrix():
    G = D.tiny_graph((4, 12, 12, 12, 12), features=4)
    E = sum(1 for *_, d in G.edges(data=True) if "stage" in d)
    n = 52  # every node but the input and the output
    kept = []
    for seed in range(4):
        R = D.random_edges(G, 0.5, seed=seed, k_over="dense")
        info = gw.graph.meta(R)["random_edges"]
        kept.append(info["edges_kept"])
        assert sum(1 for *_, d in R.edges(data=True) if "stage" in d) <= info["edges_kept"]
        gw.validate(R)
    expected = math.ceil(0.5 * n * n) * E / (n * n)  # hypergeometric mean, sd ~ 13
    assert abs(sum(kept) / 4 - expected) < 25 and len(set(kept)) > 1
    full = D.random_edges(G, n * n, k_over="dense")
    assert gw.graph.meta(full)["random_edges"]["edges_kept"] == E


def test_reference_options_reject_bad_values():
    G = gw.generators.layered([2, 3, 2])

    def comp(op_options=None, **opts):
        return gw.compile(G, in_channels=1, channels=1, default_op="channel", wiring="dnw", k=3,
                          op_options=op_options, **opts)

    with pytest.raises(ParameterError, match="norm must be one of 'batch', 'instance', got 'layer'"):
        comp({"channel": {"norm": "layer"}})
    for name, allowed in (("k_over", "'edges', 'dense'"), ("closed_nodes", "'zero', 'run'"),
                          ("eval_mask", "'last', 'current'")):
        for bad in ("other", None, 1):
            with pytest.raises(WiringError, match=f"{name} must be one of {allowed}, got {bad!r}"):
                comp(**{name: bad})
    T = D.tiny_graph((2, 3, 3), features=2)
    with pytest.raises(ParameterError, match="pool must be one of 'mean', 'centre', got 'max'"):
        gw.models.dnw_tiny(num_classes=10, in_channels=1, graph=T, k=4, pool="max")
    with pytest.raises(ParameterError, match="norm must be one of"):
        gw.models.dnw_tiny(num_classes=10, in_channels=1, graph=T, k=4, norm="group")
    with pytest.raises(ParameterError, match="k_over must be one of 'edges', 'dense'"):
        D.random_edges(T, 4, k_over="all")
    with pytest.raises(ParameterError, match="use_every_node=True needs k_over='edges'"):
        D.random_edges(T, 4, k_over="dense", use_every_node=True)
