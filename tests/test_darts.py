"""DARTS: the cell encoding, the mixed op, bilevel (first/second order) updates, derive, fixes."""

import math

import networkx as nx
import pytest
import torch
import torch.nn.functional as F

import graphwire as gw
from graphwire import models, train
from graphwire.errors import ParameterError, WiringError
from graphwire.generators.darts_cell import DARTS_OPS, find_connections

from _graphs import compare_executors

SMALL_OPS = ["none", "max_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3"]


def _spread(net, seed, scale=1.5):
    """Spread the architecture parameters and give BatchNorms non-trivial running statistics."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.wiring.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)


# ------------------------------------------------------------------ the cell
def test_cell_has_the_darts_structure():
    G = gw.generators.darts_cell(4)
    conns = find_connections(list(G.edges), [G.edges[e] for e in G.edges])
    assert len(conns) == 14 and all(len(c.op_edges) == 7 for c in conns)  # 2+3+4+5 connections, 'none' has no node
    out = [n for n, d in G.nodes(data=True) if d.get("role") == "output"]
    ins = [n for n, d in G.nodes(data=True) if d.get("role") == "input"]
    assert ins == [0, 1] and len(out) == 1 and G.nodes[out[0]]["agg"] == "concat"
    states = sorted(G.predecessors(out[0]))
    assert len(states) == 4
    for k, s in enumerate(states):  # state k+2 sums one mixed op from each of the k+2 earlier states
        assert sorted({c.source for c in conns if c.target == s}) == (ins + states)[: k + 2]
    assert list(G.nodes) == sorted(G.nodes) and all(u < v for u, v in G.edges)  # topological labels
    net = gw.compile(G, in_channels=3, wiring="darts")
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 64, 8, 8)
    assert net.wiring.alpha.shape == (14, 8)


def test_cell_round_trips_through_json():
    for G in (gw.generators.darts_cell(3, ops=SMALL_OPS, channels=4),
              gw.generators.darts_cell(2, ops=SMALL_OPS, channels=4, partial_channels=2),
              gw.generators.darts_cell(2, ops=SMALL_OPS, channels=4, reduction=True)):
        H = gw.io.loads(gw.io.to_json(G))
        assert nx.utils.graphs_equal(G, H)
        assert [d for *_, d in H.edges(data=True)] == [d for *_, d in G.edges(data=True)]
        nets = []
        for graph in (G, H):
            torch.manual_seed(0)
            nets.append(gw.compile(graph, in_channels=4, wiring="darts").eval())
        x = torch.randn(2, 4, 8, 8)
        torch.testing.assert_close(nets[0](x), nets[1](x))
    # a written-back cell round-trips too (op_weights are plain dicts)
    net = gw.compile(gw.generators.darts_cell(2, ops=SMALL_OPS, channels=4), in_channels=4, wiring="darts")
    learned = net.write_back()
    assert nx.utils.graphs_equal(learned, gw.io.loads(gw.io.to_json(learned)))


@pytest.mark.parametrize("kind", ["normal", "reduce", "partial", "sigmoid"])
def test_batched_equals_reference(kind):
    torch.manual_seed(1)
    kw = {"reduce": dict(reduction=True), "partial": dict(partial_channels=2)}.get(kind, {})
    G = gw.generators.darts_cell(3, ops=DARTS_OPS, channels=4, **kw)
    opts = {"partial": dict(edge_norm=True), "sigmoid": dict(gate="sigmoid")}.get(kind, {})
    net = gw.compile(G, in_channels=3, wiring="darts", **opts)
    _spread(net, 3)
    compare_executors(net, torch.randn(3, 3, 8, 8) if kind != "reduce" else torch.randn(3, 3, 7, 7))


def test_mixed_op_is_the_softmax_weighted_sum():
    """State 2 of a one-node cell equals sum over connections of softmax(alpha) . op(x); 'none' adds 0."""
    torch.manual_seed(0)
    G = gw.generators.darts_cell(1, ops=SMALL_OPS, channels=4)
    net = gw.compile(G, in_channels=4, wiring="darts", executor="reference").eval()
    _spread(net, 0)
    x = torch.randn(2, 4, 6, 6)
    conns = find_connections(list(net.plan.edges), [G.edges[e] for e in net.plan.edges])
    expect = 0
    w = net.wiring.op_weights()
    for c in conns:
        k = net.wiring.keys.index(c.key)
        xin = net.nodes[str(c.source)](x)
        for op, e in c.op_edges.items():
            cand = net.plan.edges[e][0]
            expect = expect + w[k, SMALL_OPS.index(op)] * net.nodes[str(cand)](xin)
        assert 0.0 < float(w[k, 0].detach()) < 1.0  # 'none' has weight but no node
    torch.testing.assert_close(net(x), expect)
    for c in conns:  # softmax over the candidate list, 'none' included
        torch.testing.assert_close(w[net.wiring.keys.index(c.key)].sum(), torch.tensor(1.0))


# ------------------------------------------------------------------ bilevel updates
class _TanhConv(torch.nn.Module):
    """A smooth candidate op (3x3 conv, tanh): finite differences of a ReLU network's gradient are
    only as good as the kinks the step crosses, so the exactness check uses a smooth cell."""

    def __init__(self, cin, cout, stride=1, dims=2):
        super().__init__()
        self.conv = torch.nn.Conv2d(cin, cout, 3, stride, 1)

    def forward(self, x):
        return torch.tanh(self.conv(x))


gw.register_op("test_tanh_conv", _TanhConv, spatial=True, overwrite=True)


class _Pooled(torch.nn.Module):
    def __init__(self, wired, classes):
        super().__init__()
        self.wired, self.head = wired, torch.nn.Linear(wired.out_channels, classes)

    def forward(self, x):
        return self.head(self.wired(x).mean((2, 3)))


def _tiny_model(smooth=True):
    torch.manual_seed(0)
    if smooth:
        G = gw.generators.darts_cell(2, ops=["none", "skip_connect", "avg_pool_3x3", "test_tanh_conv"],
                                     channels=2, preprocess=False)
        model = _Pooled(gw.compile(G, in_channels=2, wiring="darts", executor="reference"), 3)
        cin = 2
    else:  # the real DARTS ops (ReLU everywhere)
        G = gw.generators.darts_cell(2, ops=["none", "skip_connect", "avg_pool_3x3", "sep_conv_3x3"], channels=2)
        model = models.wired_conv2d(G, in_channels=1, num_classes=3, channels=2, wiring="darts", op="identity", executor="reference")
        cin = 1
    model = model.double()
    with torch.no_grad():
        model.wired.wiring.alpha.normal_(0, 0.5)
    g = torch.Generator().manual_seed(1)
    tb = (torch.randn(6, cin, 4, 4, generator=g, dtype=torch.float64), torch.randint(0, 3, (6,), generator=g))
    vb = (torch.randn(6, cin, 4, 4, generator=g, dtype=torch.float64), torch.randint(0, 3, (6,), generator=g))
    return model, tb, vb


def _exact_hypergradient(model, tb, vb, xi):
    """d/dalpha L_val(w - xi * grad_w L_train(w, alpha), alpha), by double backward."""
    A, W = train.wiring_parameters(model), train.weight_parameters(model)
    names = {id(p): n for n, p in model.named_parameters()}

    def loss(params, batch):
        bufs = {n: b.clone() for n, b in model.named_buffers()}
        out = torch.func.functional_call(model, {**params, **bufs}, (batch[0],))
        return F.cross_entropy(out, batch[1])

    alpha = {names[id(p)]: p for p in A}
    w = {names[id(p)]: p for p in W}
    g = torch.autograd.grad(loss({**alpha, **w}, tb), list(w.values()), create_graph=True)
    w1 = {n: p - xi * gi for (n, p), gi in zip(w.items(), g)}
    return torch.autograd.grad(loss({**alpha, **w1}, vb), list(alpha.values()))


def _rel(a, b):
    return float((a - b).norm() / b.norm())


def test_second_order_hypergradient_matches_exact_double_backward():
    model, tb, vb = _tiny_model()
    model.train()
    xi = 0.05
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    approx = train.arch_gradient(model, tb, vb, order=2, xi=xi)  # DARTS' eps = 0.01 / ||v||
    for n, b in model.named_buffers():  # the virtual passes left the BatchNorm statistics alone
        torch.testing.assert_close(b, buffers[n], rtol=0, atol=0)
    exact = _exact_hypergradient(model, tb, vb, xi)
    assert _rel(approx[0], exact[0]) < 1e-3
    # the second-order term matters here: the first-order gradient is off by far more
    first = train.arch_gradient(model, tb, vb, order=1)
    assert _rel(first[0], exact[0]) > 1e-2


def test_second_order_hypergradient_with_relu_ops_needs_a_small_step():
    """With ReLU ops the central difference is exact only while the step crosses no kink: DARTS'
    eps = 0.01 / ||v|| can be far off on a tiny net, a smaller one matches."""
    model, tb, vb = _tiny_model(smooth=False)
    model.train()
    exact = _exact_hypergradient(model, tb, vb, 0.05)
    approx = train.arch_gradient(model, tb, vb, order=2, xi=0.05, eps=1e-5)
    assert _rel(approx[0], exact[0]) < 1e-3


def test_second_order_uses_momentum_and_weight_decay_of_the_weight_optimizer():
    model, tb, vb = _tiny_model()
    W = train.weight_parameters(model)
    opt = torch.optim.SGD(W, lr=0.05, momentum=0.9, weight_decay=3e-4)
    for p in W:
        opt.state[p]["momentum_buffer"] = torch.randn_like(p) * 0.1
    before = [p.detach().clone() for p in W]
    g_opt = train.arch_gradient(model, tb, vb, order=2, w_optimizer=opt)
    g_plain = train.arch_gradient(model, tb, vb, order=2, xi=0.05)
    for p, b in zip(W, before):
        torch.testing.assert_close(p, b, rtol=0, atol=0)  # weights restored exactly
    assert float((g_opt[0] - g_plain[0]).norm()) > 0


@pytest.mark.parametrize("order", [1, 2])
def test_bilevel_step_updates_alphas_on_val_and_weights_on_train(order):
    model, tb, vb = _tiny_model()
    w_opt, a_opt = train.darts_optimizers(model, w_lr=0.05, a_lr=0.01)
    alpha0 = model.wired.wiring.alpha.detach().clone()
    w0 = [p.detach().clone() for p in train.weight_parameters(model)]
    r = train.bilevel_step(model, tb, vb, w_optimizer=w_opt, a_optimizer=a_opt, order=order)
    assert math.isfinite(r["loss"])
    assert not torch.equal(alpha0, model.wired.wiring.alpha)
    assert any(not torch.equal(a, p) for a, p in zip(w0, train.weight_parameters(model)))
    # alphas are not in the weight optimizer and vice versa
    assert {id(p) for p in train.wiring_parameters(model)}.isdisjoint(
        {id(p) for g in w_opt.param_groups for p in g["params"]})
    with pytest.raises(ParameterError):
        train.arch_gradient(model, tb, vb, order=3)


# ------------------------------------------------------------------ derive
def _set_weights(net, table):
    """Set alphas so that softmax gives the probabilities in ``table[(src_state_index, dst_state_index)]``."""
    w = net.wiring
    with torch.no_grad():
        for k, key in enumerate(w.keys):
            probs = table.get((key[1], key[2]))
            if probs is not None:
                w.alpha[k, : len(probs)] = torch.log(torch.tensor(probs))


def test_derive_on_hand_made_alphas_including_none_largest():
    ops = ["none", "skip_connect", "avg_pool_3x3", "sep_conv_3x3"]
    G = gw.generators.darts_cell(2, ops=ops, channels=4)
    net = gw.compile(G, in_channels=4, wiring="darts")
    _set_weights(net, {
        (0, 2): [0.10, 0.60, 0.20, 0.10],   # skip strongest
        (1, 2): [0.70, 0.05, 0.10, 0.15],   # 'none' largest: ranked by sep_conv's 0.15, op sep_conv
        (0, 3): [0.10, 0.30, 0.35, 0.25],   # avg_pool
        (1, 3): [0.80, 0.04, 0.06, 0.10],   # 'none' largest and weakest real op: dropped from state 3
        (2, 3): [0.05, 0.05, 0.10, 0.80],   # sep_conv
    })
    learned = net.write_back()
    states = gw.graph.meta(G)["darts"]["states"]
    D = gw.derive(learned, top_k=2)
    geno = {(s, t): op for s, t, op in D.graph["graphwire"]["derived"]["genotype"]}
    assert geno == {(states[0], states[2]): "skip_connect", (states[1], states[2]): "sep_conv_3x3",
                    (states[0], states[3]): "avg_pool_3x3", (states[2], states[3]): "sep_conv_3x3"}
    # the written-back flags say the same
    active_ops = sorted(d["candidate"] for *_, d in learned.edges(data=True) if d.get("candidate") and d["active"])
    assert active_ops == sorted(geno.values())
    for *_, d in learned.edges(data=True):
        if "candidate" in d:
            assert abs(sum(d["op_weights"].values()) - 1) < 1e-6 and d["op"] != "none"
    # top-1: state 2 keeps skip (0.60 > 0.15), state 3 keeps sep_conv from 2 (0.80)
    D1 = gw.derive(learned, top_k=1)
    assert sorted(map(tuple, D1.graph["graphwire"]["derived"]["genotype"])) == sorted(
        [(states[0], states[2], "skip_connect"), (states[2], states[3], "sep_conv_3x3")])
    # the derived graph is plain: only states, the chosen ops and the output; no learned attributes
    assert D.number_of_nodes() == 2 + 2 + 4 + 1
    assert all(not ({"op_weights", "candidate", "weight"} & set(d)) for *_, d in D.edges(data=True))
    # passing the network works as well
    assert nx.utils.graphs_equal(gw.derive(net, top_k=2), D)


def test_derived_graph_compiles_and_trains_with_weights_carried_over():
    torch.manual_seed(0)
    G = gw.generators.darts_cell(2, ops=SMALL_OPS, channels=4)
    search = models.wired_conv2d(G, in_channels=1, num_classes=3, channels=4, wiring="darts", op="identity")
    D = gw.derive(search.write_back())
    small = search.recompile(D, wiring="static")  # same stem and head, ops carried by label
    assert not small.wired.init_report["skipped"]
    x, y = torch.randn(16, 1, 6, 6), torch.randint(0, 3, (16,))
    opt = torch.optim.SGD(small.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(15):
        loss = F.cross_entropy(small(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    gw.validate(gw.io.loads(gw.io.to_json(D)))


def test_fairdarts_sigmoid_gates_zero_one_loss_and_threshold():
    G = gw.generators.darts_cell(2, ops=["skip_connect", "avg_pool_3x3", "sep_conv_3x3"], channels=4)
    net = gw.compile(G, in_channels=4, wiring="darts", gate="sigmoid")
    with torch.no_grad():
        net.wiring.alpha.zero_()
    assert net.regularizer().item() == 0.0  # all gates at 0.5: the zero-one loss is 0 ...
    with torch.no_grad():
        net.wiring.alpha.fill_(3.0)
    s = torch.sigmoid(torch.tensor(3.0))
    torch.testing.assert_close(net.regularizer(), -10 * (s - 0.5) ** 2)  # ... and falls as gates leave 0.5
    with torch.no_grad():  # one strong op per connection; state 3's connection from 1 below 0.85
        net.wiring.alpha.fill_(-4.0)
        for k, key in enumerate(net.wiring.keys):
            net.wiring.alpha[k, 2] = 1.0 if key[1:] == (1, 3) else 4.0
    D = gw.derive(net.write_back(), top_k=3, threshold=0.85)
    geno = D.graph["graphwire"]["derived"]["genotype"]
    assert len(geno) == 4 and all(op == "sep_conv_3x3" for *_, op in geno)
    with pytest.raises(WiringError):
        gw.compile(G, in_channels=4, wiring="darts", gate="relu")


def test_partial_channels_with_edge_normalisation():
    torch.manual_seed(0)
    G = gw.generators.darts_cell(2, ops=SMALL_OPS, channels=8, partial_channels=4)
    cand = [n for n, d in G.nodes(data=True) if d.get("op") == "sep_conv_3x3"]
    assert all(G.nodes[n]["channels"] == 2 for n in cand)  # the mixed op runs on C/K channels
    net = gw.compile(G, in_channels=8, wiring="darts", edge_norm=True)
    assert net(torch.randn(2, 8, 6, 6)).shape == (2, 16, 6, 6)
    with torch.no_grad():  # make the connection 0 -> 3 dominate its state's edge normalisation
        for k, key in enumerate(net.wiring.keys):
            net.wiring.beta[k] = 5.0 if key[1:] == (0, 3) else 0.0
    learned = net.write_back()
    D = gw.derive(learned, top_k=1)
    (src, dst, op), = [g for g in D.graph["graphwire"]["derived"]["genotype"] if g[1] == max(g[1] for g in
                                                                              D.graph["graphwire"]["derived"]["genotype"])]
    assert src == 0
    assert all(D.nodes[n]["channels"] == 8 for n in D if D.nodes[n].get("op") not in ("identity", "relu_conv_bn_1x1"))
    small = gw.compile(D, in_channels=8)
    assert small(torch.randn(2, 8, 6, 6)).shape == (2, 16, 6, 6)


def test_search_net_stacks_cells_sharing_alphas_and_searches():
    torch.manual_seed(0)
    m = models.darts_search_net(in_channels=1, num_classes=3, n_nodes=2, channels=4, ops=SMALL_OPS, cells=2)
    assert m.wired.wiring.alpha.shape == (5, 5)  # 5 connections of one normal cell, shared by both cells
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 1, 6, 6, generator=g), torch.randint(0, 3, (32,), generator=g)
    loader = gw.data.loader(x, y, 16)
    h = train.search(m, loader, loader, 2, order=1, device="cpu", a_lr=0.01)
    assert len(h.epochs) == 2 and len(h.snapshots) == 3
    D = gw.derive(m.write_back())
    assert len(D.graph["graphwire"]["derived"]["genotype"]) == 2 * 4  # 2 cells x (2 + 2) kept connections
    assert m.recompile(D)(x).shape == (32, 3)


def test_bad_cells_are_refused():
    with pytest.raises(ParameterError):
        gw.generators.darts_cell(0)
    with pytest.raises(ParameterError):
        gw.generators.darts_cell(2, ops=["none"])
    with pytest.raises(ParameterError):
        gw.generators.darts_cell(2, channels=6, partial_channels=4)
    with pytest.raises(WiringError):  # no op edges
        gw.compile(gw.generators.chain(2), in_channels=3, channels=3, wiring="darts")
    with pytest.raises(gw.errors.AttributeValueError):  # nothing learned yet
        gw.derive(gw.generators.darts_cell(2, ops=SMALL_OPS))


@pytest.mark.gpu
def test_search_methods_run_on_cuda():
    dev = torch.device("cuda")
    model, tb, vb = _tiny_model(smooth=False)
    model = model.float().to(dev)
    tb = (tb[0].float().to(dev), tb[1].to(dev))
    vb = (vb[0].float().to(dev), vb[1].to(dev))
    w_opt, a_opt = train.darts_optimizers(model)
    assert math.isfinite(train.bilevel_step(model, tb, vb, w_optimizer=w_opt, a_optimizer=a_opt, order=2)["loss"])
    gw.derive(model.write_back())
    depth = models.LearntDepthNet(in_channels=2, num_classes=2, max_depth=3, channels=8, n_train=10).to(dev)
    x, y = torch.randn(10, 2, device=dev), torch.randint(0, 2, (10,), device=dev)
    depth.loss(x, y).backward()
    assert depth.prune(depth=2).predict_proba(x).device.type == "cuda"
    l0 = gw.compile(gw.generators.complete(3), in_channels=2, channels=4, dims=0, default_op="linear",
                    wiring="l0", lam=0.1).to(dev)
    (l0(x).sum() + l0.regularizer()).backward()
