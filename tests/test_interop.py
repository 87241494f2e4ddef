"""graphwire's files read by other tools' readers: networkx's node-link JSON, DOT and GraphML readers."""

from __future__ import annotations

import json
import re

import networkx as nx
import pytest

import graphwire as gw
from graphwire.cli import main
from graphwire.errors import FormatError, ParameterError

NX = tuple(int(x) for x in nx.__version__.split(".")[:2])


def learned_graph() -> nx.DiGraph:
    """A write-back with floats, bools, dicts, a negative number and odd node labels."""
    G = gw.generators.watts_strogatz(8, 4, 0.5, seed=1)
    G = nx.relabel_nodes(G, {0: "in:put", 1: "node one"})
    for i, (u, v) in enumerate(G.edges):
        G.edges[u, v].update(weight=0.05 * i - 0.2, active=i % 3 != 0, learned=i != 2, op_weights={"a": 0.25, "b": 0.75})
    G.nodes["node one"].update(channels=16, op="linear", notes={"why": "a dict"})
    return G


def test_networkx_node_link_graph_reads_graphwire_json(tmp_path):
    G = learned_graph()
    path = tmp_path / "g.json"
    gw.io.to_json(G, path)
    data = json.loads(path.read_text())
    A = nx.node_link_graph(data, edges="edges")  # the keyword every supported networkx (>= 3.5) takes
    assert A.is_directed() and not A.is_multigraph()
    assert list(A.edges(data=True)) == list(G.edges(data=True))
    assert dict(A.nodes(data=True)) == dict(G.nodes(data=True))
    if NX >= (3, 6):  # the default key became "edges"
        assert list(nx.node_link_graph(data).edges) == list(G.edges)


def test_links_files_both_ways(tmp_path):
    G = learned_graph()
    text = gw.io.to_json(G, tmp_path / "old.json", edges_key="links")
    data = json.loads(text)
    assert "links" in data and "edges" not in data
    assert list(nx.node_link_graph(data, edges="links").edges) == list(G.edges)
    assert list(gw.io.load(tmp_path / "old.json").edges(data=True)) == list(G.edges(data=True))
    # what networkx writes, either key, graphwire reads
    for key in ("edges", "links"):
        written = nx.node_link_data(G, edges=key)
        assert list(gw.io.from_node_link(written).edges(data=True)) == list(G.edges(data=True))
    both = dict(data, edges=data["links"])
    with pytest.raises(FormatError, match="both 'edges' and the legacy 'links'"):
        gw.io.from_node_link(both)
    with pytest.raises(ParameterError, match="edges_key must be one of"):
        gw.io.to_json(G, edges_key="arcs")


def test_networkx_read_dot_then_one_call_gives_typed_attributes(tmp_path):
    G = learned_graph()
    path = tmp_path / "g.dot"
    gw.io.to_dot(G, path)
    M = nx.nx_pydot.read_dot(path)
    raw = next(iter(M.edges(data=True)))[2]
    assert raw.get("weight") is None and isinstance(raw["gw_weight"], str)  # what networkx alone gives
    H = gw.io.from_nx_dot(M)
    assert list(H.edges(data=True)) == list(G.edges(data=True))
    assert dict(H.nodes(data=True)) == dict(G.nodes(data=True))
    assert all(isinstance(w, float) for *_, w in H.edges(data="weight"))
    assert H.graph["graphwire"] == gw.io.load(path).graph["graphwire"]
    with pytest.raises(FormatError, match="undirected"):
        gw.io.from_nx_dot(nx.Graph([(0, 1)]))
    with pytest.raises(ParameterError, match="read_dot returned"):
        gw.io.from_nx_dot("digraph { a -> b }")


def test_graphml_has_typed_attributes_and_round_trips(tmp_path):
    G = learned_graph()
    path = tmp_path / "g.graphml"
    gw.io.to_graphml(G, path)
    text = path.read_text()
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    types = dict(re.findall(r'attr.name="(\w+)" attr.type="(\w+)"', text))
    assert types["weight"] == "double" and types["active"] == "boolean" and types["learned"] == "boolean"
    assert types["channels"] in ("int", "long") and types["role"] == "string" and types["label"] == "string"
    M = nx.read_graphml(path)  # networkx's own reader: ids are text, values typed
    e = M.edges["in:put", "2"]
    assert isinstance(e["weight"], float) and isinstance(e["active"], bool)
    assert json.loads(e["op_weights"]) == {"a": 0.25, "b": 0.75}  # no GraphML type for a dict: JSON text
    assert M.nodes["node one"]["channels"] == 16 and M.nodes["node one"]["label"] == "node one"
    back = gw.io.load(path)  # graphwire's reader restores labels and JSON values
    assert list(back.edges(data=True)) == list(G.edges(data=True))
    assert dict(back.nodes(data=True)) == dict(G.nodes(data=True))
    assert back.graph["graphwire"] == gw.io.loads(gw.io.to_json(G)).graph["graphwire"]
    assert gw.io.loads(text, format="graphml").number_of_edges() == G.number_of_edges()


def test_graphml_of_a_trained_network_reads_back_in_networkx():
    import torch

    net = gw.compile(gw.generators.complete(3), in_channels=2, channels=2, wiring="sigmoid")
    with torch.no_grad():
        net.wiring.logit.normal_()
    H = net.write_back()
    M = nx.parse_graphml(gw.io.to_graphml(H), node_type=int)
    for u, v, d in H.edges(data=True):
        assert M.edges[u, v]["weight"] == pytest.approx(d["weight"]) and M.edges[u, v]["gate"] == pytest.approx(d["gate"])


def test_bad_graphml_is_a_format_error():
    with pytest.raises(FormatError, match="malformed GraphML"):
        gw.io.loads("<graphml><graph", format="graphml")
    undirected = gw.io.to_graphml(gw.generators.chain(1)).replace('edgedefault="directed"', 'edgedefault="undirected"')
    with pytest.raises(FormatError, match="undirected"):
        gw.io.loads(undirected, format="graphml")
    G = gw.generators.chain(1)
    G.nodes[0]["label"] = "x"
    with pytest.raises(gw.errors.AttributeValueError, match="'label'"):
        gw.io.to_graphml(G)


def test_cli_exports_graphml(tmp_path, capsys):
    G = learned_graph()
    gw.io.to_json(G, tmp_path / "g.json")
    assert main(["export", str(tmp_path / "g.json"), "-o", str(tmp_path / "g.graphml")]) == 0
    assert nx.read_graphml(tmp_path / "g.graphml").number_of_edges() == G.number_of_edges()
    capsys.readouterr()
    assert main(["info", str(tmp_path / "g.graphml"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["edges"] == G.number_of_edges()

