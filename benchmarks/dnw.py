"""DNW benchmark: MobileNet V1 as a chain of channel graphs at the paper's widths, graphwire vs the
reference approach, on the compact candidate set (``channel_chain(compact=True)``, the default of
``models.dnw_mobilenet_v1``).

Per configuration, each in its own subprocess (so each has its own peak resident memory):

1. candidate build (``channel_chain(..., compact=True)``) and compile (``dnw_mobilenet_v1``);
2. the learned wiring: ``write_back`` + ``prune(attr="active")``, and JSON save + load of it;
   the peak RSS of the process up to here (build, compile, write-back, prune, JSON: the pipeline);
3. training step (forward + backward + SGD step), 32x32 inputs, batch 64: graphwire (top-k every
   step; and refreshed every 10 steps) against the approach of allenai/dnw written out below (one
   dense weight matrix per graph, usable or not, a full ``sort`` of it at every step, dense masked
   1x1 convolutions); the peak RSS after two steps of graphwire's model alone, and after all of it
   (the second graphwire model and the reference model included).

Configurations (``--configs``): ``x0.225`` and ``x0.49`` are the paper's widths as the reference
code builds them: the same 6.98M candidate edges (MobileNet V1's channel counts), budgets of a
width-d MobileNet (158,939 and 753,784 edges). ``x0.49-channels`` reads "width 0.49" the other way:
every channel count times 0.49 / 0.225 (about 33M candidate edges) with the x0.225 construction,
whose budgets are then about those of x0.49: a scale test.

    python benchmarks/dnw.py [--device cuda] [--repeats 3] [--quick] [--threads 1] [--configs x0.225 x0.49]

``--quick`` divides every channel count by 4 (16x fewer candidate edges), a smoke run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
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


CONFIGS = {
    "x0.225": (1.0, 0.225),
    "x0.49": (1.0, 0.49),
    "x0.49-channels": (0.49 / 0.225, 0.225),
}


def config_stages(name: str, div: int) -> list:
    scale, _ = CONFIGS[name]
    return [(max(1, round(i * scale) // div), max(1, round(o * scale) // div), s, b) for i, o, s, b in D.MOBILENET_V1_STAGES]


def peak_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def run_config(name: str, a) -> dict:
    """One configuration, in this process (see the module doc)."""
    device = torch.device(a.device)
    torch.manual_seed(0)
    stages = config_stages(name, 4 if a.quick else 1)
    width = CONFIGS[name][1]
    sizes = D.chain_sizes(stages)
    out: dict = {"config": name, "stages": [list(s) for s in stages], "width_mult": width,
                 "nodes_per_graph": sizes["stage_nodes"], "candidate_edges": sum(sizes["candidates"]),
                 "reference_matrix_entries": sum(sizes["matrix"])}
    rss0 = peak_rss_bytes()

    # ---- candidate build + compile
    G, t_graph = timed(lambda: D.channel_chain(stages, compact=True))
    model, t_compile = timed(lambda: gw.models.dnw_mobilenet_v1(num_classes=10, stages=stages, graph=G,
                                                                width_mult=width))
    out.update(budgets=model.budgets, graph_build_seconds=t_graph, compile_seconds=t_compile,
               build_plus_compile_seconds=t_graph + t_compile, peak_rss_after_compile_bytes=peak_rss_bytes())

    # ---- the learned wiring (the selection of the initial weights: the same work as after training)
    model.eval()
    learned, t_wb = timed(model.write_back)
    pruned, t_prune = timed(lambda: gw.prune(learned, attr="active"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dnw_mobilenet.json"
        _, t_save = timed(lambda: gw.io.to_json(pruned, path))
        size = path.stat().st_size
        back, t_load = timed(lambda: gw.io.load(path))
    assert back.number_of_edges() == pruned.number_of_edges()
    out.update(write_back_seconds=t_wb, prune_seconds=t_prune, write_back_plus_prune_seconds=t_wb + t_prune,
               learned_graph_edges=learned.number_of_edges(), pruned_edges=pruned.number_of_edges(),
               pruned_nodes=pruned.number_of_nodes(), json_bytes=size, json_save_seconds=t_save,
               json_load_seconds=t_load, json_round_trip_seconds=t_save + t_load,
               peak_rss_pipeline_bytes=peak_rss_bytes(), rss_at_start_bytes=rss0)
    learned = pruned = back = None  # free them before the training steps

    # ---- training step: graphwire's model alone first (its own peak memory), then all three
    model.train().to(device)
    x = torch.randn(a.batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (a.batch,), device=device)
    alone = train_step(model, x, y)
    for _ in range(2):
        alone()
    out.update(peak_rss_graphwire_training_bytes=peak_rss_bytes())
    refreshed = gw.models.dnw_mobilenet_v1(num_classes=10, stages=stages, graph=G, width_mult=width,
                                           refresh=10).to(device)
    ref = RefMobileNetV1Like(stages, width).to(device)
    t = interleaved({"graphwire": train_step(model, x, y), "graphwire_refresh10": train_step(refreshed, x, y),
                     "reference_full_sort": train_step(ref, x, y)}, device, repeats=a.repeats)
    w = torch.randn(sum(sizes["matrix"]), device=device)
    wu = torch.randn(len(model.wired.wiring.weight), device=device)
    sel = interleaved({"full_sort_all_entries": lambda: w.abs().sort(),
                       "topk_usable_edges": lambda: model.wired.wiring._select(wu)}, device, repeats=a.repeats)
    out.update(selection_seconds=sel)
    if device.type == "cuda":
        out.update(peak_cuda_allocated_bytes=torch.cuda.max_memory_allocated(device))
    out.update(step_seconds=t, graphwire_over_reference=t["graphwire"] / t["reference_full_sort"],
               refresh10_over_reference=t["graphwire_refresh10"] / t["reference_full_sort"],
               peak_rss_total_bytes=peak_rss_bytes())
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's); 1 on a shared machine")
    p.add_argument("--quick", action="store_true", help="channels / 4 (a smoke run, not for the published tables)")
    p.add_argument("--configs", nargs="+", default=["x0.225", "x0.49"], choices=sorted(CONFIGS))
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)  # one configuration, result as JSON on stdout
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.child:
        print("RESULT " + json.dumps(run_config(a.child, a)))
        return {}
    device = torch.device(a.device)
    runs = {}
    for name in a.configs:
        cmd = [sys.executable, __file__, "--child", name, "--device", a.device, "--repeats", str(a.repeats),
               "--batch", str(a.batch)] + (["--quick"] if a.quick else []) + (
                   ["--threads", str(a.threads)] if a.threads else [])
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            runs[name] = {"config": name, "failed": True, "returncode": proc.returncode, "stderr": proc.stderr[-2000:]}
            print(f"{name}: FAILED (exit {proc.returncode})\n{proc.stderr[-2000:]}")
            continue
        r = runs[name] = json.loads(line[len("RESULT "):])
        t = r["step_seconds"]
        gib = 2 ** 30
        print(f"== {name}: {r['candidate_edges']:,} candidate edges, budgets {r['budgets']} (sum {sum(r['budgets']):,})")
        print(f"  candidate build {r['graph_build_seconds']:.2f} s + compile {r['compile_seconds']:.2f} s = "
              f"{r['build_plus_compile_seconds']:.2f} s")
        print(f"  write_back {r['write_back_seconds']:.2f} s + prune {r['prune_seconds']:.2f} s = "
              f"{r['write_back_plus_prune_seconds']:.2f} s ({r['learned_graph_edges']:,} networkx edges written, "
              f"{r['pruned_edges']:,} after pruning)")
        print(f"  JSON of the pruned wiring ({r['json_bytes'] / 1e6:.1f} MB): save {r['json_save_seconds']:.2f} s + "
              f"load {r['json_load_seconds']:.2f} s")
        print(f"  peak RSS: after compile {r['peak_rss_after_compile_bytes'] / gib:.2f} GiB, pipeline "
              f"{r['peak_rss_pipeline_bytes'] / gib:.2f} GiB, + graphwire's training steps "
              f"{r['peak_rss_graphwire_training_bytes'] / gib:.2f} GiB, + the reference model and its steps "
              f"{r['peak_rss_total_bytes'] / gib:.2f} GiB")
        print(f"  train step, batch {a.batch}, 32x32: graphwire {t['graphwire'] * 1e3:.0f} ms | refresh=10 "
              f"{t['graphwire_refresh10'] * 1e3:.0f} ms | reference (full sort) {t['reference_full_sort'] * 1e3:.0f} ms"
              f"  -> {r['graphwire_over_reference']:.2f}x / {r['refresh10_over_reference']:.2f}x")
    results = {"quick": a.quick, "batch": a.batch, "size": 32, "repeats": a.repeats, "compact": True,
               "configs": runs}
    print(f"device: {device} | torch {torch.__version__} | threads {torch.get_num_threads()}"
          f"{' | QUICK (channels / 4)' if a.quick else ''}")
    if not a.quick or a.out:
        print("saved", save("dnw" + ("-quick" if a.quick else ""), results, device, a.out))
    failed = [name for name, r in runs.items() if r.get("failed")]
    if failed:
        raise SystemExit(f"failed: {failed}")
    return results


if __name__ == "__main__":
    main()
