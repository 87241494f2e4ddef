"""Executor benchmark: one training step (forward + backward) per executor, side by side.

1. RandWire stages, WS(32, 4, 0.75) seed 1, separable-conv nodes, sigmoid gates: C=78 at batch 16
   and 32 (32x32 inputs) and C=16 at batch 8 (16x16), each at every ``--threads``. Columns:
   - ``loop``: a hand-written per-node loop in the style of the community RandWire ports (each
     node stacks its inputs, takes their sigmoid-weighted sum, then ReLU -> separable conv -> BN),
     loaded with the graphwire net's parameters (the outputs are checked equal first);
   - ``ops`` / ``ops_cl``: the node ops alone (the same convolutions and norms, each node on its
     first input: no aggregation), contiguous and channels-last: the limit to chase;
   - ``reference`` and ``batched``: graphwire's executors on the same net (batched: its default
     options, the schedule measured at its first call, whose time is reported apart);
   - ``torch.compile`` of the batched net (inductor), when asked for (``--torch-compile``);
     on CUDA also ``mode="reduce-overhead"`` (CUDA graphs).
   Derived: ``loop/batched``, ``reference/batched``, ``outside``: the share of the batched step
   spent outside the node ops (``1 - ops_same_format / batched``, the format batched chose), and
   the peak memory of a training step per variant.
2. Chain and ResNet edge sets (conv nodes, static wiring) against the same blocks wired by hand.

Everything of one row is timed round-robin in one process (medians of ``--repeats``); the load
average is recorded before and after each row. Results go to
benchmarks/results/executors-<device>.json, naming the machine (CPU model, cores, device).

    python benchmarks/executors.py [--device cuda] [--threads 1 2] [--repeats 5] [--quick]
                                   [--torch-compile auto|on|off] [--only randwire|edge_sets]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import graphwire as gw
from _common import interleaved, save

CL = torch.channels_last


# ---------------------------------------------------------------- hand-written baselines
class HandChain(nn.Module):
    """What a user would write for a chain: blocks in sequence."""

    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


class HandResNet(nn.Module):
    """ResNet edge set by hand: node i reads the sum of nodes i-1 and i-2."""

    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        prev2, prev1 = None, self.blocks[0](x)
        outs = [prev1]
        for b in self.blocks[1:]:
            inp = prev1 if prev2 is None else prev1 + prev2
            prev2, prev1 = prev1, b(inp)
            outs.append(prev1)
        return prev1 + prev2  # the output node sums its two predecessors


def _hand_from(net: gw.WiredNet, kind: str) -> nn.Module:
    """The hand-written twin: a module per node, viewing the compiled net's tensors (identical arithmetic)."""
    blocks = [net.node(nd.label) for nd in net.plan.nodes if nd.op != "identity"]
    return HandChain(blocks) if kind == "chain" else HandResNet(blocks)


class SepConv(nn.Sequential):
    """A RandWire node op as the ports write it: ReLU -> depthwise 3x3 -> pointwise 1x1 -> BN."""

    def __init__(self, C: int):
        super().__init__(nn.ReLU(), nn.Conv2d(C, C, 3, 1, 1, groups=C, bias=False), nn.Conv2d(C, C, 1, bias=False),
                         nn.BatchNorm2d(C))


class RandWireLoop(nn.Module):
    """A RandWire stage the way the community PyTorch ports run it: nodes in topological order,
    each stacking its inputs on a new last axis and reducing them by ``matmul`` with
    ``sigmoid(w)``, then its ReLU -> separable conv -> BN; the output node is the weighted sum."""

    def __init__(self, net: gw.WiredNet, C: int):
        super().__init__()
        plan = net.plan
        self.order = [str(nd.label) for nd in plan.nodes]
        self.preds = {str(nd.label): [str(plan.nodes[p].label) for p in nd.preds] for nd in plan.nodes}
        self.inputs = {str(nd.label) for nd in plan.nodes if nd.role == "input"}
        self.out = str(plan.nodes[plan.outputs[0]].label)
        self.ops = nn.ModuleDict({str(nd.label): SepConv(C) for nd in plan.nodes if nd.op != "identity"})
        self.w = nn.ParameterDict({str(nd.label): nn.Parameter(torch.zeros(len(nd.preds)))
                                   for nd in plan.nodes if nd.role != "input"})
        self._edges = {str(nd.label): list(nd.in_edges) for nd in plan.nodes}
        self._labels = {str(nd.label): nd.label for nd in plan.nodes}

    @torch.no_grad()
    def load_from(self, net: gw.WiredNet) -> None:
        for label, op in self.ops.items():
            node = net.node(self._labels[label])
            op[1].weight.copy_(node.dw.weight)
            op[2].weight.copy_(node.pw.weight)
            op[3].load_state_dict(node.bn.state_dict())
        for label, w in self.w.items():
            w.copy_(net.wiring.logit[self._edges[label]])

    def forward(self, x):
        outs = {}
        for v in self.order:
            if v in self.inputs:
                h = x
            else:
                h = torch.matmul(torch.stack([outs[u] for u in self.preds[v]], -1), torch.sigmoid(self.w[v]))
            outs[v] = self.ops[v](h) if v in self.ops else h
        return outs[self.out]


