"""The end-to-end demo: train, write back, prune, recompile, fine-tune, write the files.

The file and report checks run on seed 3; the default seed runs too (in-process and console).
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
WORKING_SEED = 3
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


@pytest.mark.slow
def test_demo_main_default_seed(tmp_path):
    rc, stdout = _main(["--fast", "-o", str(tmp_path), "--no-progress"])
    assert rc == 0 and "accuracy" in stdout
    assert all((tmp_path / f).is_file() for f in FILES)


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
        assert isinstance(d["active"], bool), (u, v, d)
    assert G.graph["graphwire"]["wiring"] == "sigmoid"
    assert len({d["weight"] for *_, d in G.edges(data=True)}) > 1  # the gates were trained apart

    P = gw.io.load(out / "pruned.json")
    assert (P.number_of_nodes(), P.number_of_edges()) == (report["pruned_graph"]["nodes"],
                                                          report["pruned_graph"]["edges"])
    assert set(P.edges) < set(G.edges)
    rec = P.graph["graphwire"]["pruned"]
    assert rec["keep"] == 0.5 and rec["attr"] == "share" and rec["ensure_path"] is True
    assert rec["edges_before"] == G.number_of_edges()
    # surviving edges are the strongest half by share, plus at most one path's worth kept by ensure_path
    G = gw.share(G)
    k = math.ceil(0.5 * G.number_of_edges())
    cut = sorted((d["share"] for *_, d in G.edges(data=True)), reverse=True)[k - 1]
    below = [e for e in P.edges if G.edges[e]["share"] < cut]
    assert len(below) < P.number_of_nodes()
    gw.validate(P)

    dot = (out / "graph.dot").read_text()
    assert "digraph" in dot and "->" in dot


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz dot is not installed")
def test_pictures_are_svg(demo_run):
    _, _, out = demo_run
    for name in ("wiring.svg", "pruned.svg"):
        text = (out / name).read_text()
        assert "<svg" in text and "</svg>" in text, name


def test_history_follows_the_gates_every_few_steps(demo_run):
    from graphwire.train import History

    _, _, out = demo_run
    report = json.loads((out / "report.json").read_text())
    h = History.load(out / "history.json")
    G = gw.io.load(out / "graph.json")
    assert set(h.edges) == set(G.edges) and len(h.edges) == G.number_of_edges()
    every = report["history"]["snapshot_every"]
    steps = [s["step"] for s in h.snapshots]
    per_epoch = h.meta["steps_per_epoch"]  # one --fast epoch
    assert steps == list(range(0, per_epoch, every)) + [per_epoch]
    assert len(h.snapshots) == report["history"]["snapshots"]
    assert h.snapshots[0]["weight"] == [0.5] * len(h.edges)  # sigmoid(0): untrained gates
    assert h.snapshots[-1]["weight"] == [G.edges[e]["weight"] for e in h.edges]  # what was written back
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


@pytest.mark.parametrize("seed", [
    None,
    WORKING_SEED,
])
@pytest.mark.slow
def test_console_entry_runs_the_demo(tmp_path, seed):
    res = _cli(tmp_path, *(["--seed", str(seed)] if seed is not None else []))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "accuracy" in res.stdout
    assert (tmp_path / "report.json").is_file()
