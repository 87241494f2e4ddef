"""DDW benchmark: training-step time of the instance-aware wiring vs static on the same graph.

A ResNet-18-like network (stages [2, 2, 2, 2] of complete DAGs of basic blocks, width 64),
CIFAR-sized 32x32 inputs: forward + backward + SGD step, timed round-robin in one run. The
DDW overhead is the routers (pool + linear per node) and the per-sample coefficient gather.

    python benchmarks/ddw.py [--device cuda] [--batch 64] [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved, save
from graphwire.models import ddw_resnet


def train_step(model, x, y, opt):
    def run():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return run


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="width 16, batch 16 (a smoke run)")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    device = torch.device(a.device)
    width, batch = (16, 16) if a.quick else (a.width, a.batch)
    torch.manual_seed(0)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    fns, info = {}, {}
    for wiring in ("static", "sigmoid", "ddw"):
        m = ddw_resnet([2, 2, 2, 2], num_classes=10, channels=width, wiring=wiring).to(device)
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
        fns[wiring] = train_step(m, x, y, opt)
        info[wiring] = {"params": sum(q.numel() for q in m.parameters())}
    t = interleaved(fns, device, repeats=a.repeats)
    rows = {w: dict(info[w], seconds=t[w], over_static=t[w] / t["static"]) for w in fns}
    print(f"device: {device} | torch {torch.__version__} | threads {torch.get_num_threads()} | "
          f"ResNet-18-like [2,2,2,2] width {width}, batch {batch}, 32x32")
    for w, r in rows.items():
        print(f"{w:8s} step {r['seconds'] * 1e3:8.1f} ms  x{r['over_static']:.3f} vs static  params {r['params']:,}")
    results = {"rows": rows, "width": width, "batch": batch, "repeats": a.repeats, "quick": a.quick}
    if not a.quick or a.out:
        print("saved", save("ddw" + ("-quick" if a.quick else ""), results, device, a.out))
    return results


if __name__ == "__main__":
    main()
