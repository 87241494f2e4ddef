"""Do sigmoid edge gates separate in a plain PyTorch loop, and does pruning by gate beat pruning at random?

For every graph family (complete DAG, Erdos-Renyi, Watts-Strogatz), data set (scikit-learn's
digits, MNIST-1D, both flattened), optimizer (Adam lr 1e-3, SGD lr 0.05 momentum 0.9) and seed:

1. train ``models.wired_mlp(G, wiring="sigmoid")`` (or ``--wiring l0``) with the wiring's defaults
   (or ``--penalty``/``--init``/``--lam``) in a plain loop: ``optimizer(gw.train.param_groups(net, wiring_lr=...))``, loss =
   cross-entropy + ``net.regularizer()``, ``--epochs`` epochs at batch 64;
2. count the decisive gates (< 0.1 or > 0.9) in ``net.write_back()``;
3. prune by gate: ``gw.prune(G, threshold=0.5, ensure_path=True)`` (the gates that stayed open);
   prune at random: ``--controls`` random wirings with as many edges, each edge on an
   input -> output path;
4. recompile each pruned graph with ``init_from=net`` (every kept edge with coefficient 1, so only
   the choice of edges differs), re-estimate BatchNorm and measure the test accuracy, then again
   after ``--finetune`` epochs of the same loop.

Results go to ``benchmarks/results/<tag>-cpu.json`` after every run; ``--table FILE`` prints the
table of ``docs/gates.md`` from one.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/gates.py               # the table (3 seeds)
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/gates.py --wiring l0 --tag gates-l0
    python benchmarks/gates.py --table benchmarks/results/gates-cpu.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import save

import graphwire as gw
from graphwire import data, generators, models
from graphwire.demo import random_wiring
from graphwire.train import param_groups, recalibrate_bn

FAMILIES = {
    "complete": lambda seed: generators.complete(8),
    "er": lambda seed: generators.erdos_renyi(12, 0.3, seed=seed),
    "ws": lambda seed: generators.watts_strogatz(12, 4, 0.75, seed=seed),
}
#: optimizer -> (weights' lr, the gates' wiring_lr, constructor)
OPTIMIZERS = {
    "adam": (1e-3, 0.3, lambda groups, lr: torch.optim.Adam(groups, lr=lr)),
    "sgd": (0.05, 3.0, lambda groups, lr: torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=5e-4)),
}
DATASETS = ("digits", "mnist1d")
BATCH = 64
DECISIVE = (0.1, 0.9)

_SPLITS: dict = {}


def split(name: str, seed: int):
    key = (name, seed if name == "digits" else 0)
    if key not in _SPLITS:
        if name == "digits":
            _SPLITS[key] = data.digits(flat=True, seed=seed)
        else:
            s = data.mnist1d()
            _SPLITS[key] = data.Split(s.x_train.flatten(1), s.y_train, s.x_test.flatten(1), s.y_test)
    return _SPLITS[key]


def train(model, loader, optimizer, epochs: int) -> None:
    """The plain loop of ``docs/training-loop.md``."""
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y) + model.regularizer()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


@torch.no_grad()
def accuracy(model, s) -> float:
    model.eval()
    return (model(s.x_test).argmax(1) == s.y_test).float().mean().item()


def unit(G):
    """``G`` with every edge's coefficient 1 (no ``weight``): a static recompile then uses each kept edge as is."""
    H = G.copy()
    for *_, d in H.edges(data=True):
        d.pop("weight", None)
    return H


def evaluate_pruning(model, graph, s, loader, opt_name: str, finetune: int) -> dict:
    with warnings.catch_warnings():  # a random wiring may give a node new inputs: fresh parameters there
        warnings.simplefilter("ignore", UserWarning)
        small = model.recompile(unit(graph))
    recalibrate_bn(small, loader)
    out = {"edges": graph.number_of_edges(), "acc": accuracy(small, s)}
    if finetune:
        lr, _, make = OPTIMIZERS[opt_name]
        train(small, loader, make(small.parameters(), lr), finetune)
        out["acc_finetuned"] = accuracy(small, s)
    return out


def run(dataset: str, family: str, opt_name: str, seed: int, *, epochs: int, finetune: int, controls: int,
        wiring_options: dict, wiring_lr: float | None, wiring: str = "sigmoid") -> dict:
    torch.manual_seed(seed)
    s = split(dataset, seed)
    loader = data.loader(s.x_train, s.y_train, BATCH, seed=seed)
    G = FAMILIES[family](seed)
    model = models.wired_mlp(G, in_channels=s.x_train.shape[1], num_classes=s.num_classes, channels=32,
                             wiring=wiring, **wiring_options)
    lr, default_wlr, make = OPTIMIZERS[opt_name]
    wlr = wiring_lr if wiring_lr is not None else default_wlr
    t0 = time.perf_counter()
    train(model, loader, make(param_groups(model, wiring_lr=wlr), lr), epochs)
    seconds = time.perf_counter() - t0
    learned = model.write_back()
    gates = [d["weight"] for *_, d in learned.edges(data=True)]
    lo, hi = DECISIVE
    by_gate = gw.prune(learned, threshold=0.5, ensure_path=True)
    randoms = [random_wiring(learned, by_gate.number_of_edges(), seed=1000 * seed + c) for c in range(controls)]
    row = {
        "dataset": dataset, "family": family, "optimizer": opt_name, "seed": seed, "lr": lr, "wiring_lr": wlr,
        "wiring": wiring,
        "edges": G.number_of_edges(), "train_seconds": round(seconds, 2),
        "gates": {"decisive": sum(g < lo or g > hi for g in gates) / len(gates),
                  "closed": sum(g < lo for g in gates), "open": sum(g > hi for g in gates), "n": len(gates)},
        "full": accuracy(model, s),
        "by_gate": evaluate_pruning(model, by_gate, s, loader, opt_name, finetune),
        "random": [evaluate_pruning(model, R, s, loader, opt_name, finetune) for R in randoms],
    }
    return row


