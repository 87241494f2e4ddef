"""Search engine costs: the engine's own time per trial (a trivial objective, so everything
measured is the engine: lease sweep, reading the study, proposal, the trial's creation with its
params and summary, tell) on the journal and on PostgreSQL, at the start of a study and after
1,000 trials; and the tabular benchmark's query time.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/search.py [--trials 1000] [--postgres URL]

Without ``--postgres`` a throw-away PostgreSQL cluster is started on 127.0.0.1 (initdb + pg_ctl,
as the ``postgres`` user when run as root; default durability settings) when the server is
installed. Targets: journal <= 10 ms and PostgreSQL <= 40 ms per trial, flat in the study's size.
Saves benchmarks/results/search-<device>.json.
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


def engine_cost(trials: int, storage: str | None, strategy: str = "random") -> dict:
    """Median engine ms per trial over the first and the last 100 trials of a ``trials``-trial run."""
    from graphwire.search.runner import run

    with tempfile.TemporaryDirectory() as d:
        out = run("cell", strategy, "graphwire.search._testing:instant", trials=trials, dir=d, storage=storage,
                  progress=False, strategy_options={"dedup": False} if strategy == "random" else None)
    tim = out["timings"]
    eng = [(t["engine_before"] + t["engine_after"]) * 1e3 for t in tim]
    k = min(100, len(eng) // 2)
    first, last = eng[1:k + 1], eng[-k:]
    return {"strategy": strategy, "trials": trials, "first_ms_median": statistics.median(first),
            "last_ms_median": statistics.median(last), "ratio_last_first": statistics.median(last) / statistics.median(first),
            "all_ms_mean": statistics.mean(eng[1:]), "window": k}


def start_postgres():
    """A throw-away PostgreSQL cluster on 127.0.0.1; returns (url, stop) or (None, reason)."""
    import glob
    import os
    import shutil
    import socket
    import subprocess

    def find(name):
        return shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)

    initdb, pg_ctl = find("initdb"), find("pg_ctl")
    if not initdb or not pg_ctl:
        return None, "no PostgreSQL server installed"
    base = tempfile.mkdtemp(prefix="gw-pg-bench-")
    data, sock = os.path.join(base, "data"), os.path.join(base, "sock")
    os.makedirs(sock)
    pre = []
    if os.geteuid() == 0:
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        os.chown(sock, pw.pw_uid, pw.pw_gid)
        pre = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(pre + [initdb, "-D", data, "-U", "gw", "--auth=trust", "-E", "UTF8"], check=True,
                   capture_output=True)
    subprocess.run(pre + [pg_ctl, "-D", data, "-l", os.path.join(base, "log"), "-w", "-o",
                          f"-p {port} -k {sock} -c listen_addresses=127.0.0.1", "start"], check=True, capture_output=True)

    def stop():
        subprocess.run(pre + [pg_ctl, "-D", data, "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)

    return f"postgresql://gw@127.0.0.1:{port}/postgres", stop


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--postgres", default=None, help="a PostgreSQL URL (default: start a throw-away server)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    res: dict = {"engine": {}}
    stop = None
    url = args.postgres
    if url is None:
        url, stop = start_postgres()
        if url is None:
            print(f"PostgreSQL skipped: {stop}")
            stop = None
    try:
        for name, storage in (("journal", None), ("postgresql", url)):
            if name == "postgresql" and not storage:
                continue
            r = engine_cost(args.trials, storage)
            res["engine"][name] = r
            target = 10.0 if name == "journal" else 40.0
            print(f"engine cost per trial, {name:10s} (trivial objective, 1 worker): "
                  f"{r['first_ms_median']:.1f} ms over trials 1-{r['window']}, {r['last_ms_median']:.1f} ms over the "
                  f"last {r['window']} of {r['trials']} (ratio {r['ratio_last_first']:.2f}); target <= {target:.0f} ms",
                  flush=True)
    finally:
        if stop:
            stop()
    res["query"] = query_time()
    q = res["query"]
    print(f"tabular query: {q['query_by_hash_ms']:.4f} ms by hash, {q['query_new_graph_ms']:.3f} ms for a new graph "
          f"(hash included); {q['cells']} cells, loaded in {q['load_seconds']:.2f} s")
    res["strategies_on_table"] = strategy_time()
    for name, r in res["strategies_on_table"].items():
        print(f"  {name:10s} {r['seconds_per_run']:.2f} s per 100-query search ({r['ms_per_query']:.2f} ms/query)")
    path = save("search", res, torch.device("cpu"), args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
