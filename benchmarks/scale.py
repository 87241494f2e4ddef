"""How graphwire's cost grows with the graph: ER and WS graphs from 1k to 100k nodes.

For each family and size, in a subprocess of its own (so its peak resident memory is its own):
generate, compile (``linear`` nodes, C = 8, ``sigmoid`` wiring, dims 0), one training step
(forward + backward, batch 16) with the batched executor, the reference executor (up to the size
where a step is expected, growing linearly, to stay under ``--ref-limit`` seconds) and the hand-written vectorised
implementation (``_handwritten.HandWiredMLP``: stacked per-generation weights, gather +
``index_add_``), then ``write_back``, ``prune`` (the stronger half of the edges) and a JSON save +
load of the learned graph. The log-log slope of each cost against nodes and edges is fitted and
printed; results go to benchmarks/results/scale[-quick]-<device>.json and a plot to
docs/scale[-quick].png.

    nice -n 10 python benchmarks/scale.py [--quick] [--device cpu] [--threads 1] [--max-nodes 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import graphwire as gw
from graphwire.plan import SPARSE_DENSITY
from _common import interleaved, machine, save

COSTS = ("generate", "compile", "step_batched", "step_reference", "step_handwritten", "write_back", "prune",
         "json_roundtrip", "peak_rss_mb")


def generate(family: str, n: int, seed: int = 0):
    """ER with about 2 hidden edges per node (p = 4 / n: ER(10000, 0.0004), the 10k-node target) or
    WS(n, 4, 0.75). Uses graphwire's O(n + m) sampler when the generators have one (the
    ``algorithm`` option), else networkx's ``fast_gnp_random_graph`` through the same DAG recipe."""
    if family == "ws":
        return gw.generators.watts_strogatz(n, 4, 0.75, seed=seed), "watts_strogatz"
    p = 4.0 / n
    try:
        return gw.generators.erdos_renyi(n, p, seed=seed, algorithm="fast_gnp"), "erdos_renyi(fast_gnp)"
    except TypeError:  # generators without the algorithm option: O(n^2) gnp; sample fast_gnp here
        import networkx as nx

        from graphwire.generators._common import randwire_dag

        return randwire_dag(nx.fast_gnp_random_graph(n, p, seed=seed), n), "randwire_dag(fast_gnp) [benchmark]"


