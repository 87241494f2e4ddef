"""DNW benchmark: MobileNet V1 x0.225 as a chain of channel graphs, graphwire vs the reference approach.

1. Training step (forward + backward + SGD step), 32x32 inputs, batch 64: graphwire's
   ``dnw_mobilenet_v1`` (top-k over the 6.98M edges the forward pass can use, ``torch.topk``, every
   step; and refreshed every 10 steps) against the approach of allenai/dnw written out below: one
   dense weight matrix per graph (12.04M entries in all, usable or not), a full ``sort`` of it at
   every step, dense masked 1x1 convolutions.
2. Compile time of graphwire's model (graph construction reported apart).
3. JSON save + load of the learned wiring pruned to its active edges (~159k edges).

    python benchmarks/dnw.py [--device cuda] [--repeats 5] [--quick]

``--quick`` divides every channel count by 4 (16x fewer candidate edges), a smoke run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import autograd, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import graphwire as gw
from _common import interleaved, save
from graphwire.models import dnw as D


# ----------------------------------------------------------------------------- the reference approach
class ChooseTopEdges(autograd.Function):
    """Reference DNW: clone, full sort of |w|, zero the smallest ``prune_rate`` fraction; identity backward."""

    @staticmethod
    def forward(ctx, weight, prune_rate):
        output = weight.clone()
        _, idx = weight.flatten().abs().sort()
        p = int(prune_rate * weight.numel())
        output.flatten()[idx[:p]] = 0
        return output

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None


class RefBlock(nn.Module):
    """One graph of the reference MobileNetV1Like: a dense (in + out*(b-1)) x out*b weight."""

    def __init__(self, inp, oup, stride, blocks, width):
        super().__init__()
        self.inp, self.oup, self.blocks = inp, oup, blocks
        dim = oup * blocks
        self.downsample = nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False)
        self.conv = nn.Conv2d(dim - oup, dim - oup, 3, 1, 1, groups=dim - oup, bias=False) if blocks > 1 else None
        self.norm = nn.ModuleList([nn.BatchNorm2d(inp)] + [nn.BatchNorm2d(oup) for _ in range(blocks - 1)])
        self.graph = nn.Conv2d(inp + oup * (blocks - 1), dim, 1, bias=False)
        graph_size = (inp + oup * (blocks - 1)) * dim
        num_edges = (inp * oup + (blocks - 1) * oup * oup) * width * width
        self.prune_rate = 1 - num_edges / graph_size

    def forward(self, x):
        w = ChooseTopEdges.apply(self.graph.weight, self.prune_rate)
        x = self.downsample(F.relu(self.norm[0](x)))
        x = F.conv2d(x, w[:, : self.inp])
        for i in range(self.blocks - 1):
            a = F.relu(self.norm[i + 1](x[:, : self.oup]))
            a = F.conv2d(a, self.conv.weight[i * self.oup:(i + 1) * self.oup], padding=1, groups=self.oup)
            a = F.conv2d(a, w[(i + 1) * self.oup:, self.inp + i * self.oup: self.inp + (i + 1) * self.oup])
            x = x[:, self.oup:] + a
        return x


class RefMobileNetV1Like(nn.Module):
    def __init__(self, stages, width=0.225, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stages[0][0], 3, 1, 1, bias=False)
        self.layers = nn.Sequential(*[RefBlock(i, o, s, b, width) for i, o, s, b in stages])
        c = stages[-1][1]
        self.bn, self.linear = nn.BatchNorm2d(c), nn.Linear(c, num_classes)

    def forward(self, x):
        out = F.relu(self.bn(self.layers(self.conv1(x))))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


# ----------------------------------------------------------------------------- timing helpers
def train_step(model, x, y):
    # foreach: one multi-tensor update (graphwire's model has ~18k small node parameters)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4, foreach=True)

    def run():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return run


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--quick", action="store_true", help="channels / 4 (a smoke run, not for the README)")
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    a = p.parse_args(argv)
    device = torch.device(a.device)
    torch.manual_seed(0)
    div = 4 if a.quick else 1
    stages = [(i // div, o // div, s, b) for i, o, s, b in D.MOBILENET_V1_STAGES]
    sizes = D.chain_sizes(stages)

    # ---- compile
    G, t_graph = timed(lambda: D.channel_chain(stages))
    model, t_compile = timed(lambda: gw.models.dnw_mobilenet_v1(num_classes=10, stages=stages, graph=G))
    budgets = model.budgets
    model.to(device)
    refreshed = gw.models.dnw_mobilenet_v1(num_classes=10, stages=stages, graph=G, refresh=10).to(device)
    ref = RefMobileNetV1Like(stages).to(device)

    # ---- training step
    x = torch.randn(a.batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (a.batch,), device=device)
    t = interleaved({"graphwire": train_step(model, x, y), "graphwire_refresh10": train_step(refreshed, x, y),
                     "reference_full_sort": train_step(ref, x, y)}, device, repeats=a.repeats)
    w = torch.randn(sum(sizes["matrix"]), device=device)
    wu = torch.randn(sum(sizes["candidates"]), device=device)
    sel = interleaved({"full_sort_all_entries": lambda: w.abs().sort(),
                       "topk_usable_edges": lambda: model.wired.wiring._select(wu[:len(model.wired.wiring.weight)])},
                      device, repeats=a.repeats)

    # ---- learned wiring -> active edges -> JSON round trip
    model.eval()
    (learned, t_wb) = timed(model.write_back)
    pruned, t_prune = timed(lambda: gw.prune(learned, attr="active"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dnw_mobilenet.json"
        _, t_save = timed(lambda: gw.io.to_json(pruned, path))
        size = path.stat().st_size
        back, t_load = timed(lambda: gw.io.load(path))
    assert back.number_of_edges() == pruned.number_of_edges()

    results = {
        "stages": [list(s) for s in stages], "quick": a.quick, "batch": a.batch, "size": 32, "repeats": a.repeats,
        "budgets": budgets, "nodes_per_graph": sizes["stage_nodes"], "candidate_edges": sum(sizes["candidates"]),
        "reference_matrix_entries": sum(sizes["matrix"]),
        "step_seconds": t, "graphwire_over_reference": t["graphwire"] / t["reference_full_sort"],
        "refresh10_over_reference": t["graphwire_refresh10"] / t["reference_full_sort"],
        "selection_seconds": sel,
        "graph_build_seconds": t_graph, "compile_seconds": t_compile,
        "write_back_seconds": t_wb, "prune_seconds": t_prune,
        "pruned_edges": pruned.number_of_edges(), "pruned_nodes": pruned.number_of_nodes(),
        "json_bytes": size, "json_save_seconds": t_save, "json_load_seconds": t_load,
        "json_round_trip_seconds": t_save + t_load,
    }
    print(f"device: {device} | torch {torch.__version__} | threads {torch.get_num_threads()}"
          f"{' | QUICK (channels / 4)' if a.quick else ''}")
    print(f"budgets {budgets} (sum {sum(budgets)}), {sizes['nodes']} nodes over 5 graphs, "
          f"{sum(sizes['candidates'])} candidate edges vs {sum(sizes['matrix'])} dense entries")
    print(f"train step, batch {a.batch}, 32x32:  graphwire {t['graphwire'] * 1e3:.0f} ms | refresh=10 "
          f"{t['graphwire_refresh10'] * 1e3:.0f} ms | reference (full sort) {t['reference_full_sort'] * 1e3:.0f} ms"
          f"  -> {results['graphwire_over_reference']:.2f}x / {results['refresh10_over_reference']:.2f}x")
    print(f"selection: full sort of all entries {sel['full_sort_all_entries'] * 1e3:.1f} ms | "
          f"top-k per graph over usable edges {sel['topk_usable_edges'] * 1e3:.1f} ms")
    print(f"graph build {t_graph:.2f} s | compile {t_compile:.2f} s | write_back {t_wb:.2f} s | prune {t_prune:.2f} s")
    print(f"JSON of the pruned wiring ({pruned.number_of_edges()} edges, {size / 1e6:.1f} MB): save {t_save:.2f} s "
          f"+ load {t_load:.2f} s = {t_save + t_load:.2f} s")
    if not a.quick or a.out:
        print("saved", save("dnw" + ("-quick" if a.quick else ""), results, device, a.out))
    return results


if __name__ == "__main__":
    main()
