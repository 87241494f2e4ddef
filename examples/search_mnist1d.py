"""The documentation's real (trained, not tabular) search (docs/search.md): evolution against random on MNIST-1D, each
with 2 worker processes sharing one journal file, at the same trial budget.

    OMP_NUM_THREADS=1 nice -n 10 python examples/search_mnist1d.py --trials 24 --epochs 2 --out runs/mnist1d
    python examples/search_mnist1d.py --fast -o /tmp/x      # smoke test

Equivalent to::

    graphwire search run cell --strategy evolution --option population=8 --option sample=3 \\
        --objective train --epochs 2 --trials 24 --workers 2 --dir runs/mnist1d/evolution
    graphwire search run cell --strategy random --objective train --epochs 2 --trials 24 --workers 2 \\
        --dir runs/mnist1d/random
    graphwire search report --dir runs/mnist1d/evolution --dir runs/mnist1d/random -o runs/mnist1d/report

Writes docs/search_mnist1d.png (best-so-far and accuracy vs parameters) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", default="runs/mnist1d", help="run folder (default runs/mnist1d)")
    ap.add_argument("--plot", default=None, help="default: docs/search_mnist1d.png (with --fast: in --out)")
    ap.add_argument("--fast", action="store_true",
                    help="a smoke test: 3 trials looked up in the tabular benchmark, 1 worker")
    args = ap.parse_args(argv)
    objective = ["--objective", "train", "--epochs", str(args.epochs)]
    if args.fast:
        args.trials, args.workers = 3, 1
        objective = ["--objective", "tabular"]
    out = Path(args.out)
    if args.plot is None:
        args.plot = str(out / "search_mnist1d.png") if args.fast else str(ROOT / "docs" / "search_mnist1d.png")
    runs = {"evolution": ["--option", "population=8", "--option", "sample=3"], "random": []}
    rows = []
    for name, opts in runs.items():
        d = out / name
        cmd = [sys.executable, "-m", "graphwire", "search", "run", "cell", "--strategy", name, *opts,
               *objective, "--trials", str(args.trials),
               "--workers", str(args.workers), "--seed", str(args.seed), "--dir", str(d)]
        print(" ".join(cmd[1:]), flush=True)
        t0 = time.time()
        subprocess.run(cmd, check=True)
        rows.append((name, d, time.time() - t0))
    rep = out / "report"
    subprocess.run([sys.executable, "-m", "graphwire", "search", "report", "--dir", str(out / "evolution"),
                    "--dir", str(out / "random"), "-o", str(rep), "--top", "3"], check=True)
    shutil.copyfile(rep / "search.png", args.plot)

    from graphwire.search.runner import Run

    print("\n| strategy | trials (complete/failed) | best val accuracy | mean val accuracy | workers | wall s |")
    print("|---|---|---|---|---|---|")
    summary = {}
    for name, d, secs in rows:
        r = Run(d)
        trials = r.study.get_trials(deepcopy=False)
        vals = [t.value for t in trials if t.state.name == "COMPLETE"]
        fails = sum(t.state.name == "FAIL" for t in trials)
        workers = {t.user_attrs.get("worker", "").rsplit(":", 1)[-1] for t in trials} - {""}
        summary[name] = {"best": max(vals), "mean": sum(vals) / len(vals), "complete": len(vals), "failed": fails,
                         "seconds": secs, "workers_seen": sorted(workers)}
        print(f"| {name} | {len(vals)}/{fails} | {max(vals):.4f} | {sum(vals) / len(vals):.4f} | "
              f"{len(workers)} | {secs:.0f} |")
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    main()
