"""The batched executor's schedules: every way it can run a step equals the reference executor;
measuring changes nothing in the network; measured times are cached safely; options are checked."""

import json
import os
import random
import subprocess
import sys

import pytest
import torch

import graphwire as gw
from graphwire.errors import ParameterError
from graphwire.executors import Batched, tuning

from _graphs import compare_executors, decorate, family_graph, randomise_batchnorm


@pytest.fixture
def every_way(monkeypatch):
    """The cost model picks edge-by-edge aggregation and node-by-node ops wherever they apply."""
    monkeypatch.setattr(tuning, "EDGE_BYTES", 0)
    monkeypatch.setattr(tuning, "NODE_BYTES", 0)


def force(net, x, ex, agg, op, memory_format):
    """Schedules (train and eval) where every step that can aggregates by ``agg`` and runs ``op``."""
    steps = []
    for st in net.plan.steps:
        n = st.num_edges(len(net.plan.edges)) if st.agg == "sum" and not st.is_input else None
        cands = tuning._candidates(st, n, ex.options)
        pick = ([c for c in cands if c.agg in (agg, "input", "gather") and c.op == op]
                or [c for c in cands if c.agg in (agg, "input", "gather")] or cands)
        steps.append(pick[0])
    for training in (True, False):
        net.train(training)
        net.schedules[ex._key(net, x)] = tuning._finish(net.plan, net, steps, memory_format, x.device)


CASES = [  # family, aggregations, wiring, options, op
    ("watts_strogatz", ("sum",), "sigmoid", {}, "sepconv"),
    ("erdos_renyi", ("sum", "concat", "max"), "sigmoid", {"per_channel": True}, "conv"),
    ("layered", ("sum",), "static", {}, "conv"),
    ("resnet", ("sum",), "static", {}, "sepconv"),
    ("barabasi_albert", ("sum", "max"), "ddw", {}, "conv"),
    ("stack", ("sum",), "dnw", {}, "conv"),
]
WAYS = [("edges", "grouped"), ("edges", "nodes"), ("sum_gather", "grouped")]


