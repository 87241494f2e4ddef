"""L0 edge gates (hard concrete): the closed-form open probability, penalty, executors, write-back."""

import math

import pytest
import torch

import graphwire as gw
from graphwire import data, models, train
from graphwire.errors import WiringError
from graphwire.wiring.l0 import hard_concrete_eval, hard_concrete_p_open, hard_concrete_sample

from _graphs import compare_executors


def test_monte_carlo_open_probability_matches_the_closed_form():
    g = torch.Generator().manual_seed(0)
    log_alpha = torch.tensor([-3.0, -1.0, 0.0, 0.5, 2.0], dtype=torch.float64)
    n = 400_000
    u = torch.rand((n, len(log_alpha)), generator=g, dtype=torch.float64)
    z = hard_concrete_sample(log_alpha.expand(n, -1), u=u)
    mc = (z > 0).double().mean(0)
    closed = hard_concrete_p_open(log_alpha)
    assert ((mc - closed).abs() / closed).max() < 0.01  # within 1 %
    assert ((z == 0).any(0) & (z == 1).any(0)).all()  # exact zeros and ones both occur
    assert (z >= 0).all() and (z <= 1).all()
    # the closed form is 1 - CDF(0) of the stretched concrete: sigmoid(log_alpha - beta log(-gamma/zeta))
    torch.testing.assert_close(closed, torch.sigmoid(log_alpha - 2 / 3 * math.log(0.1 / 1.1)))


def _graph():
    G = gw.generators.complete(3)
    for v in G:
        if G.nodes[v].get("role") != "output":
            G.nodes[v]["channels"] = 4
    return G


def test_penalty_eval_gates_and_write_back():
    torch.manual_seed(0)
    net = gw.compile(_graph(), in_channels=3, dims=0, default_op="linear", wiring="l0", lam=0.5)
    w = net.wiring
    with torch.no_grad():
        w.log_alpha.copy_(torch.linspace(-6, 4, len(w.log_alpha)))
        for i, (u, v) in enumerate(net.plan.edges):  # keep a path 0 -> 1 -> ... -> output open
            if v == u + 1:
                w.log_alpha[i] = 3.0
    # node 1's only input (0, 1) is behind its BatchNorm: held open, not penalised, marked learned=False
    fixed = torch.tensor([e == (0, 1) for e in net.plan.edges])
    assert w._fixed.tolist() == fixed.tolist()
    torch.testing.assert_close(net.regularizer(), 0.5 * hard_concrete_p_open(w.log_alpha)[~fixed].sum())
    net.eval()
    x = torch.randn(5, 3)
    torch.testing.assert_close(net(x), net(x))  # deterministic at evaluation
    gates = torch.where(fixed, 1.0, hard_concrete_eval(w.log_alpha.detach()))
    assert (gates[(w.log_alpha < -2.5) & ~fixed] == 0).all() and ((gates >= 0) & (gates <= 1)).all()
    torch.testing.assert_close(w.coefficients(), gates)
    H = net.write_back()
    p_open = torch.where(fixed, 1.0, hard_concrete_p_open(w.log_alpha.detach()))
    for (u, v), g, p, f in zip(net.plan.edges, gates, p_open, fixed):
        assert H.edges[u, v]["active"] == bool(g > 0)
        assert H.edges[u, v]["p_open"] == pytest.approx(float(p))
        assert H.edges[u, v]["weight"] == pytest.approx(float(g))
        assert H.edges[u, v]["learned"] is not bool(f)
    gw.validate(gw.io.loads(gw.io.to_json(H)))
    # pruning the closed edges changes nothing at inference
    pruned = gw.prune(H, attr="active")
    small = gw.compile(pruned, in_channels=3, dims=0, default_op="linear", wiring="l0", init_from=net).eval()
    torch.testing.assert_close(small(x), net(x))
    with pytest.raises(WiringError):
        gw.compile(_graph(), in_channels=3, dims=0, default_op="linear", wiring="l0", lam=-1.0)


def test_batched_equals_reference():
    torch.manual_seed(0)
    G = gw.generators.watts_strogatz(8, 4, 0.5, seed=3)
    net = gw.compile(G, in_channels=3, channels=4, wiring="l0")
    with torch.no_grad():
        net.wiring.log_alpha.copy_(torch.randn(len(net.wiring.log_alpha)) * 2.5)
    compare_executors(net, torch.randn(4, 3, 6, 6), seed=7)  # the same gate sample for both executors
    net.train()
    torch.manual_seed(1)
    c = net.wiring.coefficients()
    assert (c == 0).any() and ((c > 0) & (c < 1)).any()  # training samples exact zeros, too


@pytest.mark.slow
def test_open_edges_fall_as_lambda_grows():
    s = data.digits(flat=True)
    loader = data.loader(s.x_train, s.y_train, 128)
    active, expected = [], []
    for lam in (0.0, 0.1, 0.3):
        torch.manual_seed(0)
        m = models.wired_mlp(gw.generators.complete(4), in_channels=64, num_classes=10, channels=16, wiring="l0", lam=lam)
        train.fit(m, loader, 6, lr=0.1, wiring_lr=0.5, progress=False, device="cpu")
        w = m.wired.wiring
        active.append(sum(w.describe().edges["active"]))
        expected.append(w.expected_open().item())
    assert active[0] == 15 and active == sorted(active, reverse=True) and active[-1] < active[0]
    assert expected == sorted(expected, reverse=True) and expected[-1] < 0.5 * expected[0]
