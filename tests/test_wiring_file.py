"""A written-back graph is the architecture: it records what ``compile`` needs, so a pruned wiring
file rebuilds its network with no other argument, and with the parameters carried over it
computes what the network recompiled in memory computes."""

import json

import networkx as nx
import pytest
import torch

import graphwire as gw
from graphwire.errors import AttributeValueError, FormatError, ParameterError
from graphwire.wiring import ddw


def _scramble(net: torch.nn.Module, seed: int = 0) -> None:
    """Parameters away from their initial values (as after training), BatchNorm statistics too."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.5)
        for name, b in net.named_buffers():
            if name.endswith("running_var"):
                b.uniform_(0.5, 1.5, generator=g)
            elif name.endswith("running_mean"):
                b.normal_(0, 0.2, generator=g)


def _conv_graph():
    return gw.generators.watts_strogatz(10, 4, 0.5, seed=3)


def _cases():
    vec = dict(in_channels=3, channels=4, default_op="linear", dims=0)
    img = dict(in_channels=2, channels=3)
    x_vec, x_img = torch.randn(5, 3), torch.randn(2, 2, 8, 8)
    dnw_graph = gw.generators.layered([3, 4, 4, 2], seed=1)
    return [
        ("static", _conv_graph(), img, {}, x_img, dict(keep=0.6)),
        ("sigmoid", _conv_graph(), img, {}, x_img, dict(keep=0.6)),
        ("sigmoid", gw.generators.complete(5), vec, {"per_channel": True}, x_vec, dict(keep=0.6)),
        ("sigmoid", _conv_graph(), img, {"carry": True, "init": 1.0}, x_img, dict(keep=0.6)),
        ("l0", gw.generators.complete(5), vec, {"lam": 0.1}, x_vec, dict(attr="active")),
        ("dnw", dnw_graph, dict(in_channels=3, channels=1, default_op="channel"), {"k": 0.6}, torch.randn(2, 3, 6, 6),
         dict(attr="active")),
        ("ddw", _conv_graph(), img, {}, x_img, dict(keep=0.7)),
        ("darts", gw.generators.darts_cell(2, ops=["none", "skip_connect", "sep_conv_3x3"], channels=4),
         dict(in_channels=4), {}, torch.randn(2, 4, 6, 6), None),
        ("depth", gw.generators.depth_chain(3, width=5), dict(in_channels=2, dims=0, default_op="linear"), {},
         torch.randn(4, 2), None),
    ]


CASES = _cases()


@pytest.mark.parametrize("method,G,kw,opts,x,how", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_a_pruned_wiring_file_rebuilds_the_network_recompiled_in_memory(tmp_path, method, G, kw, opts, x, how):
    torch.manual_seed(0)
    net = gw.compile(G, wiring=method, **kw, **opts)
    _scramble(net)
    net.eval()
    if method == "ddw":
        ddw.record(net, [(x, None)])
    H = net.write_back()
    record = H.graph["graphwire"]
    assert record["version"] == gw.SCHEMA_VERSION
    assert record["compile"]["in_channels"] == kw["in_channels"]
    assert all("op" in d for _, d in H.nodes(data=True))
    if method == "darts":
        P = gw.derive(H)
    elif method == "depth":
        P = H
    else:
        P = gw.prune(H, ensure_path=True, **how)
    path = tmp_path / "pruned.json"
    gw.io.to_json(P, path)
    L = gw.io.load(path)

    torch.manual_seed(1)  # whatever is not carried over starts from the same draws
    in_memory = net.recompile(P).eval()
    torch.manual_seed(1)
    from_file = gw.compile(L, init_from=net).eval()
    expected = {"dnw": "static", "darts": "static"}.get(method, method)
    assert in_memory.wiring.name == from_file.wiring.name == expected
    assert from_file.wiring.spec == in_memory.wiring.spec
    assert list(from_file.plan.edges) == list(in_memory.plan.edges)
    a, b = in_memory.state_dict(), from_file.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)
    with torch.no_grad():
        torch.testing.assert_close(from_file(x), in_memory(x))
    # no argument at all: the same architecture, fresh parameters
    bare = gw.compile(L)
    assert {k: v.shape for k, v in bare.state_dict().items()} == {k: v.shape for k, v in b.items()}


def test_a_pruned_network_equals_its_masked_parent_when_rebuilt_from_the_file(tmp_path):
    """Masking edges then pruning them: the file's network computes what the masked parent does."""
    torch.manual_seed(1)
    net = gw.compile(_conv_graph(), in_channels=2, channels=3, wiring="sigmoid")
    _scramble(net, 2)
    net.eval()
    weakest = sorted(net.plan.edges, key=lambda e: float(net.write_back().edges[e]["weight"]))[:6]
    net.mask_edges(weakest)
    P = gw.prune(net.write_back(), attr="active")
    gw.io.to_json(P, tmp_path / "p.json")
    small = gw.compile(gw.io.load(tmp_path / "p.json"), init_from=net).eval()
    x = torch.randn(3, 2, 8, 8)
    with torch.no_grad():  # sigmoid's carry sums a node's strength in another order on the pruned graph
        torch.testing.assert_close(small(x), net(x), rtol=2e-5, atol=1e-4)


