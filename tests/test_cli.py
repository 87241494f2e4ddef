"""The ``graphwire`` command line, run in-process through ``main([...])`` (plus one real subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import graphwire
from graphwire.cli import main
from graphwire.io import load, loads, to_json

HAS_DOT = shutil.which("dot") is not None
REPO_ROOT = Path(graphwire.__file__).resolve().parent.parent


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_bad(capsys, *argv, culprit: str):
    rc, out, err = run(capsys, *argv)
    assert rc == 2, (out, err)
    assert "graphwire: error:" in err and culprit in err, err
    assert "Traceback" not in err + out
    return err


def weighted_json(tmp_path) -> Path:
    G = graphwire.generators.complete(4)  # 6 nodes, 15 edges
    for i, (u, v) in enumerate(G.edges):
        G.edges[u, v]["weight"] = float(15 - i)  # edges out of the input are the strongest
    path = tmp_path / "w.json"
    to_json(G, path)
    return path


def test_generate_writes_json_and_prints_summary(capsys, tmp_path):
    out_path = tmp_path / "g.json"
    rc, out, err = run(capsys, "generate", "ws", "--n", 16, "--k", 4, "--p", 0.5, "--seed", 3, "-o", out_path)
    assert rc == 0, err
    assert out.count("\n") == 1 and "watts_strogatz" in out and "18 nodes" in out
    G = load(out_path)
    expected = graphwire.generators.watts_strogatz(16, 4, 0.5, seed=3)
    assert out_path.read_text(encoding="utf-8") == to_json(expected)
    assert G.graph["graphwire"]["generator"]["seed"] == 3


def test_generate_families_stages_dot_and_stdout(capsys, tmp_path):
    rc, _, err = run(capsys, "generate", "chain", "--n", 3, "-o", tmp_path / "c.json")
    assert rc == 0, err
    assert load(tmp_path / "c.json").number_of_nodes() == 5
    rc, _, err = run(capsys, "generate", "layered", "--sizes", "2,3,2", "--max-skip", 1,
                     "--density", 0.8, "--seed", 1, "-o", tmp_path / "l.dot")
    assert rc == 0, err
    L = load(tmp_path / "l.dot")
    assert L.number_of_nodes() == 7 and {d["block"] for _, d in L.nodes(data=True)} == {0, 1, 2}
    rc, _, err = run(capsys, "generate", "er", "--n", 6, "--p", 0.5, "--stages", 3, "--seed", 2,
                     "-o", tmp_path / "s.json")
    assert rc == 0, err
    S = load(tmp_path / "s.json")
    assert {d["stage"] for _, d in S.nodes(data=True)} == {0, 1, 2}
    rc, out, err = run(capsys, "generate", "ba", "--n", 6, "--m", 2, "--seed", 5)
    assert rc == 0 and "barabasi_albert" in err
    assert loads(out).number_of_nodes() == 8


def test_info_text_and_json(capsys, tmp_path):
    path = weighted_json(tmp_path)
    rc, out, _ = run(capsys, "info", path)
    assert rc == 0
    for word in ("nodes", "edges", "inputs", "outputs", "depth", "generations", "in-degree",
                 "out-degree", "stages", "generator", "complete", "edge.weight"):
        assert word in out, word
    rc, out, _ = run(capsys, "info", path, "--json")
    assert rc == 0
    info = json.loads(out)
    assert info["nodes"] == 6 and info["edges"] == 15 and info["depth"] == 5
    assert info["inputs"] == [0] and info["outputs"] == [5]
    assert info["generations"] == 6 and info["max_width"] == 1
    assert info["in_degree"] == {"min": 1, "mean": 3.0, "max": 5}
    assert info["generator"]["name"] == "complete"
    assert info["learned"]["edge.weight"] == {"edges": 15, "min": 1.0, "mean": 8.0, "max": 15.0}


def test_export_json_to_dot_and_back(capsys, tmp_path):
    path = weighted_json(tmp_path)
    rc, _, err = run(capsys, "export", path, "-o", tmp_path / "g.dot")
    assert rc == 0, err
    assert "penwidth" in (tmp_path / "g.dot").read_text()
    rc, _, err = run(capsys, "export", tmp_path / "g.dot", "-o", tmp_path / "back.json")
    assert rc == 0, err
    assert (tmp_path / "back.json").read_text() == path.read_text()
    assert_bad(capsys, "export", path, "-o", tmp_path / "g.txt", culprit="g.txt")


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz 'dot' binary not on PATH (apt-get install graphviz)")
def test_render_svg(capsys, tmp_path):
    path = weighted_json(tmp_path)
    rc, out, err = run(capsys, "render", path, "-o", tmp_path / "g.svg", "--rankdir", "TB")
    assert rc == 0, err
    svg = (tmp_path / "g.svg").read_text()
    assert all(f"<title>{n}</title>" in svg for n in range(6))
    rc, _, err = run(capsys, "render", path, "-o", tmp_path / "g.img", "--format", "png")
    assert rc == 0, err
    assert (tmp_path / "g.img").read_bytes()[:4] == b"\x89PNG"


def test_render_without_dot_is_a_clean_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    assert_bad(capsys, "render", weighted_json(tmp_path), "-o", tmp_path / "g.svg",
               culprit="apt-get install graphviz")


def test_prune_keep_fraction_count_and_threshold(capsys, tmp_path):
    path = weighted_json(tmp_path)
    rc, out, err = run(capsys, "prune", path, "--keep", "0.5", "-o", tmp_path / "half.json")
    assert rc == 0, err
    assert "pruned 15 ->" in out
    half = load(tmp_path / "half.json")
    assert half.graph["graphwire"]["pruned"]["keep"] == 0.5
    rc, _, err = run(capsys, "prune", path, "--keep", "12", "-o", tmp_path / "twelve.json")
    assert rc == 0, err
    twelve = load(tmp_path / "twelve.json")
    assert twelve.graph["graphwire"]["pruned"]["keep"] == 12
    assert twelve.number_of_edges() <= 12 < 15
    rc, _, err = run(capsys, "prune", path, "--threshold", 10, "-o", tmp_path / "t.dot")
    assert rc == 0, err
    T = load(tmp_path / "t.dot")
    assert all(d["weight"] >= 10 for _, _, d in T.edges(data=True))
    # a per-node budget needs --keep: with --threshold it used to be ignored silently
    rc, _, err = run(capsys, "prune", path, "--threshold", 10, "--per-node", "in", "-o", tmp_path / "u.dot")
    assert rc == 2 and "per_node='in'" in err and "keep" in err


def test_prune_bad_input(capsys, tmp_path):
    path = weighted_json(tmp_path)
    out = tmp_path / "p.json"
    assert_bad(capsys, "prune", path, "--keep", 3, "--threshold", 1, "-o", out, culprit="--threshold")
    assert_bad(capsys, "prune", path, "-o", out, culprit="--keep")
    assert_bad(capsys, "prune", path, "--keep", "half", "-o", out, culprit="'half'")
    assert_bad(capsys, "prune", path, "--keep", "1.5", "-o", out, culprit="1.5")
    assert_bad(capsys, "prune", path, "--keep", 3, "--attr", "gate", "-o", out, culprit="'gate'")
    assert not out.exists()


def test_bad_input_is_one_clean_line(capsys, tmp_path):
    assert_bad(capsys, "generate", "ws", "--p", "1.5", culprit="p must")
    assert_bad(capsys, "generate", "ws", "--m", "3", culprit="--m")
    assert_bad(capsys, "generate", "layered", culprit="--sizes")
    assert_bad(capsys, "generate", "layered", "--sizes", "3,x", culprit="3,x")
    assert_bad(capsys, "generate", "hypercube", culprit="hypercube")
    assert_bad(capsys, "generate", "chain", "--n", "2.5", culprit="2.5")
    assert_bad(capsys, "info", tmp_path / "missing.json", culprit="missing.json")
    (tmp_path / "broken.json").write_text('{"nodes": [}')
    assert_bad(capsys, "info", tmp_path / "broken.json", culprit="line 1, column 12")
    (tmp_path / "cyc.dot").write_text("digraph { a -> b -> c -> b; c -> d; }")
    assert_bad(capsys, "export", tmp_path / "cyc.dot", "-o", tmp_path / "x.json", culprit="'b'")
    assert_bad(capsys, "generate", "chain", "-o", tmp_path / "no" / "such" / "dir.json", culprit="dir.json")
    assert_bad(capsys, "frobnicate", culprit="frobnicate")


def test_help_and_version(capsys):
    rc, out, _ = run(capsys, "--help")
    assert rc == 0 and "generate" in out and "prune" in out and "demo" in out
    rc, out, _ = run(capsys, "--version")
    assert rc == 0 and graphwire.__version__ in out


def test_real_subprocess():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    cmds = [["--help"], ["generate", "ws", "--k", "3"]]
    procs = [subprocess.Popen([sys.executable, "-m", "graphwire.cli", *c], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for c in cmds]
    (help_out, help_err), (bad_out, bad_err) = (p.communicate(timeout=120) for p in procs)
    assert procs[0].returncode == 0, help_err
    assert "usage: graphwire" in help_out and "render" in help_out
    assert procs[1].returncode == 2
    assert bad_err.startswith("graphwire: error:") and "k must be" in bad_err
    assert "Traceback" not in bad_err + bad_out


# ---------------------------------------------------------------- plot / html
def _history_file(tmp_path) -> Path:
    from graphwire.io import History

    G = graphwire.generators.chain(3)  # 0 -> 1 -> 2 -> 3 -> 4
    h = History(edges=list(G.edges), meta={"wiring": "sigmoid"})
    h.add({"weight": [0.5] * 4, "active": [True] * 4}, epoch=0, step=0)
    h.add({"weight": [0.9, 0.1, 0.6, 0.7], "active": [True, False, True, True]}, epoch=1, step=5)
    to_json(h.graph_at(G), tmp_path / "g.json")
    return h.save(tmp_path / "history.json")


def test_plot_history_adjacency_and_degrees(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    hist = _history_file(tmp_path)
    rc, out, err = run(capsys, "plot", hist, "-o", tmp_path / "evolution.png")
    assert rc == 0, err
    assert "4 edges over 2 snapshots" in out and (tmp_path / "evolution.png").read_bytes()[:4] == b"\x89PNG"
    rc, out, err = run(capsys, "plot", tmp_path / "g.json", "--adjacency", "-o", tmp_path / "adj.svg",
                       "--attr", "weight")
    assert rc == 0, err
    assert "adjacency" in out and "<svg" in (tmp_path / "adj.svg").read_text()
    path = weighted_json(tmp_path)
    rc, _, err = run(capsys, "prune", path, "--keep", "12", "-o", tmp_path / "p.json")
    assert rc == 0, err
    rc, out, err = run(capsys, "plot", path, "--degrees", "--pruned", tmp_path / "p.json", "-o", tmp_path / "d.png")
    assert rc == 0, err
    assert "pruned graph" in out and (tmp_path / "d.png").stat().st_size > 0
    assert_bad(capsys, "plot", hist, "--degrees", "-o", tmp_path / "x.png", culprit="training history")
    assert_bad(capsys, "plot", hist, "--attr", "p_open", "-o", tmp_path / "x.png", culprit="'p_open'")
    assert_bad(capsys, "plot", path, "--attr", "ddw_mean", "-o", tmp_path / "x.png", culprit="'ddw_mean'")
    assert_bad(capsys, "plot", path, "-o", tmp_path / "x.txt", culprit="x.txt")
    assert_bad(capsys, "plot", path, "--adjacency", "--degrees", "-o", tmp_path / "x.png", culprit="not both")
    (tmp_path / "bad.json").write_text('{"format": "graphwire.history", "version": 1, "edges": 3}')
    assert_bad(capsys, "plot", tmp_path / "bad.json", "-o", tmp_path / "x.png", culprit="'edges' must be a list")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz 'dot' binary not on PATH (apt-get install graphviz)")
def test_html_with_and_without_history(capsys, tmp_path):
    hist = _history_file(tmp_path)
    rc, out, err = run(capsys, "html", tmp_path / "g.json", "--history", hist, "-o", tmp_path / "w.html")
    assert rc == 0, err
    assert "2 snapshots" in out
    page = (tmp_path / "w.html").read_text()
    assert 'max="1"' in page and "sigmoid wiring" in page
    rc, out, err = run(capsys, "html", tmp_path / "g.json", "-o", tmp_path / "s.html", "--title", "mine",
                       "--rankdir", "tb")
    assert rc == 0, err
    assert "<title>mine</title>" in (tmp_path / "s.html").read_text()
    assert_bad(capsys, "html", tmp_path / "g.json", "--history", tmp_path / "g.json", "-o", tmp_path / "x.html",
               culprit="'format'")
    assert_bad(capsys, "html", tmp_path / "g.json", "--history", hist, "--attr", "share", "-o", tmp_path / "x.html",
               culprit="'share'")
    assert not (tmp_path / "x.html").exists()


@pytest.mark.parametrize(
    "argv,culprit",
    [
        (["generate", "chain", "--n", "1000000000000"], "n = 1000000000000"),
        (["generate", "complete", "--n", "10000000"], "n = 10000000"),
        (["generate", "er", "--n", "100000000", "--p", "0.5"], "n = 100000000, p = 0.5"),
        (["generate", "ws", "--n", "10000000000", "--k", "4"], "n = 10000000000, k = 4"),
        (["generate", "layered", "--sizes", "1000000,1000000,1000000"], "sizes = [1000000, 1000000, 1000000]"),
        (["generate", "chain", "--n", "1000", "--stages", "1000000000"], "stages = 1000000000"),
    ],
)
def test_generate_refuses_a_graph_too_large_for_memory(capsys, tmp_path, argv, culprit):
    err = assert_bad(capsys, *argv, "-o", tmp_path / "g.json", culprit=culprit)
    assert "needs about" in err and "is available" in err
    assert not (tmp_path / "g.json").exists()


def test_generate_er_algorithm_option(capsys, tmp_path):
    for algorithm, want in (("fast_gnp", "fast_gnp"), ("gnp", "gnp"), ("auto", "fast_gnp")):
        path = tmp_path / f"{algorithm}.json"
        rc, _, err = run(capsys, "generate", "er", "--n", 60, "--p", 0.05, "--seed", 2, "--algorithm", algorithm,
                         "-o", path)
        assert rc == 0, err
        G = load(path)
        assert G.graph["graphwire"]["generator"]["algorithm"] == want
        expected = graphwire.generators.erdos_renyi(60, 0.05, seed=2, algorithm=algorithm)
        assert sorted(G.edges()) == sorted(expected.edges())
    assert_bad(capsys, "generate", "ws", "--algorithm", "gnp", culprit="--algorithm")
    assert_bad(capsys, "generate", "er", "--algorithm", "fast", culprit="--algorithm")


def test_prune_ensure_path_keeps_a_path_the_budget_alone_loses(capsys, tmp_path):
    # complete(4) with the strongest edges all leaving the input: the 3 strongest reach no output
    path = weighted_json(tmp_path)
    out = tmp_path / "p.json"
    err = assert_bad(capsys, "prune", path, "--keep", 3, "--attr", "weight", "-o", out, culprit="--ensure-path")
    assert "leaves no path" in err and not out.exists()
    rc, _, err = run(capsys, "prune", path, "--keep", 3, "--attr", "weight", "--ensure-path", "-o", out)
    assert rc == 0, err
    P = load(out)
    rec = P.graph["graphwire"]["pruned"]
    assert rec["ensure_path"] is True and rec["attr"] == "weight"
    graphwire.validate(P)  # an input -> output path survived
    assert 1 <= P.number_of_edges() < 15 and set(P.edges) <= set(load(path).edges)


def test_prune_error_suggests_ensure_path_in_python(tmp_path):
    from graphwire.errors import DeadNodeError

    G = load(weighted_json(tmp_path))
    with pytest.raises(DeadNodeError, match=r"leaves no path.*ensure_path=True"):
        graphwire.prune(G, keep=3)
