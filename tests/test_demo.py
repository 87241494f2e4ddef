"""The end-to-end demo: train, write back, prune, recompile, fine-tune, write the files.

The file and report checks run on the default seed (in-process, and once more through the console).
"""

import contextlib
import io as _io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import graphwire as gw
from graphwire import demo

ROOT = Path(__file__).resolve().parents[1]
WORKING_SEED = 0
FILES = ["graph.json", "pruned.json", "graph.dot", "report.json", "history.json"]
HAS_DOT = shutil.which("dot") is not None
try:
    import matplotlib  # noqa: F401

    HAS_MPL = True
except ImportError:  # pragma: no cover - the test extra installs it
    HAS_MPL = False
PICTURES = (["wiring.svg", "pruned.svg"] if HAS_DOT else []) + ["wiring.html"] + (["evolution.png"] if HAS_MPL else [])

def _main(args):
    out = _io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = demo.main(args)
    return rc, out.getvalue()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    rc, stdout = _main(["--fast", "-o", str(out), "--no-progress", "--seed", str(WORKING_SEED)])
    return rc, stdout, out


def test_demo_returns_zero_and_writes_every_file(demo_run):
    rc, stdout, out = demo_run
    assert rc == 0
    for name in FILES + PICTURES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert "accuracy" in stdout and "parameters" in stdout
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]


def test_report_numbers_are_consistent(demo_run):
    _, _, out = demo_run
    report = json.loads((out / "report.json").read_text())
    acc = report["accuracy"]
    assert {"full", "pruned", "pruned_finetuned"} <= set(acc)
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in acc.values()), acc
    # fractions of the 449 test digits (one --fast epoch is too short to promise more than that)
    assert all(abs(v * 449 - round(v * 449)) < 1e-6 for v in acc.values()), acc
    g, pg = report["graph"], report["pruned_graph"]
    assert pg["edges"] < g["edges"] and pg["nodes"] <= g["nodes"]
    assert 0 < report["parameters"]["pruned"] < report["parameters"]["full"]
    assert report["device"] == "cpu"
    assert report["pictures"] == PICTURES


def test_graph_json_carries_the_learned_gates(demo_run):
    _, _, out = demo_run
    report = json.loads((out / "report.json").read_text())
    G = gw.io.load(out / "graph.json")
    assert (G.number_of_nodes(), G.number_of_edges()) == (report["graph"]["nodes"], report["graph"]["edges"])
    for u, v, d in G.edges(data=True):
        assert isinstance(d["weight"], float) and 0.0 < d["weight"] < 1.0, (u, v, d)
        assert 0.0 < d["flow"] <= d["weight"] + 1e-6, (u, v, d)  # gate x source strength
        assert isinstance(d["active"], bool) and d["learned"] is True, (u, v, d)
    assert G.graph["graphwire"]["wiring"] == "sigmoid"
    assert len({d["weight"] for *_, d in G.edges(data=True)}) > 1  # the gates were trained apart

    P = gw.io.load(out / "pruned.json")
    assert (P.number_of_nodes(), P.number_of_edges()) == (report["pruned_graph"]["nodes"],
                                                          report["pruned_graph"]["edges"])
    assert set(P.edges) < set(G.edges)
    rec = P.graph["graphwire"]["pruned"]
    assert rec["keep"] == 0.5 and rec["attr"] == "weight" and rec["ensure_path"] is True
    assert rec["edges_before"] == G.number_of_edges()
    # surviving edges are the strongest half by learned weight, plus at most one path's worth kept by ensure_path
    k = math.ceil(0.5 * G.number_of_edges())
    cut = sorted((d["weight"] for *_, d in G.edges(data=True)), reverse=True)[k - 1]
    below = [e for e in P.edges if G.edges[e]["weight"] < cut]
    assert len(below) < P.number_of_nodes()
    gw.validate(P)

    dot = (out / "graph.dot").read_text()
    assert "digraph" in dot and "->" in dot


