"""DARTS on the bundled 8x8 digits: search a cell, derive it, train the discrete network.

    python examples/darts_digits.py [--fast] [-o OUT] [--order 1|2] [--gate softmax|sigmoid]

Search: stem -> one DARTS normal cell (all eight DARTS candidates) -> pooled linear head; the
training split is halved into weights / architecture data (DARTS' train_portion 0.5); each step
an architecture step (Adam 3e-4, betas (0.5, 0.999), wd 1e-3; larger lr here for the short run)
on a held-out batch, then a weight step (SGD 0.025 cosine, momentum 0.9, wd 3e-4). Derive keeps
the top-2 inputs per state; the derived network keeps the search weights and is fine-tuned on
the whole training split. Writes OUT/searched.json, OUT/derived.json, OUT/results.json.
"""

import argparse
import json
import time
from pathlib import Path

import torch

import graphwire as gw
from graphwire import data, models, train


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fast", action="store_true", help="a tiny run (for tests)")
    p.add_argument("-o", "--out", default="darts-digits-out")
    p.add_argument("--order", type=int, default=1, choices=(1, 2))
    p.add_argument("--gate", default="softmax", choices=("softmax", "sigmoid"))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.fast:
        a.epochs, a.nodes, a.channels = 1, 2, 4
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    t0 = time.perf_counter()

    s = data.digits(seed=a.seed)
    x, y = s.x_train, s.y_train
    if a.fast:
        x, y = x[:128], y[:128]
    half = len(y) // 2
    search_train = data.loader(x[:half], y[:half], 64, seed=a.seed)
    search_val = data.loader(x[half:], y[half:], 64, seed=a.seed + 1)
    test = [(s.x_test, s.y_test)]

    torch.manual_seed(a.seed)
    net = models.darts_search_net(in_channels=1, num_classes=10, n_nodes=a.nodes, channels=a.channels, gate=a.gate)
    train.search(net, search_train, search_val, a.epochs, order=a.order, a_lr=3e-3, device="cpu")
    search_acc = train.evaluate(net, test)["acc"]
    searched = net.write_back()
    derived = gw.derive(searched, top_k=2, threshold=None)
    geno = derived.graph["graphwire"]["derived"]["genotype"]

    small = net.recompile(derived)  # the chosen ops keep their search weights
    train.fit(small, data.loader(x, y, 64, seed=a.seed), max(1, a.epochs), lr=0.05, progress=False, device="cpu")
    derived_acc = train.evaluate(small, test)["acc"]

    gw.io.to_json(searched, out / "searched.json")
    gw.io.to_json(derived, out / "derived.json")
    skips = sum(op == "skip_connect" for *_, op in geno)
    results = {"order": a.order, "gate": a.gate, "epochs": a.epochs, "search_accuracy": search_acc,
               "derived_accuracy": derived_acc, "genotype": geno, "skip_connects": skips,
               "search_params": net.wired.num_parameters(), "derived_params": small.wired.num_parameters(),
               "seconds": time.perf_counter() - t0}
    gw.io.atomic_write(out / "results.json", json.dumps(results, indent=2))
    print("derived cell: " + ", ".join(f"{u}->{v}: {op}" for u, v, op in geno))
    print(f"test accuracy: supernet {search_acc:.3f}, derived network {derived_acc:.3f} "
          f"({results['derived_params']} vs {results['search_params']} cell parameters, "
          f"{skips} skip_connect); {results['seconds']:.0f} s")
    return results


if __name__ == "__main__":
    main()