def test_arguments_override_the_record_and_options_apply_to_the_recorded_wiring():
    net = gw.compile(gw.generators.chain(2), in_channels=3, channels=4, wiring="sigmoid", penalty=0.1)
    H = net.write_back()
    assert gw.compile(H, penalty=0.5).wiring.spec == gw.wiring.Sigmoid(penalty=0.5)
    assert gw.compile(H, wiring="static").wiring.name == "static"
    assert gw.compile(H, wiring=gw.wiring.L0()).wiring.name == "l0"
    again = net.recompile(H, fresh=True)
    assert again.wiring.spec == net.wiring.spec and again.in_channels == 3
    with pytest.raises(gw.errors.WiringError, match="no option 'penalti'.*did you mean 'penalty'"):
        gw.compile(H, penalti=0.5)
    with pytest.raises(gw.errors.WiringError, match="no option 'penalti'.*did you mean 'penalty'"):
        net.recompile(gw.generators.chain(2), penalti=0.5)  # a graph with no record: the network's wiring
    assert net.recompile(gw.generators.chain(2), penalty=0.2).wiring.spec == gw.wiring.Sigmoid(penalty=0.2)


def test_a_graph_without_a_record_needs_in_channels_and_says_so():
    with pytest.raises(ParameterError, match="compile needs in_channels="):
        gw.compile(gw.generators.chain(2), channels=4)
    net = gw.compile(gw.generators.chain(2), in_channels=3, channels=4)  # no record: static wiring
    assert net.wiring.name == "static"


@pytest.mark.parametrize("field,value,message", [
    ("in_channels", 0, r"graphwire\.compile\.in_channels must be a positive integer"),
    ("dims", 3, r"graphwire\.compile\.dims must be 0, 1 or 2"),
    ("resize", "nearest", r"graphwire\.compile\.resize must be one of"),
    ("wiring", "sigmoid", r"graphwire\.compile\.wiring must be \{'method'"),
    ("op_options", {"conv": 3}, r"graphwire\.compile\.op_options must be a mapping"),
    ("in_chanels", 3, r"unknown key 'in_chanels' \(did you mean 'in_channels'\?\)"),
])
def test_a_bad_record_is_named_when_the_file_loads(field, value, message):
    H = gw.compile(gw.generators.chain(2), in_channels=3, channels=4, wiring="sigmoid").write_back()
    doc = json.loads(gw.io.to_json(H))
    doc["graph"]["graphwire"]["compile"][field] = value
    with pytest.raises((AttributeValueError, FormatError), match=message):
        gw.io.loads(json.dumps(doc))


def test_schema_1_files_still_load_and_compile_with_arguments():
    G = gw.generators.chain(2)
    doc = json.loads(gw.io.to_json(G))
    doc["graph"]["graphwire"]["version"] = 1
    old = gw.io.loads(json.dumps(doc))
    assert gw.compile(old, in_channels=3, channels=4).in_channels == 3


