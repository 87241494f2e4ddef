"""Search engine costs: overhead per trial (ask -> tell) against a 1-epoch MNIST-1D trial, and the
tabular benchmark's query time.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/search.py [--trials 12] [--workers 1]

Overhead = everything a worker does for a trial that is not the objective itself: sweeping
leases, reading the trial list, the strategy's proposal, ask, writing the graph JSON and the
trial record, the per-epoch ``trial.report`` calls' storage writes are *inside* the objective
time (they happen during training), then tell. It is measured per trial in the worker
(``Worker.timings``) with the default journal-file storage, and printed next to the
objective's own time. Saves benchmarks/results/search-<device>.json.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
from _common import save


def query_time(n: int = 20000) -> dict:
    from graphwire.search.tabular import TabularBenchmark

    t0 = time.perf_counter()
    table = TabularBenchmark()
    load = time.perf_counter() - t0
    rng = random.Random(0)
    graphs = [table.space.sample(rng) for _ in range(200)]
    hashes = [table.space.hash(G) for G in graphs]
    t = time.perf_counter()
    for i in range(n):
        table.query(hashes[i % 200], rng=rng)
    by_hash = (time.perf_counter() - t) / n
    fresh = [table.space.decode(table.space.encode(G)) for G in graphs]  # new graph objects: hash computed
    t = time.perf_counter()
    for G in fresh:
        table.query(G, rng=rng)
    by_graph = (time.perf_counter() - t) / len(fresh)
    return {"cells": len(table), "load_seconds": round(load, 4), "query_by_hash_ms": by_hash * 1e3,
            "query_new_graph_ms": by_graph * 1e3}


def strategy_time(budget: int = 100, runs: int = 3) -> dict:
    from graphwire.search.tabular import TabularBenchmark, simulate

    table = TabularBenchmark()
    out = {}
    for name in ("random", "evolution", "rl", "pnas", "tpe"):
        simulate(name, budget=5, seed=0, table=table)  # imports, warm-up
        secs = [simulate(name, budget=budget, seed=s, table=table)["seconds"] for s in range(runs)]
        out[name] = {"seconds_per_run": statistics.median(secs), "ms_per_query": statistics.median(secs) / budget * 1e3}
    return out


def overhead(trials: int, strategy: str) -> dict:
    from graphwire.search.runner import Worker, init_run

    with tempfile.TemporaryDirectory() as d:
        init_run(d, space="cell", strategy=strategy, objective="train", trials=trials, epochs=1, pruner="none")
        w = Worker(d)
        w.run.objective.data()  # the dataset is made once per worker process, not per trial
        while w.step() != "done":
            pass
        tim = w.timings[1:]  # the first trial pays one-off costs (imports, op registration)
    eng = [t["engine_before"] + t["engine_after"] for t in tim]
    obj = [t["objective"] for t in tim]
    return {"strategy": strategy, "trials": len(tim), "engine_ms_median": statistics.median(eng) * 1e3,
            "engine_ms_mean": statistics.mean(eng) * 1e3, "objective_s_median": statistics.median(obj),
            "overhead_percent": 100 * statistics.median(eng) / statistics.median(obj),
            "per_trial": tim}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    res = {"overhead": [overhead(args.trials, s) for s in ("random", "evolution")],
           "query": query_time(), "strategies_on_table": strategy_time()}
    q = res["query"]
    print(f"tabular query: {q['query_by_hash_ms']:.4f} ms by hash, {q['query_new_graph_ms']:.3f} ms for a new graph "
          f"(hash included); {q['cells']} cells, loaded in {q['load_seconds']:.2f} s")
    for name, r in res["strategies_on_table"].items():
        print(f"  {name:10s} {r['seconds_per_run']:.2f} s per 100-query search ({r['ms_per_query']:.2f} ms/query)")
    for o in res["overhead"]:
        print(f"engine overhead ({o['strategy']}, journal file, 1 worker): {o['engine_ms_median']:.1f} ms per trial "
              f"vs {o['objective_s_median']:.2f} s for a 1-epoch MNIST-1D trial = {o['overhead_percent']:.2f}% "
              f"(target < 2%)")
    path = save("search", res, torch.device("cpu"), args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
