"""Search engine costs: the engine's own time per trial (a trivial objective, so everything
measured is the engine: reading the study, proposal, the trial's creation with its params and
summary, tell, the run loop around them) on the journal and on PostgreSQL, over the first and
the last trials of a 1,000-trial run; and the tabular benchmark's query time.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/search.py [--trials 1000] [--postgres URL]

Without ``--postgres`` a throw-away PostgreSQL cluster is started on 127.0.0.1 (initdb + pg_ctl,
as the ``postgres`` user when run as root; default durability settings) when the server is
installed. Targets: journal <= 10 ms and PostgreSQL <= 40 ms per trial, flat in the study's size.

Per trial: ``wall`` is the time between two trials' results (everything the run does for one
trial), ``engine`` the worker's own step around the objective (the figure older records hold).
The record also holds what explains them: SQL statements and commits per trial (counted with
SQLAlchemy's event hooks), fsyncs per trial, the client's CPU time per trial, the disk's fsync
latency, PostgreSQL's loopback round trip and commit latency, and the load average before and
after each run. Saves benchmarks/results/search-<device>.json.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
from _common import save

from graphwire.search._testing import start_postgres

TARGET_MS = {"journal": 10.0, "postgresql": 40.0}


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


# ---------------------------------------------------------------------- counters
class Counters:
    """SQL statements and commits (SQLAlchemy event hooks on every engine) and fsyncs (``os.fsync``
    wrapped) while active."""

    def __init__(self):
        self.statements = self.commits = self.fsyncs = 0
        self.on = False
        self._fsync = os.fsync
        try:
            import sqlalchemy
            from sqlalchemy import event
        except ImportError:
            return
        event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", self._statement)
        event.listen(sqlalchemy.engine.Engine, "commit", self._commit)

    def _statement(self, *args, **kw):
        self.statements += self.on

    def _commit(self, *args, **kw):
        self.commits += self.on

    def __enter__(self):
        self.statements = self.commits = self.fsyncs = 0
        self.on = True
        real = self._fsync

        def fsync(fd):
            self.fsyncs += 1
            return real(fd)

        os.fsync = fsync
        return self

    def __exit__(self, *exc):
        self.on = False
        os.fsync = self._fsync


def fsync_latency(directory: str, n: int = 50) -> float:
    """Median ms of appending a 300-byte line and fsyncing it, in ``directory``."""
    fd, path = tempfile.mkstemp(dir=directory, prefix="fsync-probe-")
    try:
        times = []
        for _ in range(n):
            t = time.perf_counter()
            os.write(fd, b"x" * 299 + b"\n")
            os.fsync(fd)
            times.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        os.unlink(path)
    return statistics.median(times) * 1e3


def postgres_latency(url: str) -> dict:
    """Median ms of one loopback round trip (``SELECT 1``) and of a one-row insert with its commit
    (the server flushes its write-ahead log before answering) on a temporary table."""
    import sqlalchemy

    from graphwire.search.storage import resolve_driver

    engine = sqlalchemy.create_engine(resolve_driver(url), poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as c:
        def median_ms(fn, n):
            times = []
            for _ in range(n):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            return statistics.median(times) * 1e3

        c.execute(sqlalchemy.text("CREATE TEMPORARY TABLE gw_probe (x int)"))
        c.commit()
        rtt = median_ms(lambda: c.execute(sqlalchemy.text("SELECT 1")).scalar(), 300)

        def insert():
            c.execute(sqlalchemy.text("INSERT INTO gw_probe VALUES (1)"))
            c.commit()

        commit = median_ms(insert, 100)
        sync = c.execute(sqlalchemy.text("SHOW synchronous_commit")).scalar()
    engine.dispose()
    return {"round_trip_ms": rtt, "insert_commit_ms": commit, "synchronous_commit": sync}


# ---------------------------------------------------------------------- engine cost
def engine_cost(trials: int, storage: str | None, counters: Counters, window: int = 100,
                strategy: str = "random") -> dict:
    """Per-trial cost over the first and the last ``window`` trials of a ``trials``-trial run."""
    from graphwire.search.runner import run

    with tempfile.TemporaryDirectory() as d:
        disk = fsync_latency(d)
        load_before = os.getloadavg()
        c0, t0 = time.process_time(), time.perf_counter()
        with counters:
            out = run("cell", strategy, "graphwire.search._testing:instant", trials=trials, dir=d, storage=storage,
                      progress=False, strategy_options={"dedup": False} if strategy == "random" else None)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        load_after = os.getloadavg()
    tim = out["timings"]
    told = [t["told"] for t in tim]
    wall = [(b - a) * 1e3 for a, b in zip(told, told[1:])]          # trial i's cost: result i-1 -> result i
    eng = [(t["engine_before"] + t["engine_after"]) * 1e3 for t in tim[1:]]
    cpu_each = [(b["cpu"] - a["cpu"]) * 1e3 for a, b in zip(tim, tim[1:])]  # the process's CPU time per trial
    k = min(window, len(wall) // 2)

    def windows(xs):
        first, last = xs[:k], xs[-k:]
        return (statistics.median(first), statistics.median(last), statistics.median(last) / statistics.median(first),
                statistics.quantiles(first, n=10)[0], statistics.quantiles(last, n=10)[0])

    f, la, ratio, f10, l10 = windows(wall)
    ef, el, eratio, _, _ = windows(eng)
    cf, cl, cratio, _, _ = windows(cpu_each)
    n = len(tim)
    return {"strategy": strategy, "trials": trials, "window": k,
            "first_ms_median": f, "last_ms_median": la, "ratio_last_first": ratio,
            "first_ms_p10": f10, "last_ms_p10": l10, "all_ms_mean": statistics.mean(wall),
            "engine_first_ms_median": ef, "engine_last_ms_median": el, "engine_ratio_last_first": eratio,
            "cpu_first_ms_median": cf, "cpu_last_ms_median": cl, "cpu_ratio_last_first": cratio,
            "cpu_ms_per_trial": cpu / n * 1e3, "seconds": seconds,
            "sql_statements_per_trial": counters.statements / n, "sql_commits_per_trial": counters.commits / n,
            "fsyncs_per_trial": counters.fsyncs / n, "disk_fsync_ms": disk,
            "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load_after]}


def combine(runs: list[dict]) -> dict:
    """Several runs of one storage: every number is the median over the runs; the runs are kept."""
    out = {}
    for k, v in runs[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("trials", "window"):
            out[k] = statistics.median(r[k] for r in runs)
        else:
            out[k] = v
    out["load_before"], out["load_after"] = runs[0]["load_before"], runs[-1]["load_after"]
    out["repeats"] = len(runs)
    out["runs"] = runs
    return out


def describe(name: str, r: dict) -> None:
    met = max(r["first_ms_median"], r["last_ms_median"]) <= TARGET_MS[name]
    print(f"engine cost per trial, {name:10s} (trivial objective, 1 worker): "
          f"{r['first_ms_median']:.1f} ms over trials 1-{r['window']}, {r['last_ms_median']:.1f} ms over the "
          f"last {r['window']} of {r['trials']} (ratio {r['ratio_last_first']:.2f}); target <= "
          f"{TARGET_MS[name]:.0f} ms: {'met' if met else 'MISSED'}", flush=True)
    print(f"    worker step {r['engine_first_ms_median']:.1f} / {r['engine_last_ms_median']:.1f} ms; 10th percentile "
          f"{r['first_ms_p10']:.1f} / {r['last_ms_p10']:.1f} ms; CPU {r['cpu_first_ms_median']:.1f} / "
          f"{r['cpu_last_ms_median']:.1f} ms (ratio {r['cpu_ratio_last_first']:.2f}); per trial "
          f"{r['sql_statements_per_trial']:.1f} SQL statements, {r['sql_commits_per_trial']:.2f} commits, "
          f"{r['fsyncs_per_trial']:.2f} fsyncs; disk fsync {r['disk_fsync_ms']:.2f} ms; load "
          f"{r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--pg-trials", type=int, default=None, help="trials of the PostgreSQL run (default: --trials)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per storage, journal and PostgreSQL alternating (the record holds their medians)")
    ap.add_argument("--window", type=int, default=100, help="trials in the first and the last window")
    ap.add_argument("--postgres", default=None, help="a PostgreSQL URL (default: start a throw-away server)")
    ap.add_argument("--no-postgres", action="store_true", help="measure the journal only")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    res: dict = {"engine": {}, "load_average": [round(x, 2) for x in os.getloadavg()]}
    stop = None
    url = None if args.no_postgres else args.postgres
    if url is None and not args.no_postgres:
        try:
            url, stop = start_postgres()
        except RuntimeError as e:
            print(f"PostgreSQL skipped: {e}")
    counters = Counters()
    print(f"load average {res['load_average']}; {os.cpu_count()} cores", flush=True)
    storages = [("journal", None)] + ([("postgresql", url)] if url else [])
    runs: dict[str, list] = {name: [] for name, _ in storages}
    try:
        if url:
            res["postgresql_latency"] = postgres_latency(url)
            p = res["postgresql_latency"]
            print(f"PostgreSQL: loopback round trip {p['round_trip_ms']:.3f} ms, insert + commit "
                  f"{p['insert_commit_ms']:.2f} ms (synchronous_commit={p['synchronous_commit']})", flush=True)
        for i in range(args.repeat):
            for name, storage in storages:
                n = args.pg_trials if name == "postgresql" and args.pg_trials else args.trials
                runs[name].append(engine_cost(n, storage, counters, window=args.window))
                print(f"[run {i + 1}/{args.repeat}] ", end="")
                describe(name, runs[name][-1])
    finally:
        if stop:
            stop()
    for name, rs in runs.items():
        res["engine"][name] = combine(rs)
        print(f"median of {len(rs)} runs: ", end="")
        describe(name, res["engine"][name])
    res["query"] = query_time()
    q = res["query"]
    print(f"tabular query: {q['query_by_hash_ms']:.4f} ms by hash, {q['query_new_graph_ms']:.3f} ms for a new graph "
          f"(hash included); {q['cells']} cells, loaded in {q['load_seconds']:.2f} s")
    res["strategies_on_table"] = strategy_time()
    for name, r in res["strategies_on_table"].items():
        print(f"  {name:10s} {r['seconds_per_run']:.2f} s per 100-query search ({r['ms_per_query']:.2f} ms/query)")
    res["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    path = save("search", res, torch.device("cpu"), args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
