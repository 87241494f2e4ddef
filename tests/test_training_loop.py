"""The own-loop recipe of docs/training-loop.md runs as written, and what it claims holds: in a plain
PyTorch loop (not ``fit``) the gates separate, and pruning by gate, recompiling and one epoch of
fine-tuning keep the accuracy within 1 point of the full network on the digits."""

from __future__ import annotations


import pytest
import torch

import graphwire as gw
from _snippets import PY_LANGS, ROOT, blocks

DOC = ROOT / "docs" / "training-loop.md"


def _blocks() -> list[str]:
    return [b.body for b in blocks(DOC) if b.lang in PY_LANGS]


def _recipe() -> str:
    (recipe,) = [b for b in _blocks() if "gw.train.param_groups" in b]
    return recipe


def test_the_doc_has_one_recipe():
    recipe = _recipe()
    for needle in ("gw.train.param_groups", "regularizer()", "write_back()", "gw.prune(", "core.recompile(pruned)"):
        assert needle in recipe, needle
    assert "fit(" not in recipe  # a plain loop


@pytest.mark.slow
def test_recipe_gates_separate_and_pruning_keeps_accuracy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    scope: dict = {"__name__": "recipe"}
    exec(compile(_recipe(), str(DOC), "exec"), scope)
    gates, full, tuned = scope["gates"], scope["full"], scope["tuned"]
    # the gates separate: most decided, some closed and some open
    assert scope["decisive"] >= 0.5, sorted(gates)
    assert any(g < 0.1 for g in gates) and any(g > 0.9 for g in gates), sorted(gates)
    # pruning removed edges, and the pruned net fine-tuned for one epoch is within 1 point of the full one
    pruned = scope["pruned"]
    assert pruned.number_of_edges() < len(gates)
    assert full > 0.9 and tuned >= full - 0.01, (full, tuned)
    assert scope["small_core"].wiring.name == "sigmoid"  # the recorded wiring, its gates carried over
    assert gw.io.load(tmp_path / "pruned.json").number_of_edges() == pruned.number_of_edges()


def test_param_groups_put_the_gates_on_their_own_learning_rate():
    core = gw.compile(gw.generators.resnet(3), in_channels=4, channels=4, default_op="linear", dims=0,
                      wiring="sigmoid")
    model = torch.nn.Sequential(core, torch.nn.Linear(core.out_channels, 2))
    groups = gw.train.param_groups(model, wiring_lr=0.3)
    assert groups[1]["params"] == core.wiring_parameters() == [core.wiring.logit]
    assert groups[1]["lr"] == 0.3 and groups[1]["weight_decay"] == 0.0
    assert {id(p) for p in groups[0]["params"]} | {id(core.wiring.logit)} == {id(p) for p in model.parameters()}
    opt = torch.optim.SGD(groups, lr=0.05, momentum=0.9, weight_decay=5e-4)
    assert [g["weight_decay"] for g in opt.param_groups] == [5e-4, 0.0]
    with pytest.raises(gw.errors.ParameterError, match="wiring_lr must be a finite number > 0"):
        gw.train.param_groups(model, wiring_lr=0)
    static = gw.compile(gw.generators.resnet(3), in_channels=4, channels=4, default_op="linear", dims=0)
    with pytest.raises(gw.errors.ParameterError, match="no wiring parameters"):
        gw.train.param_groups(static, wiring_lr=0.1)


def _drifted():
    """resnet(4) with learned gates falling along the chain, and node 1's only input (0, 1) an
    unlearnable gate that drifted to 0."""
    G = gw.generators.resnet(4)
    for i, (u, v) in enumerate(G.edges):
        G.edges[u, v].update(weight=0.95 - 0.05 * i, learned=(u, v) != (0, 1))
    G.edges[0, 1]["weight"] = 0.0
    return G


def test_prune_keeps_edges_whose_gate_could_not_learn_unless_told():
    G = _drifted()
    kept = gw.prune(G, keep=0.5, ensure_path=True)
    assert kept.has_edge(0, 1) and 1 in kept and kept.graph["graphwire"]["pruned"]["kept_unlearned"] == 1
    assert {(1, 2), (1, 3)} <= set(kept.edges)  # the budget went to the 4 strongest learned edges
    assert gw.prune(G, threshold=0.5, ensure_path=True).has_edge(0, 1)
    dropped = gw.prune(G, keep=0.5, ensure_path=True, keep_unlearned=False)
    assert 1 not in dropped and dropped.graph["graphwire"]["pruned"]["kept_unlearned"] == 0
    with pytest.raises(gw.errors.ParameterError, match="keep_unlearned"):
        gw.prune(G, keep=0.5, keep_unlearned="no")


def test_cli_prune_says_it_kept_unlearned_edges(tmp_path, capsys):
    from graphwire.cli import main

    G = _drifted()
    gw.io.to_json(G, tmp_path / "g.json")
    assert main(["prune", str(tmp_path / "g.json"), "--keep", "0.5", "--ensure-path", "-o", str(tmp_path / "p.json")]) == 0
    out = capsys.readouterr().out
    assert "kept 1 edge(s) marked learned=false" in out and "--drop-unlearned" in out
    assert gw.io.load(tmp_path / "p.json").has_edge(0, 1)
    assert main(["prune", str(tmp_path / "g.json"), "--keep", "0.5", "--ensure-path", "--drop-unlearned", "-o",
                 str(tmp_path / "q.json")]) == 0
    assert not gw.io.load(tmp_path / "q.json").has_edge(0, 1)


def test_with_carry_a_masked_edge_feeds_no_strength_as_if_pruned():
    torch.manual_seed(0)
    net = gw.compile(gw.generators.complete(3), in_channels=2, channels=3, default_op="sepconv", wiring="sigmoid")
    with torch.no_grad():
        net.wiring.logit.copy_(torch.linspace(-1.5, 2.5, net.wiring.logit.numel()))
    net.eval()
    x = torch.randn(2, 2, 6, 6)
    with torch.no_grad():
        full = net(x)
        net.mask_edges([(0, 2), (1, 3)])
        masked = net(x)
        assert (masked - full).abs().max() > 1e-3  # the masked edges mattered
        pruned = gw.prune(net.write_back(), attr="active")
        for wiring in ("sigmoid", "static"):  # the gates rebuilt on the pruned graph, or fixed at their weight
            torch.testing.assert_close(net.recompile(pruned, wiring=wiring).eval()(x), masked, rtol=2e-5, atol=1e-5)
        net.mask_edges(None)
        torch.testing.assert_close(net(x), full)
