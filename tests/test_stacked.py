"""Stacked ops: a step's nodes as one module, with a state dict that stays keyed by node label."""

import pytest
import torch
from torch import nn

import graphwire as gw
from graphwire.compiler.module import step_key
from graphwire.errors import ParameterError
from graphwire.ops.registry import build_op
from graphwire.ops.step import KernelOp, ModuleStep, StepOp

from _graphs import compare_executors, randomise_batchnorm

OPS = [("conv", 2, {}), ("sepconv", 2, {"kernel_size": 5, "dilation": 2}), ("linear", 0, {}),
       ("conv", 1, {"affine": False})]


def _net(op, dims, options, **kw):
    G = gw.generators.layered([3, 4, 4, 1])
    return gw.compile(G, in_channels=2, channels=3, default_op=op, dims=dims, wiring="sigmoid",
                      op_options={op: options} if options else None, **kw)


@pytest.mark.parametrize("op,dims,options", OPS)
def test_seeded_stacked_init_draws_what_a_module_per_node_draws(op, dims, options):
    """Same seed, same parameters: stacked or built node by node in plan order."""
    torch.manual_seed(7)
    net = _net(op, dims, options)
    torch.manual_seed(7)
    expect = {}
    for nd in net.plan.nodes:
        m = build_op(nd.op, nd.in_ch, nd.out_ch, stride=nd.stride, dims=dims, options=options if nd.op == op else None)
        for name, t in m.state_dict().items():
            expect[f"nodes.{nd.key}.{name}"] = t
    got = {k: v for k, v in net.state_dict().items() if k.startswith("nodes.")}
    assert got.keys() == expect.keys()
    for k in expect:
        assert got[k].shape == expect[k].shape, k
        torch.testing.assert_close(got[k], expect[k], rtol=0, atol=0)


@pytest.mark.parametrize("op,dims,options", OPS)
def test_stacked_steps_equal_the_reference_executor(op, dims, options):
    torch.manual_seed(0)
    net = _net(op, dims, options)
    assert len(net.nodes) == 0 and len(net.steps) == len(net.plan.steps)
    randomise_batchnorm(net, 0, gates=1.0)
    x = torch.randn(4, 2) if dims == 0 else torch.randn(4, 2, *([7] * dims))
    compare_executors(net, x, 1e-5)


def test_state_dict_round_trips_into_a_fresh_net_and_a_node_view_reads_and_edits_it():
    torch.manual_seed(0)
    a = _net("conv", 2, {})
    randomise_batchnorm(a, 1, gates=1.0)
    a.train()
    a(torch.randn(3, 2, 5, 5))  # move the running statistics and num_batches_tracked
    sd = a.state_dict()
    assert not any(k.startswith("steps.") for k in sd)
    assert sd["nodes.5.bn.num_batches_tracked"].shape == () and sd["nodes.5.conv.weight"].shape == (3, 3, 3, 3)
    torch.manual_seed(1)
    b = _net("conv", 2, {})
    b.load_state_dict(sd)
    a.eval(), b.eval()
    x = torch.randn(2, 2, 5, 5)
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
    view = b.node(5)
    assert isinstance(view, gw.ops.blocks.ConvBlock)
    torch.testing.assert_close(view.conv.weight, sd["nodes.5.conv.weight"])
    with torch.no_grad():
        view.conv.weight.zero_()
    assert b.state_dict()["nodes.5.conv.weight"].abs().sum() == 0  # the view shares the net's storage
    with pytest.raises(ParameterError, match="node 99"):
        b.node(99)


def test_loading_names_missing_and_misshapen_node_entries_by_label():
    net = _net("linear", 0, {})
    sd = net.state_dict()
    del sd["nodes.5.fc.weight"]
    with pytest.raises(RuntimeError, match=r"Missing key\(s\) in state_dict: \"nodes\.5\.fc\.weight\""):
        net.load_state_dict(sd)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["nodes.5.fc.weight"]
    sd = net.state_dict()
    sd["nodes.6.fc.bias"] = torch.zeros(7)
    with pytest.raises(RuntimeError, match=r"size mismatch for nodes\.6\.fc\.bias: .*\(7,\).*\(3,\)"):
        net.load_state_dict(sd)


def test_keep_vars_gives_the_stacked_parameters_themselves():
    """Tracers and wrappers ask for the parameters (keep_vars=True): a slice of one is not one."""
    net = _net("conv", 2, {})
    sd = net.state_dict(keep_vars=True)
    params = {id(p) for p in net.parameters()}
    assert all(id(v) in params for v in sd.values() if isinstance(v, nn.Parameter))
    assert any(k.startswith("steps.") for k in sd)


