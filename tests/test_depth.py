"""Learnt depth (variational depth search): the chain, the exact ELBO, predictions, pruning, write-back."""

import math

import networkx as nx
import pytest
import torch
import torch.nn.functional as F

import graphwire as gw
from graphwire import data, models, train, viz
from graphwire.errors import ParameterError, WiringError
from graphwire.wiring.depth import categorical_kl, depth_cutoff, depth_prior, fold_tail


def _net(D=4, width=6, seed=0, **kw):
    torch.manual_seed(seed)
    return models.LearntDepthNet(in_channels=2, num_classes=3, max_depth=D, channels=width, **kw)


def _spread_q(m, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        m.wiring.logits.copy_(torch.randn(m.wiring.logits.shape, generator=g))


# ------------------------------------------------------------------ the model
def test_chain_is_a_residual_network_with_a_tap_per_depth():
    G = gw.generators.depth_chain(3, width=5)
    gw.validate(G)
    outs = [n for n, d in G.nodes(data=True) if d.get("role") == "output"]
    assert outs == [7, 8, 9, 10] and all(G.in_degree(o) == 1 for o in outs)
    for d in range(1, 4):  # a_d = a_{d-1} + f_d(a_{d-1})
        assert sorted(G.predecessors(2 * d)) == [2 * d - 2, 2 * d - 1] and G.nodes[2 * d]["agg"] == "sum"
    m = models.LearntDepthNet(in_channels=2, num_classes=3, max_depth=3, channels=5)
    x = torch.randn(4, 2)
    m.eval()
    a = m.wired(x).reshape(4, 4, 5)
    nodes = m.wired.nodes
    a0 = nodes["0"](x)
    torch.testing.assert_close(a[:, 0], a0)
    torch.testing.assert_close(a[:, 1], a0 + nodes["1"](a0))
    torch.testing.assert_close(m.heads(x)[:, 2], m.head(a[:, 2]))  # one shared head


def test_batched_equals_reference():
    m = _net(D=5)
    _spread_q(m)
    x, y = torch.randn(8, 2), torch.randint(0, 3, (8,))
    for mode in ("train", "eval"):
        getattr(m, mode)()
        res = []
        for ex in ("batched", "reference"):
            state = {k: v.clone() for k, v in m.state_dict().items()}
            m.wired.executor = ex
            m.zero_grad()
            loss = m.loss(x, y)
            loss.backward()
            res.append((m.heads(x).detach(), [p.grad.clone() for p in m.parameters()]))
            m.load_state_dict(state)
        torch.testing.assert_close(res[0][0], res[1][0], atol=1e-5, rtol=1e-5)
        for a, b in zip(res[0][1], res[1][1]):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------ the objective
def test_kl_matches_its_closed_form():
    D, r = 7, 0.85
    p = depth_prior(D, rate=r).double()
    Z = r * (1 - r ** (D + 1)) / (1 - r)  # sum_{d=0..D} r^(d+1)
    torch.testing.assert_close(p, torch.tensor([r ** (d + 1) / Z for d in range(D + 1)], dtype=torch.float64), atol=1e-7, rtol=1e-6)
    # uniform q against the exponential prior: KL = -log(D+1) - mean_d (d+1) log r + log Z
    u = torch.full((D + 1,), 1 / (D + 1), dtype=torch.float64)
    closed = -math.log(D + 1) - sum((d + 1) * math.log(r) for d in range(D + 1)) / (D + 1) + math.log(Z)
    assert abs(float(categorical_kl(u, p)) - closed) < 1e-6
    # the wiring's KL (logits at 0 = uniform q) and its per-example regulariser
    m = _net(D=D, n_train=200)
    assert abs(m.wiring.kl().item() - closed) < 1e-5
    assert abs(m.wired.regularizer().item() - closed / 200) < 1e-7
    # a general q: sum q log(q / p); one-hot q: -log p(d)
    q = torch.softmax(torch.randn(D + 1, dtype=torch.float64), 0)
    assert abs(float(categorical_kl(q, p)) - float((q * (q / p).log()).sum())) < 1e-12
    assert abs(float(categorical_kl(torch.eye(D + 1, dtype=torch.float64)[3], p)) + math.log(float(p[3]))) < 1e-8
    assert float(depth_prior(D, "uniform").sum()) == pytest.approx(1.0)


def test_one_hot_q_gives_that_heads_plain_cross_entropy():
    m = _net(D=4)  # no n_train: no KL term
    x, y = torch.randn(10, 2), torch.randint(0, 3, (10,))
    m.train()
    for d in (0, 2, 4):
        m.wiring.set_q(torch.eye(5)[d])
        torch.testing.assert_close(m.loss(x, y), F.cross_entropy(m.heads(x)[:, d], y))
    # with n_train the KL per example is added, here -log p(d) / N
    m2 = _net(D=4, n_train=50)
    m2.wiring.set_q(torch.eye(5)[2])
    p = depth_prior(4)
    torch.testing.assert_close(m2.loss(x, y), F.cross_entropy(m2.heads(x)[:, 2], y) - torch.log(p[2]) / 50)
    # and the general loss is the q-weighted sum of the heads' cross-entropies
    _spread_q(m2)
    ce = torch.stack([F.cross_entropy(m2.heads(x)[:, d], y) for d in range(5)])
    torch.testing.assert_close(m2.loss(x, y), (m2.q() * ce).sum() + m2.wiring.kl() / 50)


def test_predictive_rows_sum_to_one_and_forward_is_its_log():
    m = _net(D=4)
    _spread_q(m)
    m.eval()
    x = torch.randn(16, 2)
    probs = m.predict_proba(x)
    torch.testing.assert_close(probs.sum(1), torch.ones(16))
    assert (probs >= 0).all()
    torch.testing.assert_close(m(x).exp(), probs)
    expect = sum(m.q()[d] * torch.softmax(m.heads(x)[:, d], -1) for d in range(5))
    torch.testing.assert_close(probs, expect)


# ------------------------------------------------------------------ pruning
def test_pruning_rule():
    q = [0.0, 0.1, 0.3, 0.295, 0.305]
    assert depth_cutoff(q) == 2            # smallest d with q(d) > 0.95 * max q (0.29)
    assert depth_cutoff(q, level=0.99) == 4  # only the mode is within 99 %
    assert depth_cutoff(q, rule="cdf") == 4  # cumulative mass 0.995 only at d = 4
    assert depth_cutoff([0.5, 0.3, 0.2], rule="cdf", level=0.8) == 1
    assert depth_cutoff([0.2, 0.2, 0.6]) == 2
    torch.testing.assert_close(fold_tail(torch.tensor(q), 2), torch.tensor([0.0, 0.1, 0.9]))
    with pytest.raises(ParameterError):
        depth_cutoff(q, rule="median")


def test_pruned_net_equals_the_truncated_marginal_of_the_full_net():
    m = _net(D=6)
    with torch.no_grad():
        m.wiring.logits.copy_(torch.tensor([-4.0, -3.0, 0.0, 1.0, 0.98, 0.97, 0.9]))
    m.eval()
    d = m.d_opt()
    assert d == 3
    small = m.prune()
    assert small.max_depth == 3 and not small.wired.init_report["skipped"]
    assert small.wired.graph.number_of_nodes() == 1 + 2 * 3 + 4
    small.eval()
    x = torch.randn(9, 2)
    qf = fold_tail(m.q().detach(), 3)
    torch.testing.assert_close(small.q(), qf)
    heads = m.heads(x)[:, :4]
    expect = torch.einsum("bdk,d->bk", torch.softmax(heads, -1), qf)
    torch.testing.assert_close(small.predict_proba(x), expect)
    # pruning at d_opt = D changes nothing
    same = m.prune(depth=6)
    same.eval()
    torch.testing.assert_close(same.predict_proba(x), m.predict_proba(x))


def test_write_back_and_plot(tmp_path):
    m = _net(D=4)
    with torch.no_grad():
        m.wiring.logits.copy_(torch.tensor([-3.0, -2.0, 1.0, 1.0, 0.5]))
    H = m.write_back()
    gw.validate(H)
    q = m.q().detach()
    states = {0: 0, 1: 2, 2: 4, 3: 6, 4: 8}
    for d, s in states.items():
        assert H.nodes[s]["depth_prob"] == pytest.approx(float(q[d]))
        assert H.nodes[s]["active"] == (d <= 2)
    assert H.nodes[5]["active"] is False and H.nodes[3]["active"] is True  # blocks 3 and 2
    assert H.graph["graphwire"]["depth"]["d_opt"] == 2
    assert H.edges[6, 7]["weight"] == pytest.approx(float(q[4:].sum()))  # block 4's edge: P(depth >= 4)
    assert H.edges[4, 11]["weight"] == pytest.approx(float(q[2]))        # tap of depth 2
    assert nx.utils.graphs_equal(H, gw.io.loads(gw.io.to_json(H)))
    fig = viz.plot_depth_posterior(m, fixed_depth=[0.5, 0.6, 0.9, 0.92, 0.91], marginal=0.9, pruned=0.9,
                                   path=tmp_path / "q.png")
    assert (tmp_path / "q.png").stat().st_size > 1000
    fig.clf()
    viz.plot_depth_posterior(H, path=tmp_path / "q2.png").clf()


def test_fixed_depth_baseline_and_bad_graphs():
    m = _net(D=3, fixed=True, n_train=10)
    torch.testing.assert_close(m.q(), torch.tensor([0.0, 0.0, 0.0, 1.0]))
    assert float(m.wired.regularizer()) == 0.0 and not list(m.wiring.parameters())
    with pytest.raises(WiringError):
        gw.compile(gw.generators.chain(2), in_channels=2, channels=4, dims=0, default_op="linear", wiring="depth")
    with pytest.raises(ParameterError):
        models.LearntDepthNet(in_channels=2, num_classes=2, max_depth=3, prior="beta")


# ------------------------------------------------------------------ data, training, calibration
def test_spirals_follow_the_reference_generator():
    s = data.spirals()
    assert s.x_train.shape == (200, 2) and s.x_test.shape == (1800, 2)
    y = torch.cat([s.y_train, s.y_test])
    assert int((y == 0).sum()) == int((y == 1).sum()) == 1000  # 1000 points per arm
    z = data.spirals(standardize=True)
    torch.testing.assert_close(z.x_train.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.x_train.std(0, unbiased=False), torch.ones(2), atol=1e-4, rtol=0)
    # noise is uniform in [0, noise) per coordinate, added before the arm's rotation (reference units)
    clean = data.spirals(noise=0.0, seed=3)
    noisy = data.spirals(noise=0.2, seed=3)
    scale = 3.0 / math.radians(720.0)
    diff = (noisy.x_train - clean.x_train) / scale
    sign = torch.where(noisy.y_train == 1, -1.0, 1.0)[:, None]  # arm 1 is turned by 180 degrees
    d = diff * sign
    assert d.min() >= -1e-4 and d.max() <= 0.2 + 1e-4 and d.mean() > 0.05


def test_fit_elbo_learns_a_depth_distribution():
    torch.manual_seed(0)
    s = data.spirals(standardize=True, seed=1)
    m = models.LearntDepthNet(in_channels=2, num_classes=2, max_depth=5, channels=16, n_train=200)
    r = train.fit_elbo(m, s.x_train, s.y_train, epochs=150, patience=50)
    assert r["losses"][-1] < r["losses"][0]
    q = m.q().detach()
    assert float(q[:2].sum()) < 2 / 6  # mass moved away from the shallow, underfitting depths
    assert train.evaluate(m, [(s.x_test, s.y_test)])["acc"] > 0.7


def test_expected_calibration_error():
    probs = torch.tensor([[0.95, 0.05], [0.85, 0.15], [0.25, 0.75], [0.35, 0.65]], dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 1])
    # one sample per bin: |1 - 0.95|, |0 - 0.85|, |1 - 0.75|, |1 - 0.65|
    expect = (0.05 + 0.85 + 0.25 + 0.35) / 4
    assert models.expected_calibration_error(probs, y) == pytest.approx(expect)
    assert models.expected_calibration_error(torch.eye(3), torch.arange(3)) == pytest.approx(0.0)
