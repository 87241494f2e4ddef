"""The documentation's tabular experiment (docs/search.md): every strategy, many seeds, equal query budgets, on graphwire's
own MNIST-1D cell benchmark (a query is a dict lookup, so each search takes well under a second
to a few seconds).

    OMP_NUM_THREADS=1 nice -n 10 python examples/search_tabular.py --runs 100 --budget 100
    python examples/search_tabular.py --fast -o /tmp/x      # smoke test

Each query returns one training seed's final validation accuracy (drawn at random: a noisy
evaluation, as a real one would be); regret after q queries = the table's best mean accuracy
minus the mean accuracy of the cell with the best *observed* value so far. Writes
docs/search_regret.png and benchmarks/results/search_tabular-cpu.json (with the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

STRATEGIES = ("random", "evolution", "rl", "pnas", "tpe")
OPTIONS = {"evolution": {"population": 20, "sample": 5}, "rl": {"batch": 5}, "pnas": {"beam": 20}}
ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    ap.add_argument("-o", "--out", default=None,
                    help="folder for the plot and JSON (default: docs/ and benchmarks/results/)")
    ap.add_argument("--fast", action="store_true", help="3 runs of 20 queries (a smoke test)")
    ap.add_argument("--combine", nargs="+", default=None, metavar="JSON",
                    help="only merge results written by earlier invocations (e.g. strategies run in "
                         "parallel processes with --strategies ... -o DIR) into one plot and JSON")
    args = ap.parse_args(argv)
    if args.fast:
        args.runs, args.budget = 3, 20
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    args.plot = str(out / "search_regret.png") if out else str(ROOT / "docs" / "search_regret.png")
    args.json = str(out / "search_tabular-cpu.json") if out else str(
        ROOT / "benchmarks" / "results" / "search_tabular-cpu.json")

    import torch

    torch.set_num_threads(1)
    from graphwire.io import atomic_write
    from graphwire.search.tabular import TabularBenchmark, simulate

    table = TabularBenchmark()
    print(f"table: {len(table)} cells, best mean validation accuracy {table.best:.4f}")
    results: dict = {}
    if args.combine:
        docs = [json.loads(Path(f).read_text()) for f in args.combine]
        for d in docs:
            results.update(d["results"])
        args.runs, args.budget = docs[0]["runs"], docs[0]["budget"]
        args.strategies = []
        results = {k: results[k] for k in STRATEGIES if k in results}
        for name, r in results.items():
            line = "  ".join(f"q{q}: {v['mean']:.4f}±{v['std']:.4f}" for q, v in r["at"].items())
            print(f"{name:10s} {line}  optimum found {r['found_optimum']:.2f}  unique {r['unique_queries']:.1f}")
    for name in args.strategies:
        t0 = time.time()
        runs = [simulate(name, budget=args.budget, seed=s, table=table, **OPTIONS.get(name, {}))
                for s in range(args.runs)]
        curves = [r["regret"] for r in runs]
        found = sum(1 for c in curves if c[-1] == 0.0)
        uniq = statistics.mean(len(set(r["hashes"])) for r in runs)
        at = {}
        for q in (10, 25, 50, 100, 150):
            if q <= args.budget:
                vals = [c[q - 1] for c in curves]
                at[q] = {"mean": statistics.mean(vals), "std": statistics.pstdev(vals),
                         "median": statistics.median(vals)}
        mean_curve = [statistics.mean(c[i] for c in curves) for i in range(args.budget)]
        std_curve = [statistics.pstdev([c[i] for c in curves]) for i in range(args.budget)]
        extra = {}
        if name == "pnas":
            rho = [e["rank_correlation"] for r in runs for e in r["log"] if e.get("rank_correlation") is not None]
            extra["rank_correlation_mean"] = statistics.mean(rho) if rho else None
        if name == "rl":
            ent = [r["log"][-1]["entropy"] for r in runs if r["log"]]
            ent0 = [r["log"][0]["entropy"] for r in runs if r["log"]]
            extra["entropy_first_last"] = [statistics.mean(ent0), statistics.mean(ent)]
        results[name] = {"options": OPTIONS.get(name, {}), "at": at, "found_optimum": found / args.runs,
                         "unique_queries": uniq, "mean_curve": mean_curve, "std_curve": std_curve,
                         "seconds": time.time() - t0, **extra}
        line = "  ".join(f"q{q}: {v['mean']:.4f}±{v['std']:.4f}" for q, v in at.items())
        print(f"{name:10s} {line}  optimum found {found}/{args.runs}  unique {uniq:.1f}  "
              f"({time.time() - t0:.0f} s) {extra}", flush=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    xs = list(range(1, args.budget + 1))
    for name, r in results.items():
        m, s = r["mean_curve"], r["std_curve"]
        se = [v / args.runs ** 0.5 for v in s]
        ax.plot(xs, m, label=name)
        ax.fill_between(xs, [a - b for a, b in zip(m, se)], [a + b for a, b in zip(m, se)], alpha=0.2)
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("queries (trained architectures)")
    ax.set_ylabel("regret (validation accuracy)")
    ax.set_title(f"MNIST-1D cell table ({len(table)} cells): mean of {args.runs} runs, band = ±1 s.e.")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)
    doc = {"benchmark": "search_tabular", "runs": args.runs, "budget": args.budget, "table_best": table.best,
           "table_cells": len(table), "table_settings": table.settings,
           "machine": {"host": platform.node(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
                       "device": "cpu", "threads": 1},
           "results": results}
    atomic_write(args.json, json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.plot} and {args.json}")
    return 0


if __name__ == "__main__":
    main()