@pytest.mark.parametrize("memory_format", ["contiguous", "channels_last"])
@pytest.mark.parametrize("way", WAYS, ids=["/".join(w) for w in WAYS])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_every_way_to_run_a_step_equals_the_reference(case, way, memory_format):
    family, aggs, wiring, opts, op = CASES[case]
    for seed in range(3):
        torch.manual_seed(seed)
        G = decorate(family_graph(family, seed), seed, aggs=aggs)
        net = gw.compile(G, in_channels=2, wiring=wiring, default_op=op, **opts)
        randomise_batchnorm(net, seed, gates=1.5)
        if seed == 1 and G.number_of_edges() > 2:  # closed edges: closed-node semantics
            edges = list(G.edges)
            net.mask_edges(random.Random(seed).sample(edges, max(1, len(edges) // 4)))
        ex = Batched(tune="off")
        x = torch.randn(3, 2, 6, 6)
        force(net, x, ex, *way, memory_format)
        compare_executors(net, x, 1e-5, seed=0 if wiring == "dnw" else None, batched=ex)
        used = {c.agg for s in net.schedules.values() for c in s.steps}
        assert way[0] in used or aggs != ("sum",), used


def test_vector_and_sequence_data_run_every_way(every_way):
    for dims, op in ((0, "linear"), (1, "conv")):
        torch.manual_seed(0)
        G = gw.generators.watts_strogatz(10, 4, 0.5, seed=0)
        net = gw.compile(G, in_channels=3, channels=4, wiring="sigmoid", default_op=op, dims=dims)
        randomise_batchnorm(net, 0, gates=1.5)
        x = torch.randn(4, 3) if dims == 0 else torch.randn(4, 3, 7)
        compare_executors(net, x, 1e-5, batched=Batched(tune="off"), calls=2)
        assert any(c.op == "nodes" for s in net.schedules.values() for c in s.steps)


def _ws(C=4):
    return gw.compile(gw.generators.watts_strogatz(10, 4, 0.5, seed=1), in_channels=3, channels=C,
                      default_op="sepconv", wiring="sigmoid")


def test_measuring_changes_nothing_in_the_network_and_is_kept_per_shape():
    """The first call measures (random inputs, copies of the step ops): BatchNorm statistics,
    gradients, hooks and the global RNG see exactly one ordinary forward."""
    torch.manual_seed(0)
    a, b = _ws(), _ws()
    b.load_state_dict(a.state_dict())
    a.executor = Batched(tune="measure", min_bytes=0, repeats=1)
    b.executor = Batched(tune="off")
    x = torch.randn(2, 3, 6, 6)
    calls = []
    for m in a.steps.values():
        m.register_forward_hook(lambda *args: calls.append(1))
    torch.manual_seed(5)
    ya = a(x)
    rng_a = torch.random.get_rng_state()
    torch.manual_seed(5)
    yb = b(x)
    assert torch.equal(rng_a, torch.random.get_rng_state())
    torch.testing.assert_close(ya, yb)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(va, vb, msg=k)
    assert all(p.grad is None for p in a.parameters())
    assert len(calls) == len(a.steps)  # one ordinary forward: the measured copies have no hooks
    (sched,) = a.schedules.values()
    assert sched.measured and sched.seconds > 0 and sum(sched.counts().values()) == len(a.plan.steps)
    a(torch.randn(5, 3, 6, 6))
    assert len(a.schedules) == 2  # a schedule per input shape
    a.schedules.clear()
    compare_executors(a, x, 1e-5, batched=a.executor, calls=2)


def test_measured_times_are_cached_in_a_file_and_foreign_or_broken_entries_are_measured_again(tmp_path, monkeypatch):
    path = tmp_path / "tuning.json"
    x = torch.randn(2, 3, 6, 6)
    ex = Batched(tune="measure", min_bytes=0, repeats=1, cache=path)
    tuning.clear_memo()
    net = _ws()
    net.executor = ex
    net(x)
    data = json.loads(path.read_text())
    assert data["version"] == 1 and data["times"]
    key = next(iter(data["times"]))
    assert tuning.device_key(x.device) in key and "torch.float32" in key

    timed = []
    real = tuning._Timer._once
    monkeypatch.setattr(tuning._Timer, "_once", lambda self, fn: timed.append(1) or real(self, fn))
    tuning.clear_memo()
    net2 = _ws()
    net2.executor = ex
    net2(x)
    assert timed == []  # everything came from the file
    assert [c for c in net2.schedules[ex._key(net2, x)].steps] == [c for c in net.schedules[ex._key(net, x)].steps]

    # another device (here: another thread count), a foreign version, broken values: measured again
    for bad in ({"version": 1, "times": {k.replace("cores:", "cores:x"): v for k, v in data["times"].items()}},
                {"version": 99, "times": data["times"]},
                {"version": 1, "times": {k: "fast" for k in data["times"]}},
                "not json at all {"):
        path.write_text(bad if isinstance(bad, str) else json.dumps(bad))
        tuning.clear_memo()
        timed.clear()
        net3 = _ws()
        net3.executor = ex
        net3(x)
        assert timed, bad
        compare_executors(net3, x, 1e-5, batched=ex, calls=2)
    assert json.loads(path.read_text())["version"] == 1  # rewritten whole


_MEASURE_IN_A_NEW_PROCESS = """
import sys, torch, graphwire as gw
from graphwire.executors import Batched, tuning
timed = []
real = tuning._Timer._once
tuning._Timer._once = lambda self, fn: timed.append(1) or real(self, fn)
net = gw.compile(gw.generators.watts_strogatz(10, 4, 0.5, seed=1), in_channels=3, channels=4,
                 default_op=sys.argv[2], wiring="sigmoid")
net.executor = Batched(tune="measure", min_bytes=0, repeats=1, cache=sys.argv[1])
net(torch.randn(2, 3, 6, 6))
print(len(timed))
"""


@pytest.mark.parametrize("op", ["sepconv", "sep_conv_3x3"])  # a stacked op; per-node modules (no stacked form)
def test_a_cache_file_serves_another_process(tmp_path, op):
    """The keys of measured times are the same in every process (no salted ``hash``, no object
    addresses), so a second process measures nothing."""
    path = tmp_path / "tuning.json"
    runs = [subprocess.run([sys.executable, "-c", _MEASURE_IN_A_NEW_PROCESS, str(path), op], capture_output=True,
                           text=True, env=dict(os.environ, PYTHONHASHSEED=str(seed)), timeout=300)
            for seed in (1, 2)]
    assert all(r.returncode == 0 for r in runs), runs[-1].stderr[-2000:]
    first, second = (int(r.stdout.split()[-1]) for r in runs)
    assert first > 0 and second == 0
    assert " at 0x" not in path.read_text()


@pytest.mark.parametrize("option,value", [("tune", "sometimes"), ("memory_format", "nhwc"), ("cache", 3),
                                          ("min_bytes", -1), ("max_edges", 10**6), ("max_nodes", 0),
                                          ("repeats", 0), ("repeats", True), ("max_edges", 2.5)])
def test_an_option_out_of_range_names_the_option(option, value):
    with pytest.raises(ParameterError, match=option):
        Batched(**{option: value})


def test_the_executor_is_a_name_or_an_executor_object():
    net = _ws()
    net.executor = Batched(tune="off")
    assert "tune='off'" in repr(net)
    net(torch.randn(2, 3, 6, 6))
    with pytest.raises(ParameterError, match="executor"):
        net.executor = 3
    with pytest.raises(ParameterError, match="batchd"):
        net.executor = "batchd"


@pytest.mark.slow
def test_torch_compile_runs_the_schedule_of_the_eager_calls(every_way):
    torch.manual_seed(0)
    net = _ws()
    net.executor = Batched(tune="off", memory_format="channels_last")
    x = torch.randn(2, 3, 6, 6)
    y = net(x)
    y = net(x)  # the schedule: edge sums, per-node ops, channels-last
    compiled = torch.compile(net, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x), y, rtol=1e-5, atol=1e-5)
    compiled(x).sum().backward()
    assert all(p.grad is not None for p in net.steps.parameters())


def test_nothing_is_measured_while_a_dispatch_mode_watches():
    """Under FlopCounterMode (or a memory tracker, fake tensors) the first call makes no schedule:
    the count is the network's own, and a later plain call measures."""
    from torch.utils.flop_counter import FlopCounterMode

    net = _ws(8)
    net.executor = Batched(tune="measure", min_bytes=0, repeats=1)
    x = torch.randn(2, 3, 6, 6)
    with FlopCounterMode(display=False) as counter:
        net(x)
    assert net.schedules == {}
    ref = _ws(8)
    ref.executor = Batched(tune="off")
    with FlopCounterMode(display=False) as expect:
        ref(x)
    assert counter.get_total_flops() == expect.get_total_flops()
    net(x)
    assert len(net.schedules) == 1
