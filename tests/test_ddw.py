"""DDW: per-sample routed coefficients, thresholds, node skipping, statistics, pruning, models."""

import pytest
import torch

import graphwire as gw
from graphwire.errors import ParameterError, WiringError
from graphwire.generators import ddw_resnet_graph
from graphwire.wiring import ddw
from graphwire.models import ddw_resnet

from _graphs import decorate, family_graph, randomise_batchnorm, record_nodes
from graphwire.compiler.module import step_key


def _spread_routers(net, seed, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for r in net.wiring.routers.values():
            r.fc.weight.copy_(torch.randn(r.fc.weight.shape, generator=g) * scale)
            r.fc.bias.copy_(torch.randn(r.fc.bias.shape, generator=g))
            r.tau.fill_(0.5)


def _mlp_stage(n=3, **opts):
    return gw.compile(gw.generators.complete(n), in_channels=3, channels=4, default_op="linear", dims=0,
                      wiring="ddw", **opts)


def test_bias_plus_three_opens_every_edge_at_init():
    net = gw.compile(gw.generators.complete(4), in_channels=3, channels=4, wiring="ddw").eval()
    with torch.no_grad():
        net(torch.randn(6, 3, 5, 5))
    c = net.wiring.last_coefficients()
    assert torch.all(c > 0.5)  # alpha ~ sigmoid(3) = 0.95 > tau = 0.5: open, weighted ~0.95*0.61
    routed = net.wiring.routed_mask
    assert routed.sum() == net.plan.edges.__len__() - 1  # only 0 -> 1 (node 1's only input) is fixed
    assert torch.all(c[:, ~routed] == 1)


def test_coefficients_differ_between_samples_and_match_router_formula():
    torch.manual_seed(0)
    net = _mlp_stage(4, temperature=0.7)
    _spread_routers(net, 0)
    x = torch.randn(8, 3)
    net.train()
    net(x)
    c = net.wiring.last_coefficients()
    routed = net.wiring.routed_mask
    assert (c[:, routed].std(0) > 1e-3).all()  # instance-aware: every routed edge varies by sample
    # recompute node 0's edges by hand from its output: the plan's first node is the input node
    out0 = net.node(0)(x)
    r = net.wiring.routers["0"]
    alpha = torch.sigmoid(r.fc(out0))
    expected = alpha * torch.sigmoid((alpha - r.tau) / 0.7)
    eids = net.wiring.routed_edges(0)
    torch.testing.assert_close(c[:, eids], expected)


def test_eval_masks_are_hard_thresholds_in_every_eval_mode():
    torch.manual_seed(1)
    for mode in ("gate", "alpha", "binary"):
        net = _mlp_stage(4, eval_weight=mode)
        _spread_routers(net, 1)
        net.eval()
        x = torch.randn(16, 3)
        with torch.no_grad():
            net(x)
            c = net.wiring.last_coefficients()
            out0 = net.node(0)(x)
        r = net.wiring.routers["0"]
        alpha = torch.sigmoid(r.fc(out0)).detach()
        is_open = alpha > r.tau.detach()
        got = c[:, net.wiring.routed_edges(0)]
        assert torch.equal(got > 0, is_open) and 0 < is_open.float().mean() < 1
        want = {"gate": alpha * torch.sigmoid(alpha - 0.5), "alpha": alpha, "binary": torch.ones_like(alpha)}[mode]
        torch.testing.assert_close(got, torch.where(is_open, want, torch.zeros_like(want)))


def test_gradients_reach_router_weights_biases_and_tau_gradcheck():
    torch.manual_seed(2)
    net = _mlp_stage(2).double().train()
    for m in net.modules():  # BatchNorm's batch statistics make gradcheck ill-conditioned; use eval BN
        if isinstance(m, torch.nn.BatchNorm1d):
            m.eval()
    _spread_routers(net, 2, scale=1.0)
    x = torch.randn(4, 3, dtype=torch.float64)
    r = net.wiring.routers["0"]
    params = (r.fc.weight, r.fc.bias, r.tau)

    # plain backward reaches all three
    net(x).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    # gradcheck through torch.func.functional_call on the router parameters
    names = ["wiring.routers.0.fc.weight", "wiring.routers.0.fc.bias", "wiring.routers.0.tau"]
    base = dict(net.named_parameters())
    base.update(dict(net.named_buffers()))

    def g(w, b, tau):
        state = dict(base, **dict(zip(names, (w, b, tau))))
        return torch.func.functional_call(net, state, (x,))

    inputs = tuple(p.detach().clone().requires_grad_(True) for p in params)
    assert torch.autograd.gradcheck(g, inputs, eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("family", ["complete", "erdos_renyi", "watts_strogatz", "stack"])
def test_batched_equals_reference(family):
    for seed in range(8):
        torch.manual_seed(seed)
        G = decorate(family_graph(family, seed), seed, aggs=("sum", "max", "concat"))
        net = gw.compile(G, in_channels=2, wiring="ddw", route_single=bool(seed % 2),
                         eval_weight=["gate", "alpha", "binary"][seed % 3])
        randomise_batchnorm(net, seed)
        _spread_routers(net, seed, scale=1.0)
        x = torch.randn(4, 2, 5, 5)
        for mode in ("train", "eval"):
            getattr(net, mode)()
            outs = []
            for ex in ("batched", "reference"):
                net.executor = ex
                net.zero_grad()
                state = {k: v.clone() for k, v in net.state_dict().items()}
                y = net(x)
                y.pow(2).mean().backward()
                grads = [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in net.parameters()]
                outs.append((y.detach(), net.wiring.last_coefficients().detach(), grads))
                net.load_state_dict(state)
            (yb, cb, gb), (yr, cr, gr) = outs
            torch.testing.assert_close(cb, cr, atol=1e-6, rtol=1e-5)
            torch.testing.assert_close(yb, yr, atol=1e-5, rtol=1e-5)
            for a, b in zip(gb, gr):
                torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_closed_node_outputs_zero_and_is_not_computed_in_eval():
    torch.manual_seed(3)
    G = gw.generators.complete(3)  # nodes 0..4; node 2's inputs come from 0 and 1
    net = gw.compile(G, in_channels=3, channels=4, wiring="ddw").eval()
    randomise_batchnorm(net, 3)  # so that f(0) != 0
    with torch.no_grad():  # close every edge into node 2 for every sample: alpha ~ 0 < tau
        for u in ("0", "1"):
            r = net.wiring.routers[u]
            eids = net.wiring.routed_edges(int(u))
            slot = [i for i, e in enumerate(eids) if net.plan.edges[e][1] == 2]
            r.fc.bias[slot] = -20.0
    calls = []
    nd = net.plan.by_label[2]
    assert net.plan.steps[nd.step].nodes == [nd.pos]  # node 2 is its step's only node
    net.steps[step_key(nd.step)].register_forward_hook(lambda *a: calls.append(1))
    seen = record_nodes(net)
    x = torch.randn(5, 3, 6, 6)
    for ex in ("batched", "reference"):
        net.executor = ex
        calls.clear()
        seen.clear()
        with torch.no_grad():
            y_skip = net(x)
        assert calls == [] and "2" not in seen  # not computed at all
        net.skip_closed = False
        with torch.no_grad():
            y_full = net(x)
        net.skip_closed = True
        assert len(calls) == 1 if ex == "batched" else "2" in seen
        torch.testing.assert_close(y_skip, y_full)
    # and with autograd on, the node runs but contributes exactly zero (mask, not f(0))
    net.executor = "reference"
    seen.clear()
    net(x)
    assert seen["2"][1].abs().sum() > 0  # f(0) is not zero (BatchNorm shift)...
    net.eval()
    stats = ddw.record(net, [(x, None)])
    assert stats["exec_rate"][net.plan.by_label[2].pos] == 0  # ...but the node never executes


def test_adjacency_buffer_rows_read_columns_write():
    torch.manual_seed(4)
    G = gw.generators.stack(gw.generators.complete, 2, n=2)
    net = gw.compile(G, in_channels=2, channels=3, wiring="ddw")
    _spread_routers(net, 4)
    net(torch.randn(3, 2, 4, 4))
    adj = net.wiring.adjacency()
    c = net.wiring.last_coefficients()
    assert sorted(adj) == [0, 1]
    for stage, (labels, A) in adj.items():
        assert A.shape == (3, len(labels), len(labels))
        for e, (u, v) in enumerate(net.plan.edges):
            if u in labels and v in labels:
                torch.testing.assert_close(A[:, labels.index(v), labels.index(u)], c[:, e])
        assert torch.all(A[:, 0] == 0)  # the stage input reads nothing from inside the stage
        assert torch.all(torch.triu(A) == 0)  # topological labels: only u < v


def test_collect_stats_write_back_and_prune_recompile_equals_ddw():
    torch.manual_seed(5)
    G = gw.generators.complete(4)
    net = gw.compile(G, in_channels=3, channels=4, wiring="ddw", eval_weight="binary")
    randomise_batchnorm(net, 5)
    with torch.no_grad():  # sample-independent routes: zero weights, biases either side of tau
        for key, r in net.wiring.routers.items():
            r.fc.weight.zero_()
            r.fc.bias.copy_(torch.tensor([3.0 if (i + int(key)) % 3 else -3.0 for i in range(r.fc.out_features)]))
    net.eval()
    x = torch.randn(10, 3, 6, 6)
    with pytest.raises(WiringError, match="recording"):
        net.write_back()
    with ddw.recording(net) as stats:
        net(x[:5])
        net(x[5:])
    assert stats["samples"] == 10
    H = net.write_back()
    rates = [d["weight"] for *_, d in H.edges(data=True)]
    assert set(rates) == {0.0, 1.0}
    for *_, d in H.edges(data=True):
        assert d["active"] == (d["weight"] > 0) and 0 <= d["ddw_std"] < 1e-6
        assert abs(d["ddw_mean"] - (1.0 if d["weight"] == 1.0 and d["ddw_mean"] == 1.0 else d["ddw_mean"])) < 1
    assert all(0 <= H.nodes[v]["exec_rate"] <= 1 for v in H)
    gw.validate(H)
    pruned = gw.prune(H, threshold=0.5)
    small = gw.compile(pruned, in_channels=3, channels=4, wiring="static", init_from=net).eval()
    with torch.no_grad():
        torch.testing.assert_close(small(x), net(x), atol=1e-5, rtol=1e-5)


def test_penalty_regularizer_is_expected_open_share():
    net = _mlp_stage(3, penalty=0.1)
    net.train()
    net(torch.randn(5, 3))
    reg = net.regularizer()
    assert 0.05 < reg.item() < 0.1  # sigmoid(0.95 - 0.5) = 0.61 of the penalty
    reg.backward()
    assert all(r.tau.grad is not None and r.tau.grad != 0 for r in net.wiring.routers.values())
    assert _mlp_stage(3).regularizer().item() == 0.0


def test_ddw_resnet_builders_params_and_flops():
    G = ddw_resnet_graph([2, 3])
    assert G.number_of_nodes() == 3 + 4 and gw.validate(G)
    assert [G.nodes[v].get("stride", 1) for v in sorted(G)] == [1, 1, 1, 2, 1, 1, 1]
    counts = {}
    for wiring in ("static", "sigmoid", "ddw"):
        m = ddw_resnet([2, 2], num_classes=10, channels=8, wiring=wiring)
        assert m(torch.randn(2, 3, 16, 16)).shape == (2, 10)
        counts[wiring] = (sum(p.numel() for p in m.parameters()), m.count_flops((1, 3, 16, 16)))
    assert counts["static"][0] < counts["sigmoid"][0] < counts["ddw"][0] < 1.02 * counts["static"][0]
    assert counts["static"][1] <= counts["ddw"][1] < 1.02 * counts["static"][1]
    with pytest.raises(ParameterError, match="layers"):
        ddw_resnet_graph([2, 0])
    with pytest.raises(ParameterError, match="block"):
        ddw_resnet_graph([2], block="wide")


def test_bad_options():
    with pytest.raises(WiringError, match="eval_weight must be one of"):
        _mlp_stage(2, eval_weight="hard")
    with pytest.raises(WiringError, match="temperature"):
        _mlp_stage(2, temperature=0)
    with pytest.raises(WiringError, match="no forward pass"):
        _mlp_stage(2).wiring.last_coefficients()


def test_plot_adjacency_of_ddw_statistics_per_stage(tmp_path):
    pytest.importorskip("matplotlib")
    torch.manual_seed(6)
    net = gw.compile(gw.generators.stack(gw.generators.complete, 2, n=3), in_channels=2, channels=3, wiring="ddw")
    _spread_routers(net, 6)
    ddw.record(net, [(torch.randn(6, 2, 4, 4), None)])
    H = net.write_back()
    for stat in ("ddw_mean", "ddw_std"):
        fig = gw.viz.plot_adjacency(H, attr=stat, per_stage=True, path=tmp_path / f"{stat}.png")
        assert len([ax for ax in fig.axes if ax.images]) == 2  # one heatmap per stage
        assert (tmp_path / f"{stat}.png").stat().st_size > 1000


@pytest.mark.slow
def test_onnx_export_of_ddw_matches_eval(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(7)
    net = gw.compile(gw.generators.complete(3), in_channels=2, channels=3, wiring="ddw").eval()
    _spread_routers(net, 7, scale=1.0)
    x = torch.randn(2, 2, 5, 5)
    path = gw.io.to_onnx(net, x, tmp_path / "ddw.onnx")
    sess = ort.InferenceSession(str(path))
    out = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(out), net(x), atol=1e-4, rtol=1e-4)
