"""``graphwire demo`` over several seeds: the ranges of what it prints, not one run.

Runs the demo (its defaults: 10 epochs, 2 fine-tuning epochs, 3 random controls) once per seed
and saves each run's report and the ranges to ``benchmarks/results/demo-seeds-cpu.json``; or, with
``--reports``, collects the ``report.json`` of runs made already (``graphwire demo --seed S -o DIR``).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/demo_seeds.py --seeds 0 1 2
    python benchmarks/demo_seeds.py --reports out0 out1 out2 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import save


def summary(report: dict, seed) -> dict:
    a, pg, c = report["accuracy"], report["pruned_graph"], report["control"]
    return {
        "seed": seed, "edges": report["graph"]["edges"], "gates_near_0": report["gates"]["near_0"],
        "gates_near_1": report["gates"]["near_1"], "pruned_edges": pg["edges"], "pruned_nodes": pg["nodes"],
        "removed_nodes": len(pg["removed_nodes"]), "multi_input_nodes": pg["multi_input_nodes"],
        "full": a["full"], "pruned": a["pruned"], "pruned_finetuned": a["pruned_finetuned"],
        "random_mean": c["mean_finetuned"],
        "margin_points": None if c["mean_finetuned"] is None else round(100 * (a["pruned_finetuned"]
                                                                             - c["mean_finetuned"]), 1),
        "seconds": report.get("seconds"),
    }


def ranges(rows: list[dict]) -> dict:
    keys = [k for k in rows[0] if k not in ("seed", "seconds") and all(r[k] is not None for r in rows)]
    return {k: [min(r[k] for r in rows), max(r[k] for r in rows)] for k in keys}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--reports", nargs="+", metavar="DIR", help="collect report.json from these demo folders")
    ap.add_argument("--tag", default="demo-seeds")
    a = ap.parse_args(argv)
    rows = []
    if a.reports:
        for i, d in enumerate(a.reports):
            report = json.loads((Path(d) / "report.json").read_text())
            rows.append(summary(report, report.get("seed", a.seeds[i] if i < len(a.seeds) else d)))
    else:
        from graphwire import demo

        for seed in a.seeds:
            with tempfile.TemporaryDirectory() as out:
                report = demo.run(out, seed=seed, progress=False, log=lambda *_: None)
            rows.append(summary(report, seed))
            print(json.dumps(rows[-1]), flush=True)
    result = {"runs": rows, "ranges": ranges(rows)}
    path = save(a.tag, result, torch.device("cpu"))
    print(json.dumps(result["ranges"], indent=1))
    print("saved", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
