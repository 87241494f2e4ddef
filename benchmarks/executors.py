"""Executor benchmark: batched vs reference vs hand-written PyTorch, forward + backward.

1. Chain (VGG-like) and ResNet edge sets, compiled with static wiring, against the same blocks
   wired by hand in plain PyTorch (the ratio shows graphwire's overhead).
2. A RandWire stage, WS(32, 4, 0.75) at C=78 (separable-conv nodes, sigmoid gates), batch 32,
   32x32 inputs: batched vs reference executor on the same module; and the same stage with
   small nodes (C=16, batch 8, 16x16), where per-node overhead rather than bandwidth dominates.
   Both also ``torch.compile``'d (inductor; and mode="reduce-overhead" on CUDA) unless --quick
   or --torch-compile off; its first call (the compilation) is reported apart.

All variants are timed round-robin in one run; medians are reported. Results are printed as a
table and saved to benchmarks/results/executors-<device>.json with the machine named.

    python benchmarks/executors.py [--device cuda] [--repeats 5] [--quick] [--torch-compile auto|on|off]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import graphwire as gw
from _common import interleaved, save


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


def step(model: nn.Module, x: torch.Tensor):
    def run():
        model.zero_grad(set_to_none=True)
        model(x).float().mean().backward()
    return run


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
        t = interleaved({"batched": step(net, x), "reference": step(ref, x), "hand": step(hand, x)},
                        device, repeats=repeats)
        rows.append({"graph": f"{kind}({n})", "nodes": G.number_of_nodes(), "edges": G.number_of_edges(),
                     "channels": C, "batch": B, "size": S, "seconds": t,
                     "batched_over_hand": t["batched"] / t["hand"],
                     "reference_over_batched": t["reference"] / t["batched"]})
    return rows


def compiled_variants(net: nn.Module, x: torch.Tensor, device: torch.device) -> tuple[dict, dict]:
    """``torch.compile`` of the batched net (inductor; also mode="reduce-overhead" on CUDA), with
    the seconds its first call (the compilation) took, or the error when it cannot compile here."""
    import time

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


def bench_randwire(device, repeats, quick, size=None, torch_compile=False):
    n, C, B, S = size or ((16, 32, 8, 16) if quick else (32, 78, 32, 32))
    G = gw.generators.watts_strogatz(n, 4, 0.75, seed=1)
    net = gw.compile(G, in_channels=C, channels=C, default_op="sepconv", wiring="sigmoid").to(device)
    ref = gw.compile(G, in_channels=C, channels=C, default_op="sepconv", wiring="sigmoid",
                     executor="reference").to(device)
    ref.load_state_dict(net.state_dict())
    x = torch.randn(B, C, S, S, device=device)
    fns = {"batched": step(net, x), "reference": step(ref, x)}
    compiled, info = compiled_variants(net, x, device) if torch_compile else ({}, {})
    fns.update({name: step(cm, x) for name, cm in compiled.items()})
    t = interleaved(fns, device, repeats=repeats)
    return {"graph": f"WS({n}, 4, 0.75) seed 1", "nodes": G.number_of_nodes(), "edges": G.number_of_edges(),
            "steps": len(net.plan.steps), "channels": C, "batch": B, "size": S, "seconds": t,
            "reference_over_batched": t["reference"] / t["batched"], "torch_compile": info,
            **{f"{k}_over_batched": t[k] / t["batched"] for k in compiled}}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run, not for the published tables)")
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    p.add_argument("--torch-compile", choices=("auto", "on", "off"), default="auto",
                   help="time torch.compile'd RandWire stages too (auto: unless --quick)")
    a = p.parse_args(argv)
    tc = a.torch_compile == "on" or (a.torch_compile == "auto" and not a.quick)
    device = torch.device(a.device)
    torch.manual_seed(0)
    rows = bench_edge_sets(device, a.repeats, a.quick)
    rw = bench_randwire(device, a.repeats, a.quick, torch_compile=tc)
    rw_small = bench_randwire(device, a.repeats, a.quick, size=(32, 16, 8, 16), torch_compile=tc)
    print(f"device: {device} | torch {torch.__version__} | threads {torch.get_num_threads()}")
    print(f"{'graph':<22}{'batched ms':>12}{'reference ms':>14}{'hand ms':>10}{'batched/hand':>14}{'ref/batched':>13}")
    for r in rows:
        s = r["seconds"]
        print(f"{r['graph']:<22}{s['batched'] * 1e3:>12.1f}{s['reference'] * 1e3:>14.1f}{s['hand'] * 1e3:>10.1f}"
              f"{r['batched_over_hand']:>14.3f}{r['reference_over_batched']:>13.2f}")
    for r in (rw, rw_small):
        s = r["seconds"]
        label = f"WS32 C={r['channels']} B={r['batch']} {r['size']}px"
        print(f"{label:<22}{s['batched'] * 1e3:>12.1f}{s['reference'] * 1e3:>14.1f}{'-':>10}"
              f"{'-':>14}{r['reference_over_batched']:>13.2f}")
        for k in r["seconds"]:
            if k.startswith("torch.compile"):
                print(f"{'  ' + k:<22}{s[k] * 1e3:>12.1f}   ({r[k + '_over_batched']:.2f}x batched; first call "
                      f"{r['torch_compile'][k]['first_call_s']:.1f} s)")
    results = {"edge_sets": rows, "randwire_stage": rw, "randwire_stage_small_nodes": rw_small,
               "repeats": a.repeats, "quick": a.quick}
    if not a.quick or a.out:
        print("saved", save("executors" + ("-quick" if a.quick else ""), results, device, a.out))
    return results


if __name__ == "__main__":
    main()
