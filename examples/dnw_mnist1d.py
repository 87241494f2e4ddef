"""Discovering Neural Wirings on MNIST-1D at the paper's schedule: learned vs random wiring, with and
without the reference code's own settings.

A tiny static neural graph of channel nodes (the paper's Table 1 model, scaled to MNIST-1D) is
trained with the paper's recipe (SGD 0.1, momentum 0.9, weight decay 1e-4, learning rate x0.1 at
50% and 75% of the epochs, batch 64) over several seeds, in a grid of

* wirings: ``dnw`` (``wiring="dnw"`` picks the ``k`` edges: top-k of |w|, straight-through
  gradient) and ``random`` (``k`` edges drawn uniformly once, weights learned: the paper's
  random-graph baseline; nodes left without a path are removed, they could only add constants);
* settings: ``default`` (graphwire's: BatchNorm nodes, whole-map pooling, ``k`` counted over the
  graph's edges, closed nodes output 0, evaluation with the last training selection) and
  ``reference`` (allenai/dnw's static tiny model: ``norm="instance"``, ``pool="centre"``,
  ``k_over="dense"``, ``closed_nodes="run"``, ``eval_mask="current"``; its random baseline keeps
  5% of the whole dense matrix, so it has far fewer real edges).

Test accuracy is recorded after every epoch, so a swinging evaluation curve shows up in the JSON.

    python examples/dnw_mnist1d.py [--fast] [-o OUT] [--seeds 3] [--epochs 60] [--workers 2]

Writes ``results.json`` (every run, its per-epoch curve, the table, the machine) to OUT after every
finished run, and ``dnw_wiring.json`` (the first default DNW run's wiring pruned to its active
edges).
"""

import argparse
import json
import math
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _common import machine

import graphwire as gw
from graphwire import data
from graphwire.models import dnw as D

KINDS = ("dnw", "random")
SETTINGS = ("default", "reference")
#: dnw_tiny / wiring options that copy the reference code (allenai/dnw, static tiny model)
REFERENCE = {"norm": "instance", "pool": "centre"}
REFERENCE_DNW = {"k_over": "dense", "closed_nodes": "run", "eval_mask": "current"}


def accuracy(model, x, y, batch=500):
    model.eval()
    with torch.no_grad():
        hits = sum(int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum()) for i in range(0, len(y), batch))
    return hits / len(y)


def build(kind, setting, seed, G, cfg):
    """(model, graph it was compiled from) for one cell of the grid."""
    ref, ref_dnw = cfg.get("ref", REFERENCE), cfg.get("ref_dnw", REFERENCE_DNW)
    opts = ref if setting == "reference" else {}
    dense = setting == "reference" and "k_over" in ref_dnw
    torch.manual_seed(seed)
    if kind == "dnw":
        k = cfg["k_ref"] if dense else cfg["k"]
        wopts = ref_dnw if setting == "reference" else {}
        return gw.models.dnw_tiny(num_classes=10, in_channels=1, dims=1, graph=G, k=k, **opts, **wopts), G
    graph = (D.random_edges(G, cfg["k_ref"], seed=seed, k_over="dense") if dense
             else D.random_edges(G, cfg["k"], seed=seed))
    torch.manual_seed(seed)
    return gw.models.dnw_tiny(num_classes=10, in_channels=1, dims=1, graph=graph, k=1.0, **opts), graph  # every edge used