def test_identity_nodes_keep_following_their_inputs_width_after_pruning():
    """A written-back concat -> identity output does not pin its width: pruning an input shrinks it."""
    G = gw.generators.complete(4)
    out = [n for n, d in G.nodes(data=True) if d.get("role") == "output"][0]
    G.nodes[out]["agg"] = "concat"
    net = gw.compile(G, in_channels=2, channels=3, default_op="linear", dims=0, wiring="sigmoid")
    H = net.write_back()
    assert "channels" not in H.nodes[out] and H.nodes[out]["op"] == "identity"
    P = gw.prune(H, keep=4, ensure_path=True)
    small = net.recompile(P)
    assert small.out_channels == 3 * P.in_degree(out)
    assert nx.is_frozen(small.graph)


def _factories():
    from graphwire import models

    ws = gw.generators.watts_strogatz(8, 4, 0.75, seed=1)
    img32 = torch.randn(2, 3, 32, 32)
    return [
        ("randwire small", lambda: models.randwire(nodes=6, channels=4, stem_stride=1, image_size=32,
                                                   head_channels=16), img32, dict(keep=0.7)),
        ("randwire regular", lambda: models.randwire(regime="regular", nodes=10, channels=4, stem_stride=1,
                                                     image_size=32, head_channels=16), img32, dict(keep=0.7)),
        ("wired_mlp", lambda: models.wired_mlp(ws, in_channels=5, channels=6), torch.randn(4, 5), dict(keep=0.7)),
        ("wired_conv1d", lambda: models.wired_conv1d(ws, in_channels=2, channels=4), torch.randn(2, 2, 16),
         dict(keep=0.7)),
        ("wired_conv2d", lambda: models.wired_conv2d(ws, in_channels=1, channels=4), torch.randn(2, 1, 12, 12),
         dict(keep=0.7)),
        ("mobilenet_v1", lambda: models.mobilenet_v1(width_mult=0.25, image_size=32), img32, None),
        ("darts_network", lambda: models.darts_network("DARTS_V2", channels=4, cells=3, num_classes=10,
                                                       image_size=32), img32, None),
        ("darts_search_net", lambda: models.darts_search_net(in_channels=3, n_nodes=2, channels=4), img32, "derive"),
        ("dnw_mobilenet_v1", lambda: models.dnw_mobilenet_v1(width_mult=0.1, stages=[(8, 16, 1, 1), (16, 16, 2, 1)]),
         img32, dict(attr="active")),
        ("dnw_tiny", lambda: models.dnw_tiny(sizes=(4, 8, 8), k=40, features=6), img32, dict(attr="active")),
        ("ddw_resnet", lambda: models.ddw_resnet((1, 1), channels=4), img32, dict(keep=0.8)),
        ("LearntDepthNet", lambda: models.LearntDepthNet(in_channels=2, num_classes=3, max_depth=3, channels=5),
         torch.randn(4, 2), None),
    ]


FACTORIES = _factories()


@pytest.mark.parametrize("name,build,x,how", FACTORIES, ids=[f[0] for f in FACTORIES])
def test_every_model_factory_writes_a_wiring_file_that_rebuilds_its_core(tmp_path, name, build, x, how):
    torch.manual_seed(0)
    model = build().eval()
    core = model.wired
    _scramble(core)
    seen = {}  # the stem's output is the core's input
    hook = core.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0]))
    with torch.no_grad():
        model(x)
    hook.remove()
    if core.wiring.name == "ddw":
        ddw.record(core, [(seen["x"], None)])
    H = core.write_back()
    P = gw.derive(H) if how == "derive" else (H if how is None else gw.prune(H, ensure_path=True, **how))
    gw.io.to_json(P, tmp_path / "core.json")
    torch.manual_seed(1)
    in_memory = core.recompile(P).eval()
    torch.manual_seed(1)
    from_file = gw.compile(gw.io.load(tmp_path / "core.json"), init_from=core).eval()
    assert from_file.wiring.spec == in_memory.wiring.spec
    a, b = in_memory.state_dict(), from_file.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)
    with torch.no_grad():
        torch.testing.assert_close(from_file(seen["x"]), in_memory(seen["x"]))