def test_an_op_without_a_stacked_form_keeps_a_module_per_node():
    gw.register_op("plain_linear_for_test", lambda cin, cout, stride, dims: nn.Linear(cin, cout), spatial=False,
                   overwrite=True)
    G = gw.generators.layered([2, 3, 1])
    net = gw.compile(G, in_channels=2, channels=3, default_op="plain_linear_for_test", dims=0)
    assert set(net.nodes) == {"0", "1", "2", "3", "4"} and set(net.steps) == {step_key(net.plan.by_label[5].step)}
    assert isinstance(net.node(2), nn.Linear) and net.node(2) is net.nodes["2"]
    compare_executors(net, torch.randn(3, 2), 1e-6)


def test_stacked_form_must_be_callable():
    with pytest.raises(ParameterError, match="stacked must be callable"):
        gw.register_op("bad_stacked_for_test", nn.Identity, stacked=3)


# ------------------------------------------------------------------ the step-op interface
def _mixed_net():
    """Built-in (stacked) ops, a kernel op without a stacked form and a plain module op in one net."""
    gw.register_op("plain_conv_for_test", lambda cin, cout, stride, dims: nn.Conv2d(cin, cout, 3, stride, 1),
                   spatial=True, overwrite=True)
    G = gw.generators.layered([2, 3, 3, 1], seed=0)
    ops = {2: "sep_conv_3x3", 3: "sep_conv_3x3", 4: "sep_conv_3x3", 5: "plain_conv_for_test",
           6: "plain_conv_for_test", 7: "plain_conv_for_test"}
    for v, op in ops.items():
        G.nodes[v]["op"] = op
    return gw.compile(G, in_channels=3, channels=4, default_op="sepconv", wiring="sigmoid")


def test_every_step_is_a_step_op_whose_forward_is_its_nodes_forwards():
    torch.manual_seed(0)
    net = _mixed_net()
    randomise_batchnorm(net, 0, gates=1.0)
    net.eval()
    kinds = set()
    for st in net.plan.steps:
        op = net.step_op(st.index)
        assert isinstance(op, StepOp) and op.groups == st.size
        kinds.add(type(op).__name__)
        x = torch.randn(2, st.size * st.in_ch, 5, 5)
        per_node = torch.cat([op.node_forward(g, c) for g, c in enumerate(x.chunk(st.size, 1))], 1)
        torch.testing.assert_close(op(x), per_node, rtol=1e-5, atol=1e-5)
        for g, p in enumerate(st.nodes):
            assert type(op.node_module(g)) is type(net.node(net.plan.nodes[p].label))
    assert {"StackedSepConv", "ModuleStep"} <= kinds
    compare_executors(net, torch.randn(3, 3, 5, 5), 1e-5)


def test_kernel_op_modules_of_a_step_run_as_one_kernel_with_their_own_statistics():
    """G per-node KernelOp modules: one kernel call on their concatenated tensors equals calling
    them one by one (outputs, gradients, BatchNorm running statistics)."""
    torch.manual_seed(0)
    mods = [build_op("sep_conv_3x3", 3, 3, dims=2, options={"affine": True}) for _ in range(3)]
    twins = [build_op("sep_conv_3x3", 3, 3, dims=2, options={"affine": True}) for _ in range(3)]
    for m, t in zip(mods, twins):
        t.load_state_dict(m.state_dict())
    x = torch.randn(4, 9, 6, 6)
    fused = ModuleStep(mods)(x)
    assert isinstance(mods[0], KernelOp)
    loop = torch.cat([t(c) for t, c in zip(twins, x.chunk(3, 1))], 1)
    torch.testing.assert_close(fused, loop, rtol=1e-5, atol=1e-5)
    w = torch.randn(fused.shape)
    (fused * w).sum().backward()
    (loop * w).sum().backward()
    for m, t in zip(mods, twins):
        for (name, a), b in zip(m.named_parameters(), t.parameters()):
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-4, msg=name)
        for (name, a), b in zip(m.named_buffers(), t.buffers()):
            torch.testing.assert_close(a, b, msg=name)


def test_the_net_owns_what_executors_read_and_a_swapped_node_module_runs():
    net = _mixed_net()
    rt = net.runtime
    assert list(rt.children()) == [] and not any(isinstance(v, nn.Module) for v in vars(rt).values())
    assert any(m is rt for m in net.modules())
    owned = {id(t) for t in net.buffers()}
    assert all(id(b) in owned for b in rt.buffers())
    x = torch.randn(2, 3, 5, 5)
    nd = net.plan.by_label[7]
    net.nodes[nd.key] = nn.Conv2d(4, 4, 3, 1, 1)  # swapped after compiling: the executors run the new one
    with torch.no_grad():
        net.nodes[nd.key].weight.zero_()
        net.nodes[nd.key].bias.fill_(1.0)
    for ex in ("batched", "reference"):
        net.executor = ex
        seen = {}
        net.nodes[nd.key].register_forward_hook(lambda m, i, o: seen.setdefault(ex, o))
        net(x)
        assert torch.all(seen[ex] == 1.0)