def test_learned_wiring_is_not_a_chain_and_the_control_is_reported(demo_run):
    _, stdout, out = demo_run
    report = json.loads((out / "report.json").read_text())
    P = gw.io.load(out / "pruned.json")
    multi = [n for n in P if P.nodes[n].get("role") != "output" and P.in_degree(n) >= 2]
    # --fast trains 3 epochs; the full run (10 epochs) keeps 2 such nodes, see benchmarks/gates.py
    assert len(multi) >= 1 and report["pruned_graph"]["multi_input_nodes"] == len(multi)
    assert demo.multi_input_nodes(P) == len(multi)
    ctrl = report["control"]["random_wirings"]
    assert len(ctrl) == 1  # --fast: one random wiring
    assert ctrl[0]["edges"] == P.number_of_edges()
    assert "control" in stdout and "random wirings of" in stdout
    assert ("learned beats random" in stdout) != ("learned does NOT beat random" in stdout)
    # the demo says where the edges went: the budget, then the nodes left off every path
    assert f"kept the {math.ceil(0.5 * report['graph']['edges'])} edges with the largest gates" in stdout
    pg = report["pruned_graph"]
    assert pg["kept_by_value"] + pg["added_for_a_path"] - pg["edges_removed_with_them"] == pg["edges"]


def test_random_wiring_has_the_size_asked_and_every_edge_on_a_path():
    G = gw.generators.watts_strogatz(16, 4, 0.75, seed=0)
    for seed in range(3):
        H = demo.random_wiring(G, 12, seed=seed)
        assert H.number_of_edges() == 12 and set(H.edges) <= set(G.edges)
        gw.validate(H)  # every node on an input -> output path
    assert set(demo.random_wiring(G, 12, seed=0).edges) != set(demo.random_wiring(G, 12, seed=1).edges)


def test_history_follows_the_gates_every_few_steps(demo_run):
    from graphwire.io import History

    _, _, out = demo_run
    report = json.loads((out / "report.json").read_text())
    h = History.load(out / "history.json")
    G = gw.io.load(out / "graph.json")
    assert set(h.edges) == set(G.edges) and len(h.edges) == G.number_of_edges()
    every = report["history"]["snapshot_every"]
    steps = [s["step"] for s in h.snapshots]
    total = 3 * h.meta["steps_per_epoch"]  # three --fast epochs
    assert steps == list(range(0, total, every)) + [total]
    assert len(h.snapshots) == report["history"]["snapshots"]
    assert len(set(h.snapshots[0]["gate"])) == 1  # untrained gates all start alike (sigmoid(3))
    assert h.snapshots[-1]["weight"] == [G.edges[e]["weight"] for e in h.edges]  # what was written back
    assert h.snapshots[-1]["flow"] == [G.edges[e]["flow"] for e in h.edges]
    assert h.meta["wiring"] == "sigmoid" and h.epochs[0]["epoch"] == 1


