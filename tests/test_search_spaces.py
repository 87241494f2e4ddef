"""Search spaces: graphs from flat choices, canonical hashes, mutate/expand, errors naming the choice."""

import random
import subprocess
import sys

import networkx as nx
import pytest

from graphwire import generators
from graphwire.errors import CycleError, GraphError, ParameterError
from graphwire.search import (
    HASH_VERSION,
    CellSpace,
    GeneratorSpace,
    MacroSpace,
    graph_hash,
    space,
)
from graphwire.search._graphio import graph_from_text, graph_to_text
from graphwire.search.spaces import space_from_spec


def test_cell_space_roundtrip_and_size():
    sp = CellSpace(blocks=2)
    cells = sp.enumerate()
    assert len(cells) == len({sp.hash(G) for G in cells}) == 325
    assert len(sp.initial()) == 10  # 4 ops, unordered pairs with repetition
    rng = random.Random(3)
    for _ in range(20):
        G = sp.sample(rng)
        again = sp.decode(sp.encode(G))
        assert sp.hash(again) == sp.hash(G)
        text = graph_to_text(G)
        back = graph_from_text(text)
        assert graph_hash(back) == sp.hash(G)  # the stored JSON hashes the same
        assert sp.encode(back) == sp.encode(G)


def test_cell_hash_ignores_the_order_of_a_blocks_halves():
    sp = CellSpace(blocks=2)
    base = {k: v[0] for k, v in sp.dims.items()}
    a = sp.decode(dict(base, blocks=1, b0_op1="conv_k3", b0_op2="identity"))
    b = sp.decode(dict(base, blocks=1, b0_op1="identity", b0_op2="conv_k3"))
    c = sp.decode(dict(base, blocks=1, b0_op1="conv_k5", b0_op2="identity"))
    assert sp.hash(a) == sp.hash(b) != sp.hash(c)
    assert HASH_VERSION.startswith("wl3-nx")


def test_cell_expand_adds_one_block_and_network_stacks():
    sp = CellSpace(blocks=2, stack=3)
    G = sp.initial()[0]
    kids = sp.expand(G)
    assert len(kids) == 36 and all(sp.encode(k)["blocks"] == 2 for k in kids)
    assert sp.expand(kids[0]) == []
    N = sp.network(kids[0])
    assert nx.is_directed_acyclic_graph(N)
    assert sum(1 for _, d in N.nodes(data=True) if d.get("role") == "output") == 1
    assert N.number_of_nodes() == 1 + 3 * (kids[0].number_of_nodes() - 1)


def test_mutate_changes_exactly_one_active_choice():
    sp = CellSpace(blocks=2)
    rng = random.Random(0)
    for _ in range(20):
        G = sp.sample(rng)
        M = sp.mutate(G, rng)
        a, b = sp.canonical(sp.encode(G)), sp.encode(M)
        assert sp.hash(M) != sp.hash(G)
        if a["blocks"] != b["blocks"]:  # adding/removing a block is the one change
            assert all(a[k] == b[k] for k in set(sp.active(a)) & set(sp.active(b)) - {"blocks"})
        else:  # one choice, possibly re-sorted within its block
            assert sum(a[k] != b[k] for k in a) <= 4


def test_macro_space_follows_the_papers_rules():
    sp = MacroSpace(layers=4)
    choices = {k: v[0] for k, v in sp.dims.items()}
    choices.update(l2_skip0=1, l3_skip1=1)  # l1 has no input, l2 reads l0, l3 reads l1
    G = sp.decode(choices)
    assert set(G.predecessors("l0")) == {"image"} and set(G.predecessors("l1")) == {"image"}
    assert set(G.predecessors("l3")) == {"l1"}
    assert set(G.predecessors("out")) == {"l2", "l3"}  # nobody reads them: concatenated
    assert G.nodes["out"]["agg"] == "concat" and G.nodes["l2"]["op"] == "conv_k3"
    assert sp.anchor_dims()["l3_skip1"] == (3, 1)
    assert sp.encode(G) == sp.check_choices(choices)


def test_macro_space_compiles_with_per_node_ops():
    torch = pytest.importorskip("torch")
    from graphwire import models
    from graphwire.search import ops

    sp = MacroSpace(layers=3, heights=(3, 5), widths=(1, 3), filters=(4, 8), strides=(1, 2))
    G = sp.sample(random.Random(1))
    ops.ensure_ops(G)
    m = models.wired_conv2d(G, in_channels=1, num_classes=10, channels=4, wiring="static", op="conv")
    assert m(torch.randn(2, 1, 12, 12)).shape == (2, 10)


def test_generator_space_builds_every_family():
    sp = GeneratorSpace(nodes=(6,), seeds=(0,))
    for fam in ("er", "ba", "ws"):
        c = {k: v[0] for k, v in sp.dims.items()}
        c["family"] = fam
        G = sp.decode(c)
        assert G.number_of_nodes() >= 6
        assert G.graph["search"]["choices"]["family"] == fam
    assert "er_p" not in sp.active(dict(c, family="ws"))


def test_invalid_user_graph_names_the_choice():
    from graphwire.search._testing import broken_chains

    assert broken_chains.decode({"depth": 3, "fanout": 0}).number_of_nodes() == 5
    with pytest.raises(CycleError, match=r"space 'broken_chains': the choices depth=3, fanout=1 made an invalid"):
        broken_chains.decode({"depth": 3, "fanout": 1})
    with pytest.raises(ParameterError, match=r"choice depth=7 is not one of \[1, 2, 3\]"):
        broken_chains.decode({"depth": 7, "fanout": 0})
    assert space_from_spec("graphwire.search._testing:broken_chains") is broken_chains


def test_decorated_space_checks_its_arguments():
    with pytest.raises(ParameterError, match="choice 'width' is not a parameter"):
        @space(width=[1, 2])
        def f(depth):
            return generators.chain(depth)
    with pytest.raises(GraphError, match="only graphs made by a space"):
        CellSpace().encode(generators.chain(2))
    with pytest.raises(ParameterError, match="unknown space 'nope'"):
        space_from_spec("nope")


def test_graph_work_does_not_import_torch_or_optuna():
    code = ("import sys, random; from graphwire import search; sp = search.CellSpace(); "
            "G = sp.sample(random.Random(0)); sp.hash(G); sp.mutate(G, random.Random(1)); "
            "search.make_strategy('evolution').setup(sp).propose([], 3); "
            "print('torch' in sys.modules, 'optuna' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
