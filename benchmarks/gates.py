"""Can sigmoid edge gates close? Candidate settings side by side on the demo's task.

Every candidate trains the demo's network (Watts-Strogatz WS(16, 4, 0.75) wired sepconv core on
scikit-learn's digits, batch 128, 10 epochs, wiring_lr 5), then prunes to half the edges by the learned
value (``ensure_path=True``), recompiles, re-estimates BatchNorm, fine-tunes 2 epochs and
re-estimates BatchNorm again (as ``graphwire demo`` does). The
control: as many edges chosen at random (all on an input -> output path), fine-tuned the same
way, 3 draws. Reported per candidate and seed: full accuracy, how the gates ended (near 0, near
1, stuck at 0.5), pruned and pruned+fine-tuned accuracy, the kept wiring's shape (nodes keeping
>= 2 inputs) and the random control.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/gates.py [--seeds 0 1] [--only carry_init3_l1]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import save

import graphwire as gw
from graphwire import data, generators, models
from graphwire.demo import BATCH, multi_input_nodes, random_wiring
from graphwire.train import evaluate, fit, recalibrate_bn


class SepConvNoNorm(nn.Module):
    """The seed's setting: ReLU -> depthwise -> pointwise, no normalisation after the merge."""

    def __init__(self, cin, cout, stride=1, dims=2):
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
        self.pw = nn.Conv2d(cin, cout, 1, bias=True)

    def forward(self, x):
        return self.pw(self.dw(F.relu(x)))


gw.register_op("sepconv_nonorm", SepConvNoNorm, spatial=True, overwrite=True)

# name: (graph tweak, model options, prune attribute(s))
CANDIDATES = {
    # today: sum merge, every op ends in BatchNorm; pruned by share (the demo before) and by weight
    "today": {"opts": {}, "attrs": ["share", "weight"]},
    # an L1 push towards 0 on the same gates
    "l1": {"opts": {"penalty": 0.1}, "attrs": ["weight"]},
    # the seed's setting: no normalisation after the merge (sum, or DenseNet-style concat), at the
    # demo's lr and at a 5x smaller one
    "seed_sum_nonorm_l1": {"opts": {"penalty": 0.1, "op": "sepconv_nonorm"}, "attrs": ["weight"]},
    "seed_sum_nonorm_l1_lr0.01": {"opts": {"penalty": 0.1, "op": "sepconv_nonorm"}, "attrs": ["weight"], "lr": 0.01},
    "seed_concat_nonorm_l1": {"opts": {"penalty": 0.1, "op": "sepconv_nonorm"}, "attrs": ["weight"], "concat": True},
    # the strength a node receives carried past its BatchNorm (sigmoid wiring, carry=True)
    "carry_init0_l1": {"opts": {"carry": True, "penalty": 0.1}, "attrs": ["weight"]},
    "carry_init3": {"opts": {"carry": True, "init": 3.0}, "attrs": ["weight"]},
    "carry_init3_l1": {"opts": {"carry": True, "penalty": 0.1, "init": 3.0}, "attrs": ["weight"]},
    "carry_init3_l1x3": {"opts": {"carry": True, "penalty": 0.3, "init": 3.0}, "attrs": ["weight"]},
    # the same, pruned one weakest edge at a time (dead nodes dropped after each cut) to half the edges
    "carry_init3_l1x3_stepwise": {"opts": {"carry": True, "penalty": 0.3, "init": 3.0}, "attrs": ["weight"],
                                  "stepwise": True},
}


def prune_stepwise(G, edges: int, *, attr: str = "weight"):
    """Prune ``G`` one edge at a time, the weakest by ``attr`` first, dropping the nodes each cut
    leaves off every input -> output path, until at most ``edges`` remain: unlike one cut to the
    budget, nodes that go take no budget with them, so "keep half" keeps about half."""
    H = G
    while H.number_of_edges() > edges:
        H = gw.prune(H, keep=H.number_of_edges() - 1, attr=attr, ensure_path=True)
    return H


def gate_stats(values: list[float]) -> dict:
    return {"n": len(values), "near0": sum(v < 0.1 for v in values), "near1": sum(v > 0.9 for v in values),
            "stuck_half": sum(abs(v - 0.5) < 0.01 for v in values),
            "min": round(min(values), 4), "max": round(max(values), 4)}


def tune(model, graph, train, test, finetune: int, wiring_opts: dict) -> dict:
    """The demo's fine-tuning: the same wiring on the pruned graph, gates and weights carried over,
    BatchNorm re-estimated before and after 2 epochs at lr 0.01."""
    small = model.recompile(graph, wiring="sigmoid", **wiring_opts)
    pruned = evaluate(small, test)["acc"]
    recalibrate_bn(small, train)
    fit(small, train, finetune, lr=0.01, progress=False)
    recalibrate_bn(small, train)
    return {"pruned": pruned, "tuned": evaluate(small, test)["acc"]}