@pytest.mark.skipif(not HAS_MPL, reason="matplotlib is not installed")
def test_evolution_png(demo_run):
    _, _, out = demo_run
    data = (out / "evolution.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def test_wiring_html_has_a_slider_over_the_history(demo_run):
    _, _, out = demo_run
    report = json.loads((out / "report.json").read_text())
    page = (out / "wiring.html").read_text()
    n = report["history"]["snapshots"]
    assert f'max="{n - 1}"' in page and page.count('class="edge"') == report["graph"]["edges"]
    assert "http://" not in page and "https://" not in page


def _cli(out, *extra):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    return subprocess.run([sys.executable, "-m", "graphwire", "demo", "--fast", "-o", str(out), "--no-progress",
                           *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_console_entry_runs_the_demo(tmp_path):
    res = _cli(tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "accuracy" in res.stdout
    assert (tmp_path / "report.json").is_file()


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz dot is not installed")
def test_pictures_are_svg_with_a_legend_and_say_every_gate_was_learned(demo_run):
    _, _, out = demo_run
    for name in ("wiring.svg", "pruned.svg"):
        text = (out / name).read_text()
        assert "<svg" in text and "</svg>" in text, name
        assert "how to read this picture" in text and "edge width and colour" in text, name
        assert "every edge&#39;s gate was learned" in text or "every edge's gate was learned" in text, name
        assert ">fixed<" not in text, name


def test_demo_bad_options_are_one_line(tmp_path, capsys):
    from graphwire.cli import main as cli_main

    for args, culprit in ((["--epochs", "0"], "--epochs"), (["--device", "bogus"], "--device 'bogus'"),
                          (["--device", "cuda:7"], "--device 'cuda:7'"), (["--threads", "many"], "--threads"),
                          (["--keep", "2"], "--keep")):
        rc = cli_main(["demo", "--fast", "--no-progress", "-o", str(tmp_path), *args])
        out, err = capsys.readouterr()
        assert rc == 2, (args, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("graphwire: error:") and culprit in lines[0], err
        assert not list(tmp_path.iterdir())  # refused before training or writing anything


def test_demo_help_is_plain_with_a_default_for_each_option(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as stop:
        demo.main(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text and ":func:" not in text
    for flag, default in (("--epochs", "10; 3 with --fast"), ("--finetune", "2; 1 with --fast"),
                          ("--nodes", "16"), ("--keep", "0.5"), ("--controls", "3; 1 with --fast"),
                          ("--threads", "auto"), ("--out", "graphwire-demo")):
        line = next(x for x in text.splitlines() if flag in x and "(default" in x)
        assert f"(default: {default})" in line, line
    assert "(default: False)" not in text and "(default: None)" not in text
    assert "--fast" in text and "3 epochs" in text


# ---------------------------------------------------------------- the gates the demo relies on
def _chain_net(carry: bool):
    import torch

    G = gw.generators.chain(2)  # input 0 -> 1 -> 2 -> output 3: every node has one input
    torch.manual_seed(0)
    return gw.compile(G, in_channels=3, channels=4, default_op="sepconv", wiring="sigmoid", carry=carry)


def test_without_carry_a_sole_input_gate_cannot_learn_and_is_marked():
    import torch

    net = _chain_net(carry=False)
    x = torch.randn(16, 3, 6, 6)
    y0 = net(x)
    with torch.no_grad():
        net.wiring.logit[0] = 1.5  # edge (0, 1): node 1's only input, behind node 1's BatchNorm
    torch.testing.assert_close(net(x), y0, atol=1e-3, rtol=1e-3)
    learned = {(u, v): d["learned"] for u, v, d in net.write_back().edges(data=True)}
    assert learned == {(0, 1): False, (1, 2): False, (2, 3): True}  # 3 is the output (identity op)


def test_with_carry_every_gate_changes_the_output_and_gets_a_gradient():
    import torch

    net = _chain_net(carry=True)
    x = torch.randn(16, 3, 6, 6)
    net(x).square().mean().backward()
    assert (net.wiring.logit.grad.abs() > 1e-6).all()
    y0 = net(x).detach()
    with torch.no_grad():
        net.wiring.logit[0] = 1.5
    assert (net(x) - y0).abs().max() > 0.1  # the first gate scales all that follows
    H = net.write_back()
    assert all(d["learned"] is True for *_, d in H.edges(data=True))


def test_carry_strength_is_a_soft_or_of_the_inputs_and_a_recompile_matches():
    import torch

    G = gw.generators.complete(2)  # 0 -> 1, 0 -> 2, 1 -> 2, 0 -> 3, 1 -> 3, 2 -> 3
    net = gw.compile(G, in_channels=2, channels=2, default_op="sepconv", wiring="sigmoid", carry=True)
    with torch.no_grad():
        net.wiring.logit.copy_(torch.linspace(-2, 2, G.number_of_edges()))
    g = {e: torch.sigmoid(net.wiring.logit[i]).item() for i, e in enumerate(net.wiring.edges)}
    s = {0: 1.0}
    for v in (1, 2):
        closed = 1.0
        for u in (0, 1):
            if (u, v) in g:
                closed *= 1 - g[u, v] * s[u]
        s[v] = 1 - closed
    H = net.write_back()
    for (u, v), gate in g.items():
        assert H.edges[u, v]["gate"] == pytest.approx(gate, abs=1e-6)
        assert H.edges[u, v]["flow"] == pytest.approx(gate * s[u], abs=1e-6)
        assert H.edges[u, v]["weight"] == H.edges[u, v]["flow"]  # the coefficient a static recompile uses
    net.eval()
    again = gw.compile(H, in_channels=2, channels=2, default_op="sepconv", wiring="sigmoid", carry=True,
                       init_from=net).eval()  # gates carried over: the same function
    x = torch.randn(4, 2, 5, 5)
    torch.testing.assert_close(again(x), net(x), atol=1e-5, rtol=1e-5)
    static = gw.compile(H, in_channels=2, channels=2, default_op="sepconv", init_from=net).eval()
    torch.testing.assert_close(static(x), net(x), atol=1e-5, rtol=1e-5)  # weight is the coefficient


def test_carry_with_a_gate_per_channel_uses_the_mean_gate_for_the_strength():
    import torch

    G = gw.generators.complete(2)
    net = gw.compile(G, in_channels=2, channels=3, default_op="sepconv", wiring="sigmoid", per_channel=True)
    assert net.wiring.carry is True  # the default
    with torch.no_grad():
        net.wiring.logit.copy_(torch.linspace(-2, 2, net.wiring.logit.numel()).view_as(net.wiring.logit))
    gates = torch.sigmoid(net.wiring.logit.detach())
    valid = net.wiring._valid
    mean = {e: ((gates[i] * valid[i]).sum() / valid[i].sum()).item() for i, e in enumerate(net.wiring.edges)}
    s = {0: 1.0}
    for v in (1, 2, 3):
        closed = 1.0
        for u in range(v):
            closed *= 1 - mean[u, v] * s[u]
        s[v] = 1 - closed
    coef = net.wiring.coefficients().detach()
    for i, (u, v) in enumerate(net.wiring.edges):
        torch.testing.assert_close(coef[i], gates[i] * s[u], atol=1e-6, rtol=1e-5)
    assert net(torch.randn(2, 2, 5, 5)).shape == (2, 3, 5, 5)


def test_carry_option_is_checked():
    from graphwire.errors import WiringError

    G = gw.generators.chain(1)
    with pytest.raises(WiringError, match="carry must be True or False"):
        gw.compile(G, in_channels=2, channels=2, wiring="sigmoid", carry="yes")
    with pytest.raises(WiringError, match="init must be a finite number"):
        gw.compile(G, in_channels=2, channels=2, wiring="sigmoid", init=float("nan"))


def test_fit_trains_small_models_on_one_thread_and_restores_the_setting(monkeypatch):
    import torch
    from torch import nn

    from graphwire.train import fit

    seen = []

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            seen.append(torch.get_num_threads())
            return self.fc(x)

    loader = [(torch.randn(8, 4), torch.randint(0, 3, (8,)))]
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    before = torch.get_num_threads()
    fit(Probe(), loader, 1, progress=False, device="cpu")
    assert seen == [1] and torch.get_num_threads() == before
    seen.clear()
    fit(Probe(), loader, 1, progress=False, device="cpu", threads=2)
    assert seen == [2] and torch.get_num_threads() == before
    seen.clear()
    fit(Probe(), loader, 1, progress=False, device="cpu", threads=None)
    assert seen == [before]
    seen.clear()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user chose: "auto" leaves torch alone
    fit(Probe(), loader, 1, progress=False, device="cpu")
    assert seen == [before]
    with pytest.raises(gw.errors.ParameterError, match="threads"):
        fit(Probe(), loader, 1, progress=False, device="cpu", threads=0)
