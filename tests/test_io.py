"""graphwire.io: JSON and DOT round trips, rendering with Graphviz, atomic writes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

import graphwire
from graphwire import generators
from graphwire.errors import FormatError, ParameterError, RenderError
from graphwire.graph import generations
from graphwire.io import from_node_link, load, loads, render, to_dot, to_json
from graphwire.io import dot as dot_module
from graphwire.io import _atomic
from graphwire.io._atomic import atomic_write

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz 'dot' binary not on PATH (apt-get install graphviz)")
REPO_ROOT = Path(graphwire.__file__).resolve().parent.parent


def dot_text(text):
    return loads(text, format="dot")


def learned_graph() -> nx.DiGraph:
    """A two-stage stacked graph carrying every kind of attribute a trained graph can have."""
    G = generators.stack(generators.watts_strogatz, 2, seed=3, n=8, k=4, p=0.75)
    for i, (u, v, d) in enumerate(G.edges(data=True)):
        d["weight"] = round((i % 7 - 3) / 3.0, 6) + 0.125  # floats of both signs
        d["active"] = i % 3 != 0
        d["ddw_mean"] = 0.01 * i
        d["ddw_std"] = 0.5
        if i % 4 == 0:
            d["op_weights"] = {"conv3x3": 0.7, "skip": 0.2, "none": 0.1}
    for n, d in G.nodes(data=True):
        d["block"] = n % 3
        if d["role"] == "hidden":
            d["op"] = "conv3x3"
            d["channels"] = 16 + n
            d["stride"] = 1 + n % 2
            d["agg"] = ("sum", "concat", "max")[n % 3]
            d["depth_prob"] = 1.0 / (1 + n)
    G.graph["note"] = "trained"
    return G


def assert_same_graph(H: nx.DiGraph, G: nx.DiGraph) -> None:
    """Same nodes and edges in the same order, same attributes with the same Python types."""
    assert list(H.nodes) == list(G.nodes)
    assert list(H.edges) == list(G.edges)
    for n in G:
        assert H.nodes[n] == G.nodes[n], n
        for k, v in G.nodes[n].items():
            assert type(H.nodes[n][k]) is type(v), (n, k)
    for u, v in G.edges:
        assert H.edges[u, v] == G.edges[u, v], (u, v)
        for k, x in G.edges[u, v].items():
            assert type(H.edges[u, v][k]) is type(x), (u, v, k)
    assert H.graph == G.graph


def odd_graph() -> nx.DiGraph:
    """Labels and values that are awkward for DOT: int 3 and str "3", quotes, backslashes, newlines."""
    G = nx.DiGraph()
    G.add_node(3, role="input", CamelKey=1, graph={"a": 1}, gw_id="not the label")
    G.add_node("3", note='say "hi"\\n', **{"my-key": [1, 2.5, None], "id": "clash"})
    G.add_node("node", op="sep conv", stage=0)
    G.add_node('a:b"c\\', extra={"nested": {"x": [True, False]}})
    G.add_node(-2, role="output", unicode="\u00e9\u4e2d")
    G.add_edge(3, "3", weight=1e-12, label="L")
    G.add_edge("3", "node", weight=-2.5, active=False)
    G.add_edge("node", 'a:b"c\\', op="skip")
    G.add_edge('a:b"c\\', -2, p_open=0.5, extra=1)
    G.add_edge(3, -2, weight=0)
    G.graph["graphwire"] = {"version": 1, "generator": {"name": "by hand", "params": {}}}
    G.graph["odd"] = 'quote " backslash \\ newline \n'
    return G


# ---------------------------------------------------------------- JSON
def test_json_round_trip_keeps_every_attribute():
    G = learned_graph()
    H = loads(to_json(G))
    assert_same_graph(H, G)
    assert H.graph["graphwire"]["generator"]["name"] == "stack"
    e = next(iter(H.edges(data=True)))[2]
    assert isinstance(e["weight"], float) and isinstance(e["active"], bool)
    assert isinstance(H.nodes[1]["stage"], int) and not isinstance(H.nodes[1]["stage"], bool)


def test_json_uses_edges_key_sorted_keys_and_graph_order():
    G = learned_graph()
    data = json.loads(to_json(G))
    assert set(data) == {"directed", "multigraph", "graph", "nodes", "edges"}
    assert data["directed"] is True and data["multigraph"] is False
    assert [d["id"] for d in data["nodes"]] == list(G.nodes)
    assert [(d["source"], d["target"]) for d in data["edges"]] == list(G.edges)
    text = to_json(G)
    top = [line.split('"')[1] for line in text.splitlines() if line.startswith('  "')]
    assert top == sorted(top) == ["directed", "edges", "graph", "multigraph", "nodes"]
    # one node / edge per line, each a compact JSON object with sorted keys, in graph order
    edge_lines = [line.strip().rstrip(",") for line in text.splitlines() if line.startswith('    {"') and '"source"' in line]
    assert edge_lines == [json.dumps(d, sort_keys=True, ensure_ascii=False) for d in data["edges"]]
    assert json.loads(to_json(G, indent=None)) == data and "\n" not in to_json(G, indent=None).strip()


def test_to_json_is_deterministic_and_does_not_mutate():
    G = nx.DiGraph([(0, 1), (1, 2)])
    G.nodes[0]["role"], G.nodes[2]["role"] = "input", "output"
    G.edges[0, 1]["pair"] = (1, 2)  # tuples become lists
    before = json.dumps(nx.node_link_data(G, edges="edges"), sort_keys=True)
    a = to_json(G)
    assert a == to_json(G.copy()) == to_json(loads(a))
    assert json.dumps(nx.node_link_data(G, edges="edges"), sort_keys=True) == before  # G untouched
    assert json.loads(a)["edges"][0]["pair"] == [1, 2]
    assert json.loads(a)["graph"]["graphwire"]["version"] == graphwire.SCHEMA_VERSION
    assert to_json(G, indent=None).count("\n") == 1


def test_json_byte_identical_across_processes():
    code = (
        "import sys\n"
        "from graphwire.generators import watts_strogatz\n"
        "from graphwire.io import to_json\n"
        "sys.stdout.buffer.write(to_json(watts_strogatz(24, 4, 0.5, seed=7)).encode('utf-8'))\n"
    )
    procs = []
    for hashseed in ("1", "2"):  # two processes at once, different hash seeds
        env = dict(os.environ, PYTHONHASHSEED=hashseed,
                   PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
        procs.append(subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=env))
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        outs.append(out)
    here = to_json(generators.watts_strogatz(24, 4, 0.5, seed=7)).encode("utf-8")
    assert outs[0] == outs[1] == here


def test_json_legacy_links_key(tmp_path):
    G = learned_graph()
    data = json.loads(to_json(G))
    data["links"] = data.pop("edges")
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    assert_same_graph(load(path), G)
    assert_same_graph(load(str(path)), G)
    # networkx's own writer, old keyword
    old = nx.node_link_data(G, edges="links")
    assert_same_graph(loads(json.dumps(old)), G)


def test_json_write_to_path_returns_text(tmp_path):
    G = learned_graph()
    path = tmp_path / "g.json"
    text = to_json(G, path)
    assert path.read_text(encoding="utf-8") == text
    assert_same_graph(load(path), G)
    assert_same_graph(loads(path.read_bytes()), G)
    assert_same_graph(from_node_link(json.loads(text)), G)  # parsed data works too
    assert [p.name for p in tmp_path.iterdir()] == ["g.json"]


def test_from_json_missing_file_names_path(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(FormatError, match="nope.json"):
        load(missing)
    with pytest.raises(FormatError, match="nope.json"):
        load(str(missing))


def test_json_awkward_labels_round_trip():
    G = odd_graph()
    G.nodes["3"]["identity"] = G.nodes["3"].pop("id")  # 'id' is reserved in node-link data
    assert_same_graph(loads(to_json(G)), G)


# ---------------------------------------------------------------- DOT
def test_dot_round_trip_keeps_every_attribute_with_types():
    G = learned_graph()
    H = dot_text(to_dot(G))
    expected = G.copy()
    graphwire.graph.meta(expected)
    assert_same_graph(H, expected)
    assert to_json(H) == to_json(G)


def test_dot_round_trip_awkward_labels_and_values(tmp_path):
    G = odd_graph()
    text = to_dot(G, tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text(encoding="utf-8") == text
    H = load(tmp_path / "g.dot")
    assert_same_graph(H, G)
    assert 3 in H and "3" in H and H.nodes["3"]["id"] == "clash"


def _edge_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "->" in line]


def test_dot_weight_becomes_penwidth_not_graphviz_weight():
    G = learned_graph()
    text = to_dot(G)
    edges = _edge_lines(text)
    assert len(edges) == G.number_of_edges()
    for line in edges:
        outside_quotes = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line)
        assert not re.search(r"(?<![\w])weight\s*=", outside_quotes), line
        assert "penwidth=" in line and "color=" in line and "gw_weight=" in line
    import pydot

    (parsed,) = pydot.graph_from_dot_data(text)
    assert len(parsed.get_edges()) == G.number_of_edges()
    for edge in parsed.get_edges():
        assert "weight" not in edge.get_attributes() and "penwidth" in edge.get_attributes()
    widths = [float(re.search(r"penwidth=([0-9.]+)", line).group(1)) for line in edges]
    assert 0.5 <= min(widths) and max(widths) <= 4.0 and max(widths) > min(widths)


def test_dot_inactive_edges_dashed():
    G = learned_graph()
    text = to_dot(G)
    for (u, v, d), line in zip(G.edges(data=True), _edge_lines(text)):
        assert line.lstrip().startswith(f"{u} -> {v} ")
        assert ("style=dashed" in line) == (d["active"] is False), line


def test_dot_stages_are_clusters_and_generations_are_ranks():
    G = learned_graph()
    text = to_dot(G)
    assert "newrank=true" in text
    for k in (0, 1):
        block = re.search(r"subgraph cluster_stage_%d \{(.*?)\}" % k, text, re.S).group(1)
        members = {int(x) for x in re.findall(r"(-?\d+);", block)}
        assert members == {n for n, s in G.nodes(data="stage") if s == k}
    assert text.count("rank=same") == len(generations(G))


def test_dot_rankdir_and_labels():
    chain = generators.chain(6)
    assert "rankdir=LR" in to_dot(chain)  # deep and narrow
    wide = generators.complete(0)
    wide.add_nodes_from(range(2, 12))
    wide.remove_edge(0, 1)
    for n in range(2, 12):
        wide.add_edge(0, n)
        wide.add_edge(n, 1)
    assert "rankdir=TB" in to_dot(wide)
    assert "rankdir=TB" in to_dot(chain, rankdir="tb")
    with pytest.raises(ParameterError, match="rankdir"):
        to_dot(chain, rankdir="diagonal")
    G = learned_graph()
    assert "label=" in "".join(_edge_lines(to_dot(G)))
    assert "label=" not in "".join(_edge_lines(to_dot(G, edge_labels=False)))


def test_dot_large_graphs_skip_edge_labels(monkeypatch):
    G = learned_graph()
    monkeypatch.setattr(dot_module, "EDGE_LABEL_LIMIT", 5)
    lines = _edge_lines(to_dot(G))
    assert not any("label=" in line or "tooltip=" in line for line in lines)
    assert all("penwidth=" in line for line in lines)


def test_plain_hand_written_dot_loads():
    H = dot_text("digraph net { a -> b; b -> c; a -> c; }")
    assert list(H.edges) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert H.nodes["a"]["role"] == "input" and H.nodes["c"]["role"] == "output"
    assert "role" not in H.nodes["b"]


def test_plain_dot_schema_attributes_and_numeric_names(tmp_path):
    text = """
    // hand-written
    strict digraph {
      node [shape=box];
      0 [role=input, channels=3];
      1 [op="conv3x3", channels=16, stride=2, agg=concat, stage=0, block=1];
      "2" [role=hidden, op=identity];
      3 [role=output];
      0 -> {1 "2"};
      1 -> 3 [op=skip, active=false];
      "2" -> 3;
    }
    """
    path = tmp_path / "hand.gv"
    path.write_text(text)
    H = load(path)
    assert sorted(H.nodes) == [0, 1, 2, 3]
    assert H.nodes[1] == {"op": "conv3x3", "channels": 16, "stride": 2, "agg": "concat", "stage": 0, "block": 1}
    assert H.nodes[0] == {"role": "input", "channels": 3}
    assert H.edges[1, 3] == {"op": "skip", "active": False}
    assert set(H.edges) == {(0, 1), (0, 2), (1, 3), (2, 3)}


# ---------------------------------------------------------------- rendering
@needs_dot
def test_render_svg_names_every_node(tmp_path):
    G = learned_graph()
    out = render(G, tmp_path / "g.svg")
    assert out == tmp_path / "g.svg"
    svg = out.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    titles = set(re.findall(r'<g id="node\d+" class="node">\s*<title>([^<]*)</title>', svg))
    assert titles == {str(n) for n in G}
    assert "cluster_stage_1" in svg


@needs_dot
def test_render_png_pdf_and_dot_text(tmp_path):
    G = generators.resnet(3)
    png = render(G, tmp_path / "g.png", rankdir="TB")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    pdf = render(G, tmp_path / "g.bin", format="pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    svg = render(to_dot(G), tmp_path / "t.svg", rankdir="LR")
    assert "<title>4</title>" in svg.read_text(encoding="utf-8")


@needs_dot
def test_render_reports_dot_failure(tmp_path):
    with pytest.raises(RenderError, match="(?i)syntax"):
        render("digraph { a -> ; }", tmp_path / "bad.svg")
    assert not (tmp_path / "bad.svg").exists()


def test_render_without_dot_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    with pytest.raises(RenderError) as info:
        render(generators.chain(2), tmp_path / "g.svg")
    msg = str(info.value)
    assert "apt-get install graphviz" in msg and "brew install graphviz" in msg and "conda" in msg
    assert not (tmp_path / "g.svg").exists()


def test_render_unknown_format_lists_allowed(tmp_path):
    with pytest.raises(ParameterError, match=r"svg.*png.*pdf"):
        render(generators.chain(2), tmp_path / "g.bmp")
    with pytest.raises(ParameterError, match="jpeg"):
        render(generators.chain(2), tmp_path / "g.svg", format="jpeg")


# ---------------------------------------------------------------- atomic writes
def test_failed_replace_leaves_old_file_and_no_temp(monkeypatch, tmp_path):
    path = tmp_path / "g.json"
    path.write_text("old contents")

    def boom(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(_atomic.os, "replace", boom)
    with pytest.raises(OSError, match="disk on fire"):
        to_json(generators.chain(2), path)
    with pytest.raises(OSError):
        to_dot(generators.chain(2), path)
    assert path.read_text() == "old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["g.json"]


def test_unserialisable_graph_leaves_old_file(tmp_path):
    path = tmp_path / "g.json"
    path.write_text("old contents")
    G = generators.chain(2)
    G.nodes[1]["handle"] = object()
    with pytest.raises(graphwire.errors.AttributeValueError, match=r"node 1: attribute 'handle'"):
        to_json(G, path)
    G.nodes[1]["handle"] = float("nan")
    with pytest.raises(graphwire.errors.AttributeValueError, match="NaN"):
        to_dot(G, path)
    assert path.read_text() == "old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["g.json"]


def test_atomic_write_bytes_text_and_mode(tmp_path):
    path = tmp_path / "blob.bin"
    assert atomic_write(path, b"\x00\x01") == path
    assert path.read_bytes() == b"\x00\x01"
    os.chmod(path, 0o640)
    atomic_write(str(path), "h\u00e9")
    assert path.read_bytes() == "h\u00e9".encode("utf-8")
    assert os.stat(path).st_mode & 0o777 == 0o640
    with pytest.raises(FileNotFoundError) as info:
        atomic_write(tmp_path / "missing-dir" / "x.json", "x")
    assert "missing-dir" in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob.bin"]


# ---------------------------------------------------------------- the drawing's legend and labels
def _gated_chain() -> nx.DiGraph:
    G = generators.chain(3)  # 0 -> 1 -> 2 -> 3 -> 4
    for i, (u, v) in enumerate(G.edges):
        G.edges[u, v].update(weight=0.2 * (i + 1), active=True, learned=i != 1)
    return G


def test_dot_legend_says_what_width_colour_labels_and_shapes_mean():
    text = to_dot(_gated_chain())
    graph_label = re.search(r"^  label=(<.*>);$", text, re.MULTILINE).group(1)
    for words in ("how to read this picture", "edge width and colour: the learned gate", "near 0",
                  "numbers beside the edges", "fixed", "node shapes"):
        assert words in graph_label, words
    assert "dashed" not in graph_label  # no inactive edge, no line about them
    assert "label=" not in re.sub(r"xlabel=", "", "".join(_edge_lines(to_dot(_gated_chain(), legend=True))))
    assert "how to read" not in to_dot(_gated_chain(), legend=False)
    assert "how to read" not in to_dot(generators.chain(3))  # nothing learned: nothing to explain
    signed = to_dot(learned_graph())
    assert "a negative weight" in signed and "dashed: inactive" in signed
    assert_same_graph(dot_text(signed), learned_graph())  # the legend is no node and changes no attribute


def test_dot_edge_labels_sit_beside_edges_and_fixed_gates_are_not_numbers():
    G = _gated_chain()
    lines = _edge_lines(to_dot(G))
    assert "forcelabels=true" in to_dot(G)
    for (u, v, d), line in zip(G.edges(data=True), lines):
        assert "xlabel=<" in line and not re.search(r"[ ,\[]label=", line), line
        if d["learned"]:
            assert f">{d['weight']:.2g}<" in line and "dotted" not in line, line
        else:  # a gate that could not learn: drawn dotted, labelled "fixed", not with its 0.4
            assert ">fixed<" in line and "style=dotted" in line and ">0.4<" not in line, line


@needs_dot
def test_rendered_svg_shows_the_legend(tmp_path):
    render(_gated_chain(), tmp_path / "g.svg")
    svg = (tmp_path / "g.svg").read_text()
    assert "how to read this picture" in svg and "fixed" in svg and ">0.2<" in svg