class NodeOpsAlone(nn.Module):
    """The stage's node ops with no aggregation: each node runs on its first input's output (the
    same convolutions and norms, in the same order). It returns the mean of every node output
    that no node reads, so that the backward runs through every node, as in the stage."""

    def __init__(self, loop: RandWireLoop, C: int, memory_format=torch.contiguous_format):
        super().__init__()
        self.order, self.preds, self.inputs = loop.order, loop.preds, loop.inputs
        self.ops = nn.ModuleDict({v: SepConv(C) for v in loop.ops}).to(memory_format=memory_format)
        self.format = memory_format
        read = {self.preds[v][0] for v in self.ops if v not in self.inputs}
        self.leaves = [v for v in self.ops if v not in read]

    def forward(self, x):
        x = x.contiguous(memory_format=self.format)
        outs = {}
        for v in self.order:
            if v in self.ops:
                outs[v] = self.ops[v](x if v in self.inputs else outs[self.preds[v][0]])
        return torch.stack([outs[v].mean() for v in self.leaves])


# ---------------------------------------------------------------- measuring
def step(model: nn.Module, x: torch.Tensor):
    def run():
        model.zero_grad(set_to_none=True)
        model(x).float().mean().backward()
    return run


def peak_bytes(fn, device: torch.device) -> int | None:
    """Peak memory of one call of ``fn`` above what was allocated before it (CUDA: the caching
    allocator's peak; CPU: every live tensor, counted by torch's MemTracker)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    try:
        from torch.distributed._tools.mem_tracker import MemTracker
    except ImportError:  # pragma: no cover - a torch without it
        return None
    mt = MemTracker()
    with mt:
        fn()
    peak = mt.get_tracker_snapshot("peak")
    return int(sum(v.get("Total", 0) for v in peak.values()))


def compiled_variants(net: nn.Module, x: torch.Tensor, device: torch.device) -> tuple[dict, dict]:
    """``torch.compile`` of the batched net (inductor; also mode="reduce-overhead" on CUDA), with
    the seconds its first call (the compilation) took, or the error when it cannot compile here."""
    modes = {"torch.compile": {}}
    if device.type == "cuda":
        modes["torch.compile reduce-overhead"] = {"mode": "reduce-overhead"}
    fns, info = {}, {}
    for name, kw in modes.items():
        try:
            cm = torch.compile(net, **kw)
            t = time.perf_counter()
            step(cm, x)()  # the timed input itself: no recompilation for a new shape later
            info[name] = {"first_call_s": time.perf_counter() - t}
            fns[name] = cm
        except Exception as exc:  # no C++ toolchain, unsupported op...: say so in the results
            info[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
            print(f"{name}: not timed ({info[name]['error']})")
    return fns, info


def _load() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover
        return []


def bench_randwire(device, repeats, C, B, S, n=32, torch_compile=False, memory=True):
    torch.manual_seed(0)
    G = gw.generators.watts_strogatz(n, 4, 0.75, seed=1)
    # plain sigmoid gates (carry=False), as the ports have them
    net = gw.compile(G, in_channels=C, channels=C, default_op="sepconv", wiring="sigmoid", carry=False).to(device)
    with torch.no_grad():
        net.wiring.logit.normal_()  # distinct gates, so the equality check below means something
    ref = gw.compile(G, in_channels=C, channels=C, default_op="sepconv", wiring="sigmoid", carry=False,
                     executor="reference").to(device)
    ref.load_state_dict(net.state_dict())
    loop = RandWireLoop(net, C).to(device)
    loop.load_from(net)
    ops = NodeOpsAlone(loop, C).to(device)
    ops_cl = NodeOpsAlone(loop, C, CL).to(device)
    x = torch.randn(B, C, S, S, device=device)
    with torch.no_grad():
        net.eval(), loop.eval()
        tol = 1e-4 if device.type == "cpu" else 1e-2  # CUDA convolutions may round through TF32
        torch.testing.assert_close(loop(x), net(x), rtol=tol, atol=tol)  # the same function
        net.schedules.clear()
        net.train(), loop.train()
    t = time.perf_counter()
    step(net, x)()  # the batched executor's first call: it measures its schedule
    first_call = time.perf_counter() - t
    sched = next(iter(net.schedules.values()))
    fns = {"loop": step(loop, x), "ops": step(ops, x), "ops_cl": step(ops_cl, x), "reference": step(ref, x),
           "batched": step(net, x)}
    compiled, info = compiled_variants(net, x, device) if torch_compile else ({}, {})
    fns.update({name: step(cm, x) for name, cm in compiled.items()})
    load_before = _load()
    sec = interleaved(fns, device, repeats=repeats)
    load_after = _load()
    same = sec["ops_cl"] if sched.memory_format == "channels_last" else sec["ops"]
    row = {"graph": f"WS({n}, 4, 0.75) seed 1", "nodes": G.number_of_nodes(), "edges": G.number_of_edges(),
           "steps": len(net.plan.steps), "channels": C, "batch": B, "size": S, "threads": torch.get_num_threads(),
           "seconds": sec, "loop_over_batched": sec["loop"] / sec["batched"],
           "reference_over_batched": sec["reference"] / sec["batched"],
           "outside_node_ops": 1 - same / sec["batched"],
           "schedule": {"memory_format": sched.memory_format, "steps": sched.counts(),
                        "measuring_s": round(sched.seconds, 3)},
           "first_call_s": first_call, "torch_compile": info, "load_before": load_before, "load_after": load_after}
    for k in compiled:
        row[f"{k}_over_batched"] = sec[k] / sec["batched"]
    if memory:
        peaks = {k: peak_bytes(fn, device) for k, fn in fns.items() if not k.startswith("torch.compile")}
        row["peak_bytes"] = peaks
        if peaks.get("loop") and peaks.get("batched"):
            row["peak_batched_over_loop"] = peaks["batched"] / peaks["loop"]
    return row


def bench_edge_sets(device, repeats, quick):
    n, C, B, S = (8, 32, 16, 16) if quick else (16, 64, 32, 32)
    rows = []
    for kind, gen in (("chain", gw.generators.chain), ("resnet", gw.generators.resnet)):
        G = gen(n)
        net = gw.compile(G, in_channels=C, channels=C, default_op="conv", wiring="static").to(device)
        ref = gw.compile(G, in_channels=C, channels=C, default_op="conv", wiring="static",
                         executor="reference").to(device)
        ref.load_state_dict(net.state_dict())
        hand = _hand_from(net, kind)
        x = torch.randn(B, C, S, S, device=device)
        with torch.no_grad():
            net.eval(), hand.eval()
            torch.testing.assert_close(net(x), hand(x))  # same function before we time it
            net.train(), hand.train()
        step(net, x)()  # the batched executor's first call (its schedule)
        load_before = _load()
        t = interleaved({"batched": step(net, x), "reference": step(ref, x), "hand": step(hand, x)},
                        device, repeats=repeats)
        rows.append({"graph": f"{kind}({n})", "nodes": G.number_of_nodes(), "edges": G.number_of_edges(),
                     "channels": C, "batch": B, "size": S, "threads": torch.get_num_threads(), "seconds": t,
                     "batched_over_hand": t["batched"] / t["hand"],
                     "reference_over_batched": t["reference"] / t["batched"],
                     "load_before": load_before, "load_after": _load()})
    return rows


def _fmt_bytes(b) -> str:
    return "-" if not b else f"{b / 2**20:.0f}M"


def print_tables(rw_rows, edge_rows, device) -> None:
    print(f"device: {device} | torch {torch.__version__}")
    if rw_rows:
        head = (f"{'RandWire stage':<24}{'thr':>4}{'loop':>9}{'ops':>9}{'ops_cl':>9}{'ref':>9}{'batched':>9}"
                f"{'loop/b':>8}{'ref/b':>7}{'outside':>8}{'peak b/loop':>12}  load")
        print(head)
        for r in rw_rows:
            s = r["seconds"]
            label = f"C={r['channels']} B={r['batch']} {r['size']}px"
            peak = r.get("peak_bytes", {})
            pk = f"{r['peak_batched_over_loop']:.2f}" if "peak_batched_over_loop" in r else "-"
            print(f"{label:<24}{r['threads']:>4}" + "".join(f"{s[k] * 1e3:>9.1f}" for k in
                                                           ("loop", "ops", "ops_cl", "reference", "batched"))
                  + f"{r['loop_over_batched']:>8.2f}{r['reference_over_batched']:>7.2f}{r['outside_node_ops']:>8.0%}"
                  + f"{pk:>12}  {r['load_before']}->{r['load_after']}")
            print(f"{'':<28}peak: " + " ".join(f"{k} {_fmt_bytes(v)}" for k, v in peak.items())
                  + f" | schedule {r['schedule']['memory_format']} {r['schedule']['steps']}"
                  + f" (first call {r['first_call_s']:.1f} s)")
            for k in s:
                if k.startswith("torch.compile"):
                    print(f"{'':<28}{k}: {s[k] * 1e3:.1f} ms ({r[k + '_over_batched']:.2f}x batched; first call "
                          f"{r['torch_compile'][k]['first_call_s']:.1f} s)")
    if edge_rows:
        print(f"{'edge set':<24}{'thr':>4}{'batched':>9}{'ref':>9}{'hand':>9}{'b/hand':>8}{'ref/b':>7}  load")
        for r in edge_rows:
            s = r["seconds"]
            print(f"{r['graph']:<24}{r['threads']:>4}{s['batched'] * 1e3:>9.1f}{s['reference'] * 1e3:>9.1f}"
                  f"{s['hand'] * 1e3:>9.1f}{r['batched_over_hand']:>8.3f}{r['reference_over_batched']:>7.2f}"
                  f"  {r['load_before']}->{r['load_after']}")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, nargs="+", default=None,
                   help="intra-op thread counts to run each row at (default: 1 and 2 on CPU, torch's on CUDA)")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run, not for the published tables)")
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    p.add_argument("--torch-compile", choices=("auto", "on", "off"), default="auto",
                   help="time torch.compile'd RandWire stages too (auto: on CUDA, not with --quick)")
    p.add_argument("--only", choices=("randwire", "edge_sets"), default=None)
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory pass")
    a = p.parse_args(argv)
    device = torch.device(a.device)
    tc = a.torch_compile == "on" or (a.torch_compile == "auto" and not a.quick and device.type == "cuda")
    threads = a.threads or ([1, 2] if device.type == "cpu" else [torch.get_num_threads()])
    if a.quick:
        shapes = [(16, 8, 16)]
    else:
        shapes = [(78, 16, 32), (78, 32, 32), (16, 8, 16)]
    rw_rows, edge_rows = [], []
    for th in threads:
        torch.set_num_threads(th)
        if a.only in (None, "randwire"):
            for C, B, S in shapes:
                rw_rows.append(bench_randwire(device, a.repeats, C, B, S, torch_compile=tc, memory=not a.no_memory))
                print_tables(rw_rows[-1:], [], device)
        if a.only in (None, "edge_sets"):
            edge_rows += bench_edge_sets(device, a.repeats, a.quick)
            print_tables([], edge_rows[-2:], device)
    print()
    print_tables(rw_rows, edge_rows, device)
    results = {"randwire": rw_rows, "edge_sets": edge_rows, "repeats": a.repeats, "quick": a.quick,
               "threads": threads}
    if not a.quick or a.out:
        command = " ".join(["python", "benchmarks/executors.py", *(sys.argv[1:] if argv is None else argv)])
        print("saved", save("executors" + ("-quick" if a.quick else ""), results, device, a.out, command=command))
    return results


if __name__ == "__main__":
    main()
