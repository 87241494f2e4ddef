"""Discovering Neural Wirings on MNIST-1D: a learned wiring vs random wirings with the same edge budget.

A tiny static neural graph of channel nodes (the paper's Table 1 model, scaled to MNIST-1D) is
trained three ways, each over several seeds, with the same nodes, the same number of edges and
the same recipe:

* ``dnw``: ``wiring="dnw"`` chooses the ``k`` edges (top-k of |w|, straight-through gradient);
* ``random``: ``k`` edges drawn uniformly, weights learned (the paper's random-graph baseline;
  nodes left without a path are dead, as in the paper);
* ``random, every node``: ``k`` random edges that keep every node on an input -> output path.

    python examples/dnw_mnist1d.py [--fast] [-o OUT] [--seeds 3] [--epochs 10]

Writes ``results.json`` (every run) and ``dnw_wiring.json`` (the first DNW run's wiring pruned to
its active edges) to OUT.
"""

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch

import graphwire as gw
from graphwire import data, train
from graphwire.models import dnw as D


def run(kind, seed, G, k, split, epochs, batch, lr):
    torch.manual_seed(seed)
    if kind == "dnw":
        graph = G
        model = gw.models.dnw_tiny(num_classes=10, in_channels=1, dims=1, graph=G, k=k)
    else:
        graph = D.random_edges(G, k, seed=seed, use_every_node=kind == "random, every node")
        model = gw.models.dnw_tiny(num_classes=10, in_channels=1, dims=1, graph=graph, k=1.0)  # every edge used, weights learned
    loader = data.loader(split.x_train, split.y_train, batch, seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4, foreach=True)
    t = time.perf_counter()
    train.fit(model, loader, epochs, optimizer=opt, progress=False, device="cpu")
    seconds = time.perf_counter() - t
    acc = train.evaluate(model, data.loader(split.x_test, split.y_test, 500, shuffle=False))["acc"]
    if kind == "dnw":
        learned = gw.prune(model.write_back(), attr="active")
    else:
        learned = graph
    edges = sum(1 for *_, d in learned.edges(data=True) if "stage" in d)
    nodes = sum(1 for _, d in learned.nodes(data=True) if d.get("op") == "channel")
    return {"kind": kind, "seed": seed, "acc": acc, "edges_used": edges, "channel_nodes_used": nodes,
            "seconds": seconds}, learned


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fast", action="store_true", help="a tiny model, one seed, one epoch (for tests)")
    p.add_argument("-o", "--out", default="dnw-mnist1d-out")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--k", type=float, default=0.125,
                   help="edge budget: a count, or a fraction of the candidate edges (the paper: 5%% of the "
                        "800 x 800 matrix = 12.5%% of the edges its static graph allows)")
    p.add_argument("--sizes", default="16,64,64,64,64", help="channel nodes per block")
    p.add_argument("--features", type=int, default=32, help="feature nodes (the last block's last ones)")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)

    if a.fast:
        split = data.mnist1d(num_samples=600)
        sizes, features, k, seeds, epochs = (4, 12, 12, 12, 12), 4, 120, 1, 1
    else:
        split = data.mnist1d()
        sizes, features, seeds, epochs = tuple(int(x) for x in a.sizes.split(",")), a.features, a.seeds, a.epochs
    G = D.tiny_graph(sizes, features)
    candidates = sum(1 for *_, d in G.edges(data=True) if "stage" in d)
    if not a.fast:
        k = int(a.k) if a.k >= 1 else math.ceil(a.k * candidates)
    print(f"channel graph: blocks {list(sizes)}, {features} features, {candidates} candidate edges, "
          f"budget k = {k} ({100 * k / candidates:.1f}%), {epochs} epochs x {seeds} seed(s)")

    runs = []
    for seed in range(seeds):
        for kind in ("dnw", "random", "random, every node"):
            r, learned = run(kind, seed, G, k, split, epochs, 64, 0.1)
            runs.append(r)
            print(f"  seed {seed} {kind:<20} accuracy {r['acc']:.3f}  edges used {r['edges_used']:>5}  "
                  f"channel nodes used {r['channel_nodes_used']:>4}  ({r['seconds']:.0f} s)")
            if kind == "dnw" and seed == 0:
                gw.io.to_json(learned, out / "dnw_wiring.json")

    table = {}
    for kind in ("dnw", "random", "random, every node"):
        accs = [r["acc"] for r in runs if r["kind"] == kind]
        edges = [r["edges_used"] for r in runs if r["kind"] == kind]
        table[kind] = {"mean": statistics.mean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                       "edges_used": statistics.mean(edges), "runs": len(accs)}
    print("\n| wiring | test accuracy (mean ± std) | edges used |")
    print("|---|---|---|")
    for kind, row in table.items():
        print(f"| {kind} | {100 * row['mean']:.1f} ± {100 * row['std']:.1f} | {row['edges_used']:.0f} |")
    gw.io.atomic_write(out / "results.json", json.dumps({"sizes": list(sizes), "features": features, "k": k,
                                                  "candidates": candidates, "epochs": epochs, "runs": runs,
                                                  "table": table}, indent=2) + "\n")
    return table


if __name__ == "__main__":
    main()
