"""Where sparse aggregation beats the dense block GEMM: the measurement behind
``graphwire.compiler.plan.SPARSE_DENSITY``.

One source block of ``J`` input nodes feeding ``G`` hidden ``linear`` nodes (C = 8, dims 0,
``sigmoid`` wiring, batch 16) at a range of densities, compiled twice: ``sparse_density=0`` (the
dense ``[G, J]`` GEMM) and ``sparse_density=1`` (gather + ``index_add_`` over the block's edges).
Both nets hold the same modules; only the aggregation differs. One training step (forward and
backward) of each is timed, interleaved; the crossover is the density where the dense path starts
to win. Results: benchmarks/results/sparse_threshold-<device>.json.

    python benchmarks/sparse_threshold.py [--device cpu] [--quick] [--threads 1]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import networkx as nx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import graphwire as gw  # noqa: E402
from _common import interleaved, save  # noqa: E402


def block_graph(J: int, G: int, density: float, seed: int = 0) -> nx.DiGraph:
    """Inputs 0..J-1 -> hidden J..J+G-1 (each pair an edge with probability ``density``, every
    node keeping at least one edge) -> one output node."""
    r = random.Random(seed)
    D = nx.DiGraph()
    D.add_nodes_from(range(J), role="input")
    D.add_nodes_from(range(J, J + G))
    out = J + G
    D.add_node(out, role="output")
    m = max(1, round(density * G * J))
    pairs = set(r.sample(range(G * J), min(m, G * J)))
    for g in range(G):
        pairs.add(g * J + r.randrange(J))
    for j in range(J):
        pairs.add(r.randrange(G) * J + j)
    D.add_edges_from((p % J, J + p // J) for p in pairs)
    D.add_edges_from((J + g, out) for g in range(G))
    return D


def step_fn(net, x):
    def run():
        net.zero_grad(set_to_none=True)
        net(x).square().mean().backward()
    return run


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    sizes = [64, 256] if a.quick else [64, 256, 1024]
    densities = [0.01, 0.05, 0.2] if a.quick else [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]
    rows, crossover = [], {}
    for n in sizes:
        x = torch.randn(16, 8, device=device)
        for d in densities:
            D = block_graph(n, n, d)
            torch.manual_seed(0)
            dense = gw.compile(D, in_channels=8, channels=8, default_op="linear", dims=0, wiring="sigmoid",
                               sparse_density=0.0).to(device)
            torch.manual_seed(0)
            sparse = gw.compile(D, in_channels=8, channels=8, default_op="linear", dims=0, wiring="sigmoid",
                                sparse_density=1.0).to(device)
            t = interleaved({"dense": step_fn(dense, x), "sparse": step_fn(sparse, x)}, device,
                            repeats=3 if a.quick else a.repeats)
            real = (D.number_of_edges() - n) / (n * n)
            rows.append({"G": n, "J": n, "density": real, "dense_s": t["dense"], "sparse_s": t["sparse"],
                         "sparse_over_dense": t["sparse"] / t["dense"]})
            print(f"G=J={n:5d} density {real:.4f}: dense {t['dense'] * 1e3:8.2f} ms  sparse {t['sparse'] * 1e3:8.2f} ms"
                  f"  sparse/dense {t['sparse'] / t['dense']:.2f}", flush=True)
            if t["sparse"] > t["dense"] and n not in crossover:
                crossover[n] = real
    print("crossover density (first where dense wins), by G=J:", crossover)
    results = {"rows": rows, "crossover": crossover, "batch": 16, "channels": 8, "threads": a.threads,
               "current_SPARSE_DENSITY": gw.compiler.plan.SPARSE_DENSITY}
    print("saved", save("sparse_threshold" + ("-quick" if a.quick else ""), results, device, a.out))
    return results


if __name__ == "__main__":
    main()
