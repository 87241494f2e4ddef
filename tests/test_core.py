"""Compiler core v2: the inert plan, the runtime, one routing hook, typed specs, module layering."""

import ast
import copy
import dataclasses
import pathlib
import subprocess
import sys

import networkx as nx
import numpy as np
import pytest
import torch

import graphwire as gw
from graphwire.errors import ParameterError, WiringError
from graphwire.wiring import ddw

from _graphs import compare_executors, randomise_batchnorm

PKG = pathlib.Path(gw.__file__).parent


def _walk(value, seen=None):
    """Every object reachable through dataclass fields, lists, tuples and dicts."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return
    seen.add(id(value))
    yield value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        children = [getattr(value, f.name) for f in dataclasses.fields(value)] + list(vars(value).values())
    elif isinstance(value, dict):
        children = list(value.keys()) + list(value.values())
    elif isinstance(value, (list, tuple, set)):
        children = list(value)
    else:
        children = []
    for c in children:
        yield from _walk(c, seen)


@pytest.mark.parametrize("G", [gw.generators.watts_strogatz(8, 4, 0.75, seed=1), gw.generators.layered([3, 4, 2])])
def test_plan_is_inert_data(G):
    net = gw.compile(G, in_channels=2, channels=1 if "layered" in str(G.graph) else 3,
                     default_op="channel" if "layered" in str(G.graph) else "conv", wiring="sigmoid")
    kinds = {type(v) for v in _walk(net.plan)}
    assert not any(issubclass(k, (torch.Tensor, nx.Graph, torch.nn.Module)) for k in kinds), kinds
    assert np.ndarray in kinds  # index arrays are numpy
    assert not hasattr(net.plan, "graph")
    # the executors read the runtime's buffers, which move with the module (no _apply override)
    assert "_apply" not in type(net).__dict__
    bufs = dict(net.runtime.named_buffers())
    assert any(k.endswith("_src0") or k.endswith("_gidx") for k in bufs)
    net.double()
    assert all(b.dtype == torch.int64 for k, b in bufs.items() if k != "edge_mask")
    assert net.runtime.edge_mask.dtype == torch.float64


def test_graph_is_a_frozen_copy_and_mutating_the_input_changes_nothing():
    G = gw.generators.watts_strogatz(8, 4, 0.75, seed=2)
    net = gw.compile(G, in_channels=2, channels=3, wiring="sigmoid")
    edges = list(G.edges)
    G.remove_edge(*edges[0])
    G.nodes[1]["op"] = "sepconv"
    H = net.write_back()  # used to fail with a bare KeyError
    assert list(H.edges) == edges and H.nodes[1]["op"] == "conv"  # the compiled op, not the later edit
    assert nx.is_frozen(net.graph) and net.graph is not G
    with pytest.raises(nx.NetworkXError):
        net.graph.add_edge(0, 99)
    assert not nx.is_frozen(H)  # write_back gives an ordinary graph


def test_functional_call_uses_the_given_parameters():
    torch.manual_seed(0)
    net = gw.compile(gw.generators.watts_strogatz(10, 4, 0.5, seed=3), in_channels=2, channels=3,
                     wiring="sigmoid").eval()
    x = torch.randn(4, 2, 5, 5)
    params = {k: v.detach().clone() for k, v in net.named_parameters()}
    base = torch.func.functional_call(net, params, (x,))
    torch.testing.assert_close(base, net(x))
    doubled = {k: v * 2 if "weight" in k and "bn" not in k else v for k, v in params.items()}
    for ex in ("batched", "reference"):
        net.executor = ex
        swapped = torch.func.functional_call(net, doubled, (x,))
        assert not torch.allclose(swapped, base)
        ref = copy.deepcopy(net)
        with torch.no_grad():
            for k, v in ref.named_parameters():
                v.copy_(doubled[k])
        torch.testing.assert_close(swapped, ref(x))  # the same as a network holding those parameters
    # and gradients flow to the passed tensors (torch.func.grad)
    grads = torch.func.grad(lambda p: torch.func.functional_call(net, p, (x,)).sum())(params)
    assert all(g.abs().sum() > 0 for k, g in grads.items() if "logit" in k)


def _ddw_net(seed=0):
    torch.manual_seed(seed)
    G = gw.generators.stack(gw.generators.complete, 2, n=3)
    net = gw.compile(G, in_channels=2, channels=3, wiring="ddw")
    randomise_batchnorm(net, seed)
    with torch.no_grad():
        for r in net.wiring.routers.values():
            r.fc.weight.normal_(0, 2.0)
            r.fc.bias.normal_(0.3, 1.0)
    return net


def test_ddw_adjacency_is_the_same_from_both_executors():
    net = _ddw_net(1)
    x = torch.randn(5, 2, 6, 6)
    for mode in ("train", "eval"):
        getattr(net, mode)()
        adj = {}
        for ex in ("batched", "reference"):
            net.executor = ex
            with torch.no_grad():
                net(x)
            adj[ex] = net.wiring.adjacency()
        for s in adj["batched"]:
            torch.testing.assert_close(adj["batched"][s][1], adj["reference"][s][1])
        assert any((a[1] == 0).any() for a in adj["batched"].values()) or mode == "train"
    compare_executors(net, x)


def test_ddw_statistics_go_stale_after_training():
    net = _ddw_net(2)
    x = torch.randn(16, 2, 6, 6)
    with ddw.recording(net) as stats:
        net(x)
    assert stats["samples"] == 16 and net.training  # eval inside the block, the mode restored after
    before = net.write_back()
    assert {round(d["weight"], 3) for *_, d in before.edges(data=True)} != {1.0}
    # train so that every routed edge closes at evaluation
    wired = {id(p) for p in net.wiring.parameters()}
    opt = torch.optim.SGD([p for p in net.parameters() if id(p) not in wired], lr=0.01)
    net.train()
    for _ in range(20):
        opt.zero_grad()
        net(x).square().mean().backward()
        opt.step()
    with torch.no_grad():  # what the routers learned: every routed edge closed
        for r in net.wiring.routers.values():
            r.fc.bias.fill_(-10.0)
    with pytest.raises(WiringError, match="since the last training step"):
        net.write_back()  # used to report the old open rates
    ddw.record(net, [(x, None)])
    after = net.write_back()
    routed = net.wiring.routed_mask.tolist()
    rates = [d["weight"] for *_, d in after.edges(data=True)]
    net.eval()
    with torch.no_grad():
        net(x)
    live = (net.wiring.last_coefficients() > 0).float().mean(0).tolist()
    assert all(abs(r - o) < 1e-6 for r, o, is_routed in zip(rates, live, routed) if is_routed)
    assert all(r == 0 for r, is_routed in zip(rates, routed) if is_routed)


def test_ddw_recording_errors():
    net = _ddw_net(3)
    with pytest.raises(WiringError, match="no samples"):
        with ddw.recording(net):
            pass
    static = gw.compile(gw.generators.chain(2), in_channels=2, channels=2)
    with pytest.raises(WiringError, match="wiring='ddw'"):
        ddw.record(static, [])


def test_prune_per_node_with_threshold_is_an_error_and_per_node_budgets_work():
    G = gw.generators.complete(3)
    for i, e in enumerate(G.edges):
        G.edges[e]["weight"] = float(i + 1)
    with pytest.raises(ParameterError, match="per_node='in'.*keep"):
        gw.prune(G, threshold=2.0, per_node="in")
    with pytest.raises(TypeError):
        gw.prune(G, 0.5)  # keyword-only: a bare number used to mean a threshold
    P = gw.prune(G, keep=1, per_node="in", ensure_path=True)
    for v in P:
        assert P.in_degree(v) <= 1 or v == max(P)  # one input each (the output may keep the path's)
    strongest_in = {v: max(G.in_edges(v), key=lambda e: G.edges[e]["weight"]) for v in G if G.in_degree(v)}
    assert all(strongest_in[v] in P.edges for v in P if v in strongest_in and P.in_degree(v))
    Q = gw.prune(G, keep=2, per_node="out")
    assert all(Q.out_degree(u) <= 2 for u in Q)


def test_typed_specs_match_string_names_and_classes():
    from graphwire.wiring.base import WiringSpec
    from graphwire.wiring.registry import WIRINGS

    def spec_matches_class(spec):  # the class's options are the spec itself
        return WIRINGS.get(spec.method).Options is spec

    specs = [gw.wiring.Static, gw.wiring.Sigmoid, gw.wiring.DNW, gw.wiring.DDW, gw.wiring.Darts,
             gw.wiring.Depth, gw.wiring.L0]
    assert {s.method for s in specs} == set(WIRINGS.list())
    for s in specs:
        assert issubclass(s, WiringSpec) and spec_matches_class(s), s
    G = gw.generators.layered([3, 4, 2])
    kw = dict(in_channels=2, channels=1, default_op="channel")
    torch.manual_seed(0)
    a = gw.compile(G, wiring=gw.wiring.DNW(k=0.5, refresh=2), **kw)
    torch.manual_seed(0)
    b = gw.compile(G, wiring="dnw", k=0.5, refresh=2, **kw)
    assert a.wiring.refresh == 2 and a.wiring.k == b.wiring.k
    for k in a.state_dict():
        torch.testing.assert_close(a.state_dict()[k], b.state_dict()[k])
    with pytest.raises(WiringError, match="in its spec or as keywords"):
        gw.compile(G, wiring=gw.wiring.DNW(k=0.5), refresh=3, **kw)
    with pytest.raises(WiringError, match="no option 'refersh'.*did you mean 'refresh'"):
        gw.compile(G, wiring="dnw", refersh=3, **kw)
    with pytest.raises(WiringError, match="method name"):
        gw.compile(G, wiring=3, **kw)


def test_register_wiring_refuses_to_overwrite_unless_asked():
    from graphwire.wiring.registry import WIRINGS
    from graphwire.wiring.static import StaticWiring

    class Half(StaticWiring):
        name = "static"

        def coefficients(self):
            return self.weight * 0.5

    with pytest.raises(WiringError, match="already registered"):
        gw.register_wiring(Half)
    try:
        gw.register_wiring(overwrite=True)(Half)
        assert WIRINGS.get("static") is Half
    finally:
        WIRINGS.register("static", StaticWiring, overwrite=True)


def test_state_dicts_of_schema_version_1_still_load():
    """Before the runtime existed the edge mask was saved as ``wiring.edge_mask``."""
    G = gw.generators.watts_strogatz(8, 4, 0.5, seed=4)
    net = gw.compile(G, in_channels=2, channels=3, wiring="sigmoid")
    net.mask_edges([next(iter(G.edges))])
    old = {("wiring.edge_mask" if k == "runtime.edge_mask" else k): v for k, v in net.state_dict().items()}
    fresh = gw.compile(G, in_channels=2, channels=3, wiring="sigmoid")
    fresh.load_state_dict(old)
    assert fresh.runtime.masked and torch.equal(fresh.runtime.edge_mask, net.runtime.edge_mask)
    x = torch.randn(2, 2, 5, 5)
    torch.testing.assert_close(fresh.eval()(x), net.eval()(x))


def test_mask_edges_names_bad_edges():
    net = gw.compile(gw.generators.chain(2), in_channels=2, channels=2)
    with pytest.raises(ParameterError, match=r"\(u, v\) pairs, got 5"):
        net.mask_edges([5])
    with pytest.raises(ParameterError, match="not in the graph"):
        net.mask_edges([(0, 3)])


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: pathlib.Path, modules: set[str], mod: str | None = None) -> set[str]:
    """graphwire modules a file imports (absolute names), at any depth in the file and under
    ``if TYPE_CHECKING:`` too; importing ``a.b.c`` also imports the packages ``a.b`` and ``a``
    (except the file's own packages, imported before it)."""
    mod = mod or _module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    own = {".".join(mod.split(".")[:i]) for i in range(1, mod.count(".") + 2)}
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets.append(target)
            targets += [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in modules]
        elif isinstance(node, ast.Import):
            targets += [a.name for a in node.names]
        for t in targets:
            parts = t.split(".")
            out.update(".".join(parts[:i]) for i in range(2, len(parts) + 1) if ".".join(parts[:i]) in modules)
    return out - own


def module_graph() -> nx.DiGraph:
    """The import graph between the package's modules (``graphwire.x.y``), packages included."""
    paths = {_module_name(p): p for p in PKG.rglob("*.py")}
    D = nx.DiGraph()
    for mod, path in paths.items():
        if mod in ("graphwire", "graphwire.__main__"):
            continue
        D.add_node(mod)
        D.add_edges_from((mod, t) for t in _imports(path, set(paths)) if t != "graphwire")
    return D


# lower layers never import higher ones; a module is in the layer of its longest listed prefix
LAYERS = [
    {"errors", "_gc", "registry"},
    {"contract"},
    {"edgeset"},
    {"graph"},
    {"io", "generators", "transforms"},
    {"ops", "viz", "data", "plan"},
    {"wiring", "executors"},
    {"compiler"},
    {"nn", "models", "train"},
    {"demo", "cli", "search"},
]


def _layer(mod: str) -> int:
    parts = mod.split(".")[1:]
    for i in range(len(parts), 0, -1):
        for level, layer in enumerate(LAYERS):
            if ".".join(parts[:i]) in layer:
                return level
    raise AssertionError(f"module {mod} is in no layer")


def test_module_layers_have_no_cycles_and_point_down():
    D = module_graph()
    assert nx.is_directed_acyclic_graph(D), list(nx.simple_cycles(D))[:3]
    up = [(u, v) for u, v in D.edges if _layer(v) > _layer(u)]
    assert not up, up
    assert not any(m.startswith("graphwire.train") for m in nx.descendants(D, "graphwire.io") | nx.descendants(D, "graphwire.viz"))


def test_the_layer_test_sees_type_checking_and_function_level_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from graphwire.compiler.module import WiredNet\n"
                 "def g():\n    from graphwire import plan\n")
    mods = {"graphwire.compiler", "graphwire.compiler.module", "graphwire.plan"}
    assert _imports(f, mods, "graphwire.demo") == mods


def test_graph_only_work_does_not_import_torch(tmp_path):
    code = ("import sys, graphwire as gw; from graphwire import io, viz, transforms, generators; "
            "G = gw.generators.watts_strogatz(8, 4, 0.5, seed=1); "
            "[G.edges[e].update(weight=i + 1.0) for i, e in enumerate(G.edges)]; "
            "gw.prune(gw.share(G), keep=0.5, attr='share', ensure_path=True); "
            "h = gw.io.History(edges=list(G.edges)); h.add({'weight': [1.0] * len(G.edges)}, epoch=0, step=0); "
            "gw.io.to_html(G, h); assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_prune_is_a_function_and_modules_are_not_shadowed():
    import importlib

    assert callable(gw.prune) and callable(gw.derive) and callable(gw.share)
    assert importlib.import_module("graphwire.transforms.pruning").prune is gw.prune
    from graphwire import executors

    assert isinstance(executors.batched, type(sys)) and isinstance(executors.reference, type(sys))
