"""Where sparse aggregation beats the dense block GEMM: the measurement behind
``graphwire.plan.SPARSE_DENSITY``.

One source block, ``J`` source nodes into ``G`` target nodes (C = 8 channels, batch 16, dims 0),
at a range of densities, aggregated the two ways the batched executor can: the dense block GEMM
over a ``[G, J]`` coefficient matrix, and gather (``index_select``) + scale + ``index_add_`` over
the block's edges. Forward and backward (gradients for activations and coefficients) are timed,
interleaved; the node ops are left out (they cost the same either way). The crossover is the
first density where the dense path wins. Results: benchmarks/results/sparse_threshold-<device>.json.

    python benchmarks/sparse_threshold.py [--device cpu] [--quick] [--threads 1]
    python benchmarks/sparse_threshold.py --er 10000   # a whole step of ER(10k): all dense vs default
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from graphwire.plan import SPARSE_DENSITY
from _common import interleaved, save


def dense_fn(c: torch.Tensor, y: torch.Tensor, G: int):
    """The batched executor's dense block (a batch-shared ``[G, J]`` coefficient matrix)."""
    def run():
        c.grad = y.grad = None
        B, J, F = y.shape
        part = torch.matmul(c, y) if G * J > 1024 else torch.bmm(c.expand(B, -1, -1), y)
        part.square().sum().backward()
    return run


def sparse_fn(coef: torch.Tensor, y: torch.Tensor, G: int, tgt, src, eid):
    """The batched executor's sparse block: gather the sources of every edge, scale, scatter."""
    def run():
        coef.grad = y.grad = None
        B, J, F = y.shape
        w = y.index_select(1, src) * coef[eid].unsqueeze(-1)
        part = y.new_zeros(B, G, F).index_add_(1, tgt, w)
        part.square().sum().backward()
    return run


def sparse_t_fn(coef: torch.Tensor, y: torch.Tensor, G: int, tgt, src, eid):
    """Node-major: move the sources to ``[J, B, F]`` once, gather and scatter along dim 0 (whole
    contiguous ``B * F`` rows), and back to ``[B, G, F]``."""
    def run():
        coef.grad = y.grad = None
        B, J, F = y.shape
        yt = y.transpose(0, 1).contiguous()
        w = yt.index_select(0, src) * coef[eid].view(-1, 1, 1)
        part = yt.new_zeros(G, B, F).index_add_(0, tgt, w).transpose(0, 1)
        part.square().sum().backward()
    return run


def torch_sparse_fn(coef: torch.Tensor, y: torch.Tensor, G: int, tgt, src, eid):
    """``torch.sparse.mm`` of a COO ``[G, J]`` coefficient matrix with the node-major sources."""
    ij = torch.stack([tgt, src])

    def run():
        coef.grad = y.grad = None
        B, J, F = y.shape
        c = torch.sparse_coo_tensor(ij, coef[eid], (G, J), is_coalesced=True)
        part = torch.sparse.mm(c, y.transpose(0, 1).reshape(J, B * F)).reshape(G, B, F).transpose(0, 1)
        part.square().sum().backward()
    return run


def graph_ab(n: int, device: torch.device, repeats: int) -> dict:
    """A whole training step of ER(n, 4/n) (scale.py's graph), all blocks dense against the default."""
    import graphwire as gw
    from scale import generate

    G, _ = generate("er", n)
    x = torch.randn(16, 8, device=device)
    fns = {}
    for name, d in (("all_dense", 0.0), ("default", SPARSE_DENSITY)):
        torch.manual_seed(0)
        net = gw.compile(G, in_channels=8, channels=8, default_op="linear", dims=0, wiring="sigmoid",
                         sparse_density=d).to(device)
        fns[name] = step_fn(net, x)
    t = interleaved(fns, device, repeats=repeats, warmup=1)
    print(f"ER({n}) step: all dense {t['all_dense']:.2f} s, default {t['default']:.2f} s "
          f"({t['all_dense'] / t['default']:.2f}x faster)")
    return {"n": n, "edges": G.number_of_edges(), "seconds": t}


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
    ap.add_argument("--er", type=int, default=0, help="only the whole-step A/B on ER(N, 4/N)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    if a.er:
        return graph_ab(a.er, device, 3)
    sizes = [64, 256] if a.quick else [64, 256, 1024]
    densities = [0.01, 0.05, 0.2] if a.quick else [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]
    rows, crossover = [], {}
    g = torch.Generator().manual_seed(0)
    for n in sizes:
        for d in densities:
            m = max(1, round(d * n * n))
            flat = torch.randperm(n * n, generator=g)[:m].sort().values
            tgt, src = (flat // n).to(device), (flat % n).to(device)
            eid = torch.arange(m, device=device)
            coef = torch.rand(m + 1, device=device, requires_grad=True)
            dense = torch.zeros(n, n, device=device)
            dense[tgt, src] = coef.detach()[:m]
            dense.requires_grad_(True)
            y = torch.randn(16, n, 8, device=device, requires_grad=True)  # batch 16, C = 8
            t = interleaved({"dense": dense_fn(dense, y, n), "sparse_batch_major": sparse_fn(coef, y, n, tgt, src, eid),
                             "sparse": sparse_t_fn(coef, y, n, tgt, src, eid),
                             "torch_sparse": torch_sparse_fn(coef, y, n, tgt, src, eid)}, device,
                            repeats=3 if a.quick else a.repeats)
            rows.append({"G": n, "J": n, "density": m / (n * n), "edges": m, "dense_s": t["dense"],
                         "sparse_s": t["sparse"], "sparse_batch_major_s": t["sparse_batch_major"],
                         "torch_sparse_s": t["torch_sparse"], "sparse_over_dense": t["sparse"] / t["dense"]})
            print(f"G=J={n:5d} density {m / (n * n):.4f} ({m:7d} edges): dense {t['dense'] * 1e3:8.3f} ms  "
                  f"sparse {t['sparse'] * 1e3:8.3f} ms (batch-major {t['sparse_batch_major'] * 1e3:8.3f}, "
                  f"torch.sparse {t['torch_sparse'] * 1e3:8.3f})  sparse/dense {t['sparse'] / t['dense']:.2f}", flush=True)
            if t["sparse"] > t["dense"] and n not in crossover:
                crossover[n] = m / (n * n)
    print("crossover density (first where dense wins), by G=J:", crossover)
    results = {"rows": rows, "crossover": crossover, "batch": 16, "channels": 8, "threads": a.threads,
               "current_SPARSE_DENSITY": SPARSE_DENSITY}
    print("saved", save("sparse_threshold" + ("-quick" if a.quick else ""), results, device, a.out))
    return results


if __name__ == "__main__":
    main()