def _mean(xs):
    return statistics.mean(xs) if xs else float("nan")


def table(path: str) -> str:
    """The markdown table of ``docs/gates.md``: one line per data set, family and optimizer, each cell
    the mean over seeds (min-max in brackets for the gates)."""
    doc = json.loads(Path(path).read_text())
    rows = doc["results"]["rows"]
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["family"], r["optimizer"]), []).append(r)
    out = [f"wiring: {rows[0].get('wiring', 'sigmoid')}", "",
           "| data | graph (edges) | optimizer (lr / wiring_lr) | seeds | decisive gates | closed | full "
           "| pruned by gate: edges, acc | at random: acc | by gate, fine-tuned | at random, fine-tuned |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (ds, fam, opt), rs in groups.items():
        dec = [r["gates"]["decisive"] for r in rs]
        rand = [_mean([c["acc"] for c in r["random"]]) for r in rs]
        rand_ft = [_mean([c.get("acc_finetuned", float("nan")) for c in r["random"]]) for r in rs]
        gate_ft = [r["by_gate"].get("acc_finetuned", float("nan")) for r in rs]
        out.append(
            f"| {ds} | {fam} ({rs[0]['edges']}) | {opt} ({rs[0]['lr']:g} / {rs[0]['wiring_lr']:g}) | {len(rs)} "
            f"| {_mean(dec):.2f} ({min(dec):.2f}-{max(dec):.2f}) "
            f"| {_mean([r['gates']['closed'] / r['gates']['n'] for r in rs]):.2f} "
            f"| {_mean([r['full'] for r in rs]):.3f} "
            f"| {_mean([r['by_gate']['edges'] for r in rs]):.1f}, {_mean([r['by_gate']['acc'] for r in rs]):.3f} "
            f"| {_mean(rand):.3f} | {_mean(gate_ft):.3f} | {_mean(rand_ft):.3f} |")
    allr = rows
    wins = sum(r["by_gate"]["acc"] > _mean([c["acc"] for c in r["random"]]) for r in allr)
    wins_ft = sum(r["by_gate"].get("acc_finetuned", 0) > _mean([c.get("acc_finetuned", 0) for c in r["random"]])
                  for r in allr)
    out.append("")
    out.append(f"Runs: {len(allr)}; pruned by gate beats the random mean in {wins} (after fine-tuning: {wins_ft}); "
               f"mean decisive fraction {_mean([r['gates']['decisive'] for r in allr]):.2f}.")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    ap.add_argument("--optimizers", nargs="+", default=list(OPTIMIZERS), choices=list(OPTIMIZERS))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--finetune", type=int, default=1)
    ap.add_argument("--controls", type=int, default=2)
    ap.add_argument("--wiring", choices=("sigmoid", "l0"), default="sigmoid")
    ap.add_argument("--lam", type=float, help="l0 lam (default: the wiring's)")
    ap.add_argument("--penalty", type=float, help="sigmoid penalty (default: the wiring's)")
    ap.add_argument("--init", type=float, help="sigmoid init logit (default: the wiring's)")
    ap.add_argument("--carry", choices=("true", "false"), help="sigmoid carry (default: the wiring's)")
    ap.add_argument("--wiring-lr", dest="wiring_lr", type=float,
                    help="the gates' learning rate (default: per optimizer, see OPTIMIZERS)")
    ap.add_argument("--tag", default="gates")
    ap.add_argument("--table", metavar="RESULTS_JSON", help="print the table from saved results")
    a = ap.parse_args(argv)
    if a.table:
        print(table(a.table))
        return 0
    torch.set_num_threads(1)
    opts: dict = {}
    if a.penalty is not None:
        opts["penalty"] = a.penalty
    if a.init is not None:
        opts["init"] = a.init
    if a.carry is not None:
        opts["carry"] = a.carry == "true"
    if a.lam is not None:
        opts["lam"] = a.lam
    rows = []
    path = None
    for ds in a.datasets:
        for fam in a.families:
            for opt in a.optimizers:
                for seed in a.seeds:
                    r = run(ds, fam, opt, seed, epochs=a.epochs, finetune=a.finetune, controls=a.controls,
                            wiring_options=opts, wiring_lr=a.wiring_lr, wiring=a.wiring)
                    rows.append(r)
                    rand = _mean([c["acc"] for c in r["random"]])
                    print(f"{ds:8s} {fam:9s} {opt:5s} s{seed} decisive {r['gates']['decisive']:.2f} "
                          f"closed {r['gates']['closed']}/{r['gates']['n']} full {r['full']:.3f} | by gate "
                          f"{r['by_gate']['edges']}e {r['by_gate']['acc']:.3f} "
                          f"ft {r['by_gate'].get('acc_finetuned', float('nan')):.3f} | random {rand:.3f} ft "
                          f"{_mean([c.get('acc_finetuned', float('nan')) for c in r['random']]):.3f}", flush=True)
                    settings = {k: v for k, v in vars(a).items() if k != "table"}
                    settings["wiring_options"] = opts
                    path = save(a.tag, {"settings": settings, "rows": rows}, torch.device("cpu"))
    print("saved", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