def run(kind, setting, seed, cfg, out):
    torch.set_num_threads(1)
    split = data.mnist1d(num_samples=cfg["num_samples"])
    G = D.tiny_graph(cfg["sizes"], cfg["features"])
    model, graph = build(kind, setting, seed, G, cfg)
    wiring = model.wired.wiring
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=0.9, weight_decay=1e-4)
    E = cfg["epochs"]
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [E // 2, (3 * E) // 4], 0.1)
    loader = data.loader(split.x_train, split.y_train, cfg["batch"], seed=seed)
    curve, t0 = [], time.perf_counter()
    for epoch in range(1, E + 1):
        model.train()
        before = wiring.active_mask().clone()
        seen, correct, loss_sum = 0, 0, 0.0
        for x, y in loader:
            out_ = model(x)
            loss = F.cross_entropy(out_, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(y)
            correct += int((out_.argmax(1) == y).sum())
            loss_sum += loss.item() * len(y)
        lr = opt.param_groups[0]["lr"]
        sched.step()
        after = wiring.active_mask()
        replaced = int((before & ~after).sum())
        rec = {"epoch": epoch, "lr": lr, "loss": loss_sum / seen, "train_acc": correct / seen,
               "test_acc": accuracy(model, split.x_test, split.y_test),
               "active_replaced": replaced / max(int(before.sum()), 1)}
        curve.append(rec)
    seconds = time.perf_counter() - t0
    if kind == "dnw":
        real = sum(r for r, _ in wiring.selected_edges().values())
        try:
            learned = gw.prune(model.write_back(), attr="active")
        except gw.errors.DeadNodeError:  # no input -> output path left (tiny budgets with k_over="dense")
            learned = None
    else:
        learned = graph
        real = sum(1 for *_, d in graph.edges(data=True) if "stage" in d)
    nodes = 0 if learned is None else sum(1 for _, d in learned.nodes(data=True) if d.get("op") == "channel")
    if kind == "dnw" and setting == "default" and seed == 0 and learned is not None:
        gw.io.to_json(learned, Path(out) / "dnw_wiring.json")
    accs = [r["test_acc"] for r in curve]
    high = [r["test_acc"] for r in curve if r["epoch"] <= E // 2]
    return {"kind": kind, "setting": setting, "seed": seed, "acc": curve[-1]["test_acc"],
            "edges_used": real, "channel_nodes_used": nodes, "seconds": seconds,
            "test_acc_min_high_lr": min(high) if high else None, "test_acc_max": max(accs), "curve": curve}


def summarise(runs):
    table = {}
    for setting in SETTINGS:
        for kind in KINDS:
            rs = [r for r in runs if r["kind"] == kind and r["setting"] == setting]
            if not rs:
                continue
            accs = [r["acc"] for r in rs]
            table[f"{kind}/{setting}"] = {
                "mean": statistics.mean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                "edges_used": statistics.mean(r["edges_used"] for r in rs),
                "channel_nodes_used": [min(r["channel_nodes_used"] for r in rs), max(r["channel_nodes_used"] for r in rs)],
                "test_acc_min_high_lr": min(r["test_acc_min_high_lr"] for r in rs),
                "epoch1_replaced": [r["curve"][0]["active_replaced"] for r in rs] if kind == "dnw" else None,
                "runs": len(rs)}
    return table


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fast", action="store_true", help="a tiny model, one seed, two epochs (for tests)")
    p.add_argument("-o", "--out", default="dnw-mnist1d-out")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=60, help="learning rate x0.1 at 50%% and 75%% of them")
    p.add_argument("--k", type=float, default=0.125,
                   help="default setting's budget: a count, or a fraction of the candidate edges (12.5%% = the "
                        "paper's density, 5%% of the dense matrix, counted over the edges)")
    p.add_argument("--k-ref", type=float, default=0.05,
                   help="reference setting's budget: a fraction of the dense n x n matrix (the paper: 5%%)")
    p.add_argument("--sizes", default="16,64,64,64,64", help="channel nodes per block")
    p.add_argument("--features", type=int, default=32, help="feature nodes (the last block's last ones)")
    p.add_argument("--settings", default=",".join(SETTINGS))
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--workers", type=int, default=1, help="processes in parallel (1 thread each)")
    p.add_argument("--reference-options", default="norm,pool,k_over,closed_nodes,eval_mask",
                   help="which reference options the 'reference' setting uses (to measure them one by one)")
    a = p.parse_args(argv)
    chosen = [o for o in a.reference_options.split(",") if o]
    for o in chosen:
        if o not in {**REFERENCE, **REFERENCE_DNW}:
            p.error(f"--reference-options: {o!r} is not one of {sorted({**REFERENCE, **REFERENCE_DNW})}")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)

    cfg = {"lr": 0.1, "batch": 64, "ref": {o: v for o, v in REFERENCE.items() if o in chosen},
           "ref_dnw": {o: v for o, v in REFERENCE_DNW.items() if o in chosen}}
    if a.fast:
        cfg.update(num_samples=400, sizes=(4, 8, 8, 8, 8), features=4, k=60, k_ref=0.05, epochs=2)
        seeds = 1
    else:
        cfg.update(num_samples=5000, sizes=tuple(int(x) for x in a.sizes.split(",")), features=a.features,
                   epochs=a.epochs, k_ref=a.k_ref)
        seeds = a.seeds
    G = D.tiny_graph(cfg["sizes"], cfg["features"])
    candidates = sum(1 for *_, d in G.edges(data=True) if "stage" in d)
    if not a.fast:
        cfg["k"] = int(a.k) if a.k >= 1 else math.ceil(a.k * candidates)
    n = G.number_of_nodes() - 2
    settings = [s for s in a.settings.split(",") if s]
    kinds = [k for k in a.kinds.split(",") if k]
    for s in settings:
        if s not in SETTINGS:
            p.error(f"--settings: {s!r} is not one of {SETTINGS}")
    for k in kinds:
        if k not in KINDS:
            p.error(f"--kinds: {k!r} is not one of {KINDS}")
    print(f"channel graph: blocks {list(cfg['sizes'])}, {cfg['features']} features, {candidates} candidate edges; "
          f"default k = {cfg['k']} ({100 * cfg['k'] / candidates:.1f}% of the edges), reference k = "
          f"{cfg['k_ref']} of the {n} x {n} dense matrix; {cfg['epochs']} epochs x {seeds} seed(s)")

    jobs = [(kind, setting, seed) for seed in range(seeds) for setting in settings for kind in kinds]
    record = {"task": "MNIST-1D (graphwire.data.mnist1d, 4000 train / 1000 test)" if not a.fast else "fast",
              "config": {**cfg, "sizes": list(cfg["sizes"]), "candidates": candidates, "dense": n * n,
                         "schedule": f"SGD lr {cfg['lr']}, momentum 0.9, wd 1e-4, batch {cfg['batch']}, "
                                     f"x0.1 at epochs {cfg['epochs'] // 2} and {3 * cfg['epochs'] // 4}",
                         "reference_options": {**cfg["ref"], **cfg["ref_dnw"]}, "workers": a.workers},
              "machine": machine(torch.device("cpu")), "runs": []}

    def done(r):
        record["runs"].append(r)
        record["table"] = summarise(record["runs"])
        gw.io.atomic_write(out / "results.json", json.dumps(record, indent=1) + "\n")
        print(f"  seed {r['seed']} {r['kind']:<6} {r['setting']:<9} accuracy {r['acc']:.3f}  real edges "
              f"{r['edges_used']:>5}  channel nodes used {r['channel_nodes_used']:>4}  lowest test acc. at "
              f"the high lr {r['test_acc_min_high_lr']:.3f}  ({r['seconds']:.0f} s)", flush=True)

    if a.workers > 1:
        with ProcessPoolExecutor(a.workers) as pool:
            futures = [pool.submit(run, *j, cfg, out) for j in jobs]
            for f in futures:
                done(f.result())
    else:
        for j in jobs:
            done(run(*j, cfg, out))

    table = record["table"]
    print("\n| wiring | setting | test accuracy (mean ± std) | real edges | channel nodes used |")
    print("|---|---|---|---|---|")
    for key, row in table.items():
        kind, setting = key.split("/")
        lo, hi = row["channel_nodes_used"]
        print(f"| {kind} | {setting} | {100 * row['mean']:.1f} ± {100 * row['std']:.1f} | "
              f"{row['edges_used']:.0f} | {lo}-{hi} |")
    return table


if __name__ == "__main__":
    main()
