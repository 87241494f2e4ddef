"""What users naturally try in their first hour."""

import copy
import io
import pickle

import networkx as nx
import pytest
import torch

import graphwire as gw


def test_a_plain_digraph_compiles_sources_in_sinks_out():
    G = nx.DiGraph([("a", "b"), ("b", "c"), ("a", "c")])
    net = gw.compile(G, in_channels=3, channels=4, wiring="sigmoid")
    assert net(torch.randn(2, 3, 5, 5)).shape == (2, 4, 5, 5)
    roles = {n: d.get("role", "hidden") for n, d in net.graph.nodes(data=True)}
    assert roles == {"a": "input", "b": "hidden", "c": "output"}
    assert "role" not in G.nodes["a"]  # the caller's graph is not touched


def test_tuple_labels_compile_with_safe_module_names():
    G = nx.DiGraph([(u, v) for u, v in nx.grid_2d_graph(3, 3).edges if u < v])
    net = gw.compile(G, in_channels=1, channels=2)
    assert {k.split(".")[1] for k in net.state_dict() if k.startswith("nodes.")} == {
        f"{i}_{j}" for i in range(3) for j in range(3) if (i, j) != (2, 2)}  # the output node (identity) has no state
    assert all(c not in k for k in net.state_dict() for c in " (),")
    x = torch.randn(2, 1, 6, 6)
    torch.testing.assert_close(net(x), net(x))
    with pytest.raises(gw.errors.AttributeValueError, match="label"):
        gw.validate(G)  # saving still needs int or str labels


def test_labels_whose_names_collide_are_refused():
    G = nx.DiGraph([("a.b", "c"), ("a_b", "c")])
    with pytest.raises(gw.errors.ParameterError, match="same module name 'a_b'"):
        gw.compile(G, in_channels=1, channels=2)


@pytest.mark.parametrize("wiring", ["static", "sigmoid", "ddw", "dnw"])
def test_nets_pickle_deepcopy_and_torch_save(wiring):
    G = gw.generators.watts_strogatz(6, 2, 0.5, seed=2)
    net = gw.compile(G, in_channels=2, channels=3, wiring=wiring).eval()
    x = torch.randn(2, 2, 5, 5)
    y = net(x)
    for clone in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        torch.testing.assert_close(clone(x), y)
        assert clone.runtime.wiring is clone.wiring and clone.runtime.nodes is clone.nodes
    buf = io.BytesIO()
    torch.save(net, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    torch.testing.assert_close(loaded(x), y)


def test_channel_nodes_default_to_one_channel():
    G = gw.generators.layered([4, 8, 2])
    for n in G:
        G.nodes[n]["op"] = "channel"
    net = gw.compile(G, in_channels=3, wiring="dnw", k=20)
    assert net.out_channels == 2 and net(torch.randn(2, 3, 6, 6)).shape == (2, 2, 6, 6)
    assert net.wiring.k == 20