def _median_step(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def one(family: str, n: int, device: str, threads: int, reference: bool, repeats: int) -> dict:
    """Every cost for one graph (run in a fresh process)."""
    from _handwritten import HandWiredMLP

    torch.set_num_threads(threads)
    dev = torch.device(device)
    r: dict = {"family": family, "n": n}
    t = time.perf_counter()
    G, how = generate(family, n)
    r["generate"], r["generator"] = time.perf_counter() - t, how
    r["nodes"], r["edges"] = G.number_of_nodes(), G.number_of_edges()
    t = time.perf_counter()
    net = gw.compile(G, in_channels=8, channels=8, default_op="linear", dims=0, wiring="sigmoid")
    r["compile"] = time.perf_counter() - t
    blocks = [sb for st in net.plan.steps for sb in st.sources]
    r["steps"], r["sparse_blocks"], r["dense_blocks"] = len(net.plan.steps), sum(b.sparse for b in blocks), \
        sum(not b.sparse for b in blocks)
    net.to(dev).train()
    x = torch.randn(16, 8, device=dev)

    def step(model):
        def run():
            model.zero_grad(set_to_none=True)
            model(x).square().mean().backward()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
        return run

    step(net)()  # one training step first: its activations and gradients count in the pipeline's peak
    with torch.no_grad():
        net.wiring.logit.normal_()
    t = time.perf_counter()
    H = net.write_back()
    r["write_back"] = time.perf_counter() - t
    t = time.perf_counter()
    P = gw.prune(H, keep=0.5, ensure_path=True)
    r["prune"] = time.perf_counter() - t
    r["pruned_edges"] = P.number_of_edges()
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        gw.io.to_json(H, Path(d) / "g.json")
        H2 = gw.io.load(Path(d) / "g.json")
        r["json_roundtrip"] = time.perf_counter() - t
    assert H2.number_of_edges() == H.number_of_edges()
    del H2, P
    # the pipeline's peak, before the baselines below add their memory to this process
    r["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    t = time.perf_counter()
    hand = HandWiredMLP(G, in_channels=8, channels=8).to(dev)
    r["build_handwritten"] = time.perf_counter() - t
    # batched and hand-written round-robin (A B A B ...): drift in the machine's load hits both alike
    med = interleaved({"batched": step(net), "handwritten": step(hand)}, dev, repeats=repeats, warmup=1)
    r["step_batched"], r["step_handwritten"] = med["batched"], med["handwritten"]
    r["batched_over_handwritten"] = r["step_batched"] / r["step_handwritten"]
    r["pipeline"] = sum(r[k] for k in ("generate", "compile", "step_batched", "write_back", "prune", "json_roundtrip"))
    if reference:
        net.executor = "reference"
        r["step_reference"] = _median_step(step(net), 1)
        net.executor = "batched"
    r["peak_rss_mb_with_baselines"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return r


def slope(xs, ys) -> float | None:
    pts = [(x, y) for x, y in zip(xs, ys) if y is not None and y > 0]
    if len(pts) < 2:
        return None
    lx, ly = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(lx, ly, 1)[0])


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    for ax, fam in zip(axes, ("er", "ws")):
        rs = sorted((r for r in rows if r["family"] == fam), key=lambda r: r["edges"])
        for key in COSTS[:-1]:
            pts = [(r["edges"], r[key]) for r in rs if r.get(key)]
            if pts:
                ax.loglog(*zip(*pts), marker="o", label=key)
        ax.set_title(f"{fam.upper()}: seconds against edges (linear C=8, batch 16)")
        ax.set_xlabel("edges")
        ax.set_ylabel("seconds")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    ax = axes[2]
    for fam in ("er", "ws"):
        rs = sorted((r for r in rows if r["family"] == fam and r.get("peak_rss_mb")), key=lambda r: r["edges"])
        for x in ("edges", "nodes"):
            if rs:
                ax.loglog([r[x] for r in rs], [r["peak_rss_mb"] for r in rs], marker="o" if x == "edges" else "x",
                          linestyle="-" if x == "edges" else ":", label=f"{fam.upper()} against {x}")
    ax.set_title("peak resident memory of the pipeline (MB)")
    ax.set_xlabel("edges (solid) / nodes (dotted)")
    ax.set_ylabel("MB")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI-sized: 300 and 1000 nodes")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    ap.add_argument("--max-nodes", type=int, default=100_000)
    ap.add_argument("--families", nargs="*", default=["er", "ws"])
    ap.add_argument("--ref-limit", type=float, default=60.0, help="no reference step at a size where it would take longer (linear growth from the last size)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    ap.add_argument("--plot", default=None, help="plot path (default docs/scale[-quick].png)")
    ap.add_argument("--merge", action="store_true",
                    help="add this run's rows to the saved results (same family and size replaced), refit, replot")
    ap.add_argument("--rows-from", default=None,
                    help="take the rows from a log of '--one' runs (its RESULT lines) instead of running")
    ap.add_argument("--one", nargs=2, metavar=("FAMILY", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--no-reference", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.one:
        r = one(a.one[0], int(a.one[1]), a.device, a.threads, not a.no_reference, a.repeats)
        print("RESULT " + json.dumps(r))
        return r
    sizes = a.sizes or ([300, 1000] if a.quick else [1000, 3000, 10000, 30000, 100000])
    sizes = [s for s in sizes if s <= a.max_nodes]
    rows: list[dict] = []
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    if a.rows_from:
        rows = [json.loads(line[7:]) for line in Path(a.rows_from).read_text().splitlines() if line.startswith("RESULT ")]
        sizes = []
    for fam in a.families:
        reference = True
        for n in sizes:
            cmd = [sys.executable, __file__, "--one", fam, str(n), "--device", a.device, "--threads", str(a.threads),
                   "--repeats", str(1 if a.quick else a.repeats)] + ([] if reference else ["--no-reference"])
            t = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if out.returncode != 0 and reference:  # e.g. killed for memory by the reference executor
                print(f"{fam} n={n}: failed ({out.returncode}); again without the reference executor", flush=True)
                reference = False
                out = subprocess.run(cmd + ["--no-reference"], capture_output=True, text=True, env=env)
            if out.returncode != 0:
                print(f"{fam} n={n}: failed ({out.returncode}): {out.stderr.strip().splitlines()[-1:]}", flush=True)
                rows.append({"family": fam, "n": n, "error": out.stderr.strip().splitlines()[-1:]})
                continue
            r = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))[7:])
            r["wall"] = time.perf_counter() - t
            rows.append(r)
            # skip the reference step where it would pass the limit (it grew as edges^1.15-1.3 here)
            if r.get("step_reference", 0) * (3.5 ** 1.3) > a.ref_limit:
                reference = False
            print(f"{fam} n={r['nodes']:6d} e={r['edges']:6d}: gen {r['generate']:.2f}s compile {r['compile']:.2f}s "
                  f"step batched {r['step_batched'] * 1e3:.1f}ms reference "
                  f"{r.get('step_reference', float('nan')) * 1e3:.0f}ms hand {r['step_handwritten'] * 1e3:.1f}ms "
                  f"(batched/hand {r['batched_over_handwritten']:.2f}) write_back {r['write_back']:.2f}s "
                  f"prune {r['prune']:.2f}s json {r['json_roundtrip']:.2f}s pipeline {r['pipeline']:.1f}s "
                  f"peak {r['peak_rss_mb']:.0f} MB",
                  flush=True)
    name = "scale" + ("-quick" if a.quick else "")
    device = torch.device(a.device)
    if a.merge:
        old = Path(a.out or HERE / "results") / f"{name}-{'cuda' if device.type == 'cuda' else 'cpu'}.json"
        if old.exists():
            new = {(r["family"], r["n"]) for r in rows}
            prior = json.loads(old.read_text())["results"]["rows"]
            rows = sorted([r for r in prior if (r["family"], r["n"]) not in new] + rows,
                          key=lambda r: (r["family"], r["n"]))
    ok = [r for r in rows if "error" not in r]
    slopes: dict = {}
    families = sorted({r["family"] for r in ok}) or a.families
    for fam in families:
        rs = [r for r in ok if r["family"] == fam]
        for key in COSTS:
            slopes[f"{fam}/{key}/nodes"] = slope([r["nodes"] for r in rs], [r.get(key) for r in rs])
            slopes[f"{fam}/{key}/edges"] = slope([r["edges"] for r in rs], [r.get(key) for r in rs])
    print("fitted log-log slopes (cost ~ size^slope):")
    for fam in families:
        for key in COSTS:
            sn, se = slopes[f"{fam}/{key}/nodes"], slopes[f"{fam}/{key}/edges"]
            if sn is not None:
                print(f"  {fam:3s} {key:18s} vs nodes {sn:5.2f}  vs edges {se:5.2f}")
    results = {"rows": rows, "slopes": slopes, "threads": a.threads, "batch": 16, "channels": 8,
               "sparse_density": SPARSE_DENSITY, "machine": machine(device)}
    print("saved", save(name, results, device, a.out))
    png = Path(a.plot) if a.plot else HERE.parent / "docs" / f"{name}.png"
    plot(ok, png)
    print("plot", png)
    return results


if __name__ == "__main__":
    main()