def run(name: str, seed: int, epochs: int, finetune: int, controls: int) -> dict:
    cfg = CANDIDATES[name]
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    split = data.digits(seed=seed)
    train = data.loader(split.x_train, split.y_train, BATCH, seed=seed)
    test = data.loader(split.x_test, split.y_test, 256, shuffle=False)
    G = generators.watts_strogatz(16, 4, 0.75, seed=seed)
    if cfg.get("concat"):
        for n, d in G.nodes(data=True):
            if d.get("role") != "output":
                d["agg"] = "concat"
    opts = dict(cfg["opts"])
    op = opts.pop("op", "sepconv")
    wiring_opts = {k: v for k, v in opts.items() if k == "carry"}
    model = models.wired_conv2d(G, in_channels=1, num_classes=split.num_classes, channels=32, wiring="sigmoid", op=op, **opts)
    t0 = time.perf_counter()
    fit(model, train, epochs, lr=cfg.get("lr", 0.05), wiring_lr=5.0, progress=False)
    full = evaluate(model, test)["acc"]
    learned = model.write_back()
    gates = [d["weight"] for _, _, d in learned.edges(data=True)]
    row = {"candidate": name, "seed": seed, "full": full, "batch": BATCH, "bn_reestimated_after_finetune": True,
           "gates": gate_stats(gates),
           "train_seconds": round(time.perf_counter() - t0, 1), "prune": {}}
    for attr in cfg["attrs"]:
        if cfg.get("stepwise"):
            pg = prune_stepwise(learned, math.ceil(0.5 * learned.number_of_edges()), attr=attr)
        else:
            pg = gw.prune(learned, keep=0.5, attr=attr, ensure_path=True)
        acc = tune(model, pg, train, test, finetune, wiring_opts)
        ne = pg.number_of_edges()
        rand = []
        for c in range(controls):
            rg = random_wiring(learned, ne, seed=1000 * seed + c)
            rand.append({**tune(model, rg, train, test, finetune, wiring_opts), "edges": rg.number_of_edges()})
        row["prune"][attr] = {
            "edges": ne, "nodes": pg.number_of_nodes(), "multi_input_nodes": multi_input_nodes(pg),
            "kept_gate_stuck_half": sum(abs(d["weight"] - 0.5) < 0.01 for _, _, d in pg.edges(data=True)),
            "pruned": acc["pruned"], "tuned": acc["tuned"],
            "random_tuned": [r["tuned"] for r in rand], "random_edges": [r["edges"] for r in rand],
            "random_tuned_mean": statistics.mean(r["tuned"] for r in rand) if rand else None,
        }
    return row


def table(paths: list[str]) -> str:
    """The documentation's table from saved result files: one line per candidate, procedure and pruning
    attribute, each cell the values per seed (seed 0 / seed 1)."""
    rows = [r for p in paths for r in json.loads(Path(p).read_text())["results"]["rows"]]
    head = ("| candidate | seeds | full acc | gates < 0.1 / > 0.9 | pruned by | edges kept "
            "| nodes with >= 2 inputs | pruned + fine-tuned | random, same size (mean of 3) |")
    out = [head, "|---|---|---|---|---|---|---|---|---|"]
    groups: dict = {}
    for r in sorted(rows, key=lambda r: r["seed"]):
        old = "" if "batch" in r else " (batch 64, no 2nd BN estimate)"
        groups.setdefault(r["candidate"] + old, []).append(r)

    def cells(values, fmt):
        return " / ".join(format(v, fmt) for v in values)

    for name, rs in groups.items():
        for attr in rs[0]["prune"]:
            ps = [r["prune"][attr] for r in rs]
            out.append(
                f"| {name} | {cells([r['seed'] for r in rs], 'd')} | {cells([r['full'] for r in rs], '.3f')} | "
                + " / ".join(f"{r['gates']['near0']}, {r['gates']['near1']}" for r in rs)
                + f" | {attr} | {cells([p['edges'] for p in ps], 'd')} | {cells([p['multi_input_nodes'] for p in ps], 'd')}"
                f" | {cells([p['tuned'] for p in ps], '.3f')} | {cells([p['random_tuned_mean'] for p in ps], '.3f')} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--only", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--finetune", type=int, default=2)
    ap.add_argument("--controls", type=int, default=3)
    ap.add_argument("--tag", default="gates")
    ap.add_argument("--table", nargs="+", metavar="RESULTS_JSON", help="print the documentation's table from saved results")
    a = ap.parse_args(argv)
    if a.table:
        print(table(a.table))
        return 0
    torch.set_num_threads(1)
    rows = []
    for name in a.only:
        for seed in a.seeds:
            row = run(name, seed, a.epochs, a.finetune, a.controls)
            rows.append(row)
            p = " | ".join(f"{k}: {v['edges']}e {v['multi_input_nodes']}multi tuned {v['tuned']:.3f} "
                           f"rand {v['random_tuned_mean']:.3f}" for k, v in row["prune"].items())
            print(f"{name:24s} s{seed} full {row['full']:.3f} gates {row['gates']} | {p}", flush=True)
            path = save(a.tag, {"settings": vars(a), "rows": rows}, torch.device("cpu"))  # after every row
    print("saved", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
