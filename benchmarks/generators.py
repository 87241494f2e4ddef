"""Generator benchmark: O(n + m) generators against the code they replaced, in one run.

1. Targets, old vs new side by side (round-robin, median): ``erdos_renyi(10000, 0.0004)``
   (~20k edges; old: a coin flip per node pair, then a set-based conversion), WS and ER at 100k
   nodes (~400k edges; the old ER at 100k would flip 5e9 coins, so it is estimated from 10k by
   the n^2 law rather than run), BA and a chain at 100k.
2. Scaling of the new generators (ER with mean degree 8, WS(n, 8, 0.75), BA(n, 4)) from 1k to
   100k nodes, with the log-log slope of time against edges fitted by least squares.
3. The ``gnp`` / ``fast_gnp`` crossover behind ``algorithm="auto"``: ``erdos_renyi`` with
   each algorithm forced, over p at n = 1000 and 2000.

The "old" code is the pre-change conversion copied here verbatim (set of oriented edges,
per-node ``add_node``, ``sorted`` edges), so both sides run in the same process.

    OMP_NUM_THREADS=1 python benchmarks/generators.py [--quick] [--repeats 3]

Results: benchmarks/results/generators-cpu.json (``--quick``: generators-quick-cpu.json), machine named.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save

from graphwire import generators as gen
from graphwire.generators.random_graphs import ER_ALGORITHMS, FAST_GNP_BELOW


# ---------------------------------------------------------------- the replaced code, verbatim
def _old_build(roles, edges):
    G = nx.DiGraph()
    for i, role in enumerate(roles):
        G.add_node(i, role=role)
    G.add_edges_from(sorted(edges))
    return G


def _old_randwire_dag(U, n):
    edges = set()
    for u, v in U.edges():
        a, b = (u, v) if u < v else (v, u)
        edges.add((a + 1, b + 1))
    has_pred = {v for _, v in edges}
    has_succ = {u for u, _ in edges}
    out = n + 1
    for i in range(1, n + 1):
        if i not in has_pred:
            edges.add((0, i))
        if i not in has_succ:
            edges.add((i, out))
    return _old_build(["input"] + ["hidden"] * n + ["output"], edges)


def old_er(n, p, seed):
    return _old_randwire_dag(nx.erdos_renyi_graph(n, p, seed=seed), n)


def old_ws(n, k, p, seed):
    return _old_randwire_dag(nx.watts_strogatz_graph(n, k, p, seed=seed), n)


def old_ba(n, m, seed):
    return _old_randwire_dag(nx.barabasi_albert_graph(n, m, seed=seed), n)


def old_chain(n):
    return _old_build(["input"] + ["hidden"] * n + ["output"], [(i, i + 1) for i in range(n + 1)])


# ---------------------------------------------------------------- timing
def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def side_by_side(fns: dict, repeats: int) -> dict:
    """Round-robin medians (A B A B ...), so load drift hits both alike; also the edge count."""
    times = {k: [] for k in fns}
    edges = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            dt, G = timed(fn)
            times[name].append(dt)
            edges[name] = G.number_of_edges()
            del G
    return {k: {"seconds": statistics.median(v), "edges": edges[k]} for k, v in times.items()}


def slope(xs, ys) -> float:
    lx, ly = np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float))
    return float(np.polyfit(lx, ly, 1)[0])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="CI-sized: up to 10k nodes, one repeat")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    reps = 1 if args.quick else args.repeats
    big = 10_000 if args.quick else 100_000
    results: dict = {"targets": {}, "scaling": {}, "crossover": {}, "load_average_start": os.getloadavg()}
    print(f"load average at start: {results['load_average_start']}")

    # 1. targets ---------------------------------------------------------------
    print("== targets: old vs new (median of round-robin runs)")
    cases = {
        "erdos_renyi(10000, 0.0004)": (lambda: old_er(10_000, 0.0004, 1),
                                        lambda: gen.erdos_renyi(10_000, 0.0004, seed=1), reps),
        f"watts_strogatz({big}, 8, 0.75)": (lambda: old_ws(big, 8, 0.75, 1),
                                            lambda: gen.watts_strogatz(big, 8, 0.75, seed=1), max(1, reps - 2)),
        f"barabasi_albert({big}, 4)": (lambda: old_ba(big, 4, 1),
                                       lambda: gen.barabasi_albert(big, 4, seed=1), max(1, reps - 2)),
        f"chain({big})": (lambda: old_chain(big), lambda: gen.chain(big), reps),
        f"erdos_renyi({big}, {8 / big:g})": (None, lambda: gen.erdos_renyi(big, 8 / big, seed=1), max(1, reps - 2)),
    }
    for label, (old, new, r) in cases.items():
        fns = {"new": new} if old is None else {"old": old, "new": new}
        row = side_by_side(fns, r)
        if old is None:  # the old ER flips a coin per pair: scale the 10k measurement by n^2
            t10k = results["targets"]["erdos_renyi(10000, 0.0004)"]["old"]["seconds"]
            row["old (estimated, n^2 from 10k)"] = {"seconds": t10k * (big / 10_000) ** 2, "edges": None}
        old_s = next((v["seconds"] for k, v in row.items() if k.startswith("old")), None)
        row["speedup"] = old_s / row["new"]["seconds"] if old_s else None
        results["targets"][label] = row
        olds = f"old {old_s:8.3f} s" if old_s else "old        -"
        print(f"{label:34s} {olds}   new {row['new']['seconds']:7.3f} s   "
              f"({row['new']['edges']:,} edges)   speedup {row['speedup']:.1f}x", flush=True)

    # 2. scaling -----------------------------------------------------------------
    print("\n== scaling of the new generators (time against edges, log-log)")
    sizes = [1_000, 3_000, 10_000] if args.quick else [1_000, 3_000, 10_000, 30_000, 100_000]
    families = {
        "erdos_renyi (mean degree 8)": lambda n: gen.erdos_renyi(n, 8 / n, seed=2),
        "watts_strogatz(n, 8, 0.75)": lambda n: gen.watts_strogatz(n, 8, 0.75, seed=2),
        "barabasi_albert(n, 4)": lambda n: gen.barabasi_albert(n, 4, seed=2),
        "chain(n)": lambda n: gen.chain(n),
    }
    for fam, make in families.items():
        rows = []
        for n in sizes:
            r = reps if n <= 10_000 else max(1, reps - 2)
            ts = []
            for _ in range(r):
                dt, G = timed(lambda n=n, make=make: make(n))
                ts.append(dt)
            rows.append({"n": n, "edges": G.number_of_edges(), "seconds": statistics.median(ts)})
            del G
        s = slope([x["edges"] for x in rows], [x["seconds"] for x in rows])
        results["scaling"][fam] = {"rows": rows, "slope_time_vs_edges": s}
        cells = "  ".join(f"{x['n']:>6}: {x['seconds'] * 1000:8.1f} ms" for x in rows)
        print(f"{fam:28s} {cells}   slope {s:.2f}", flush=True)

    # 3. gnp / fast_gnp crossover ---------------------------------------------------
    print("\n== erdos_renyi(n, p): algorithm='gnp' / algorithm='fast_gnp' time ratio (> 1: fast_gnp faster)")
    ps = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9]
    for n in ([500] if args.quick else [1000, 2000]):
        row = {}
        for p in ps:
            ts = {"gnp": [], "fast_gnp": []}
            for _ in range(max(reps, 3)):
                for name in ER_ALGORITHMS:
                    ts[name].append(timed(lambda a=name, n=n, p=p: gen.erdos_renyi(n, p, seed=3, algorithm=a))[0])
            g, f = statistics.median(ts["gnp"]), statistics.median(ts["fast_gnp"])
            row[str(p)] = {"gnp": g, "fast_gnp": f, "ratio": g / f}
        cross = next((p for p in ps if row[str(p)]["ratio"] < 1.0), None)
        results["crossover"][str(n)] = {"by_p": row, "first_p_where_gnp_is_faster": cross}
        print(f"n={n:5d} " + "  ".join(f"p={p}: {row[str(p)]['ratio']:.2f}" for p in ps)
              + f"   -> gnp faster from p = {cross}", flush=True)

    results["load_average_end"] = os.getloadavg()
    print(f"load average at end: {results['load_average_end']}")
    results["auto_threshold_p"] = FAST_GNP_BELOW
    results["quick"] = args.quick
    path = save("generators-quick" if args.quick else "generators", results, torch.device("cpu"))
    print(f"\nsaved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
