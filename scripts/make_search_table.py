"""Regenerate graphwire's tabular search benchmark: every cell of a small cell space trained on MNIST-1D.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/make_search_table.py [--out graphwire/search/data/mnist1d_cells.json.gz]

Every distinct cell (by WL hash) of ``CellSpace(blocks=2, ops=CELL_OPS_1D, stack=2)`` is stacked
into a 1-D conv classifier (conv stem, width 16, the two cells, pooled linear head; static
wiring) and trained for EPOCHS epochs with SGD+cosine (lr 0.05, batch 128) on the 4,000
MNIST-1D training sequences, once per seed; the validation accuracy on the 1,000 held-out
sequences is recorded after every epoch. The run resumes from ``<out>.partial.json`` if
interrupted. Writes gzip'd JSON (atomically).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import time
from pathlib import Path

EPOCHS, SEEDS, WIDTH, BATCH, LR = 3, (0, 1), 16, 128, 0.05


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="graphwire/search/data/mnist1d_cells.json.gz")
    ap.add_argument("--limit", type=int, default=None, help="train only the first N cells (smoke test)")
    ap.add_argument("--reverse", action="store_true",
                    help="train from the last cell backwards into <out>.partial.rev.json (a second process "
                         "sharing the work; rerun without it to merge)")
    ap.add_argument("--start", type=int, default=0,
                    help="begin at this cell (a third process can take the middle: <out>.partial.<start>.json)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from graphwire import data, models
    from graphwire.io import atomic_write
    from graphwire.search import ops
    from graphwire.search.hashing import HASH_VERSION
    from graphwire.search.spaces import CellSpace
    from graphwire.train import fit

    space = CellSpace(blocks=2, stack=2)
    cells = space.enumerate()[: args.limit]
    split = data.mnist1d()
    train = data.loader(split.x_train, split.y_train, BATCH)
    val = data.loader(split.x_test, split.y_test, 500, shuffle=False)
    suffix = ".partial.rev.json" if args.reverse else f".partial.{args.start}.json" if args.start else ".partial.json"
    partial = Path(args.out + suffix)
    table: dict = {}
    for f in sorted(Path(args.out).parent.glob(Path(args.out).name + ".partial*.json")):
        table.update(json.loads(f.read_text()))  # resume from every process's checkpoint
    if args.reverse:
        cells = cells[::-1]
    cells = cells[args.start:] + cells[:args.start]
    t_start = time.time()
    for i, G in enumerate(cells):
        h = space.hash(G)
        if h in table:
            continue
        ops.ensure_ops(G)
        rec = {"choices": space.encode(G), "val_acc": [], "seconds": []}
        for seed in SEEDS:
            torch.manual_seed(seed)
            model = models.wired_conv1d(space.network(G), in_channels=1, num_classes=10, channels=WIDTH, wiring="static")
            t0 = time.perf_counter()
            hist = fit(model, train, EPOCHS, val_loader=val, lr=LR, progress=False)
            rec["seconds"].append(round(time.perf_counter() - t0, 3))
            rec["val_acc"].append([round(e["val_acc"], 4) for e in hist.epochs])
            rec["params"] = sum(p.numel() for p in model.parameters())
        table[h] = rec
        atomic_write(partial, json.dumps(table))  # a checkpoint per cell (the file is small)
        print(f"cell {i + 1}/{len(cells)}, {time.time() - t_start:.0f} s", flush=True)
    doc = {"format": "graphwire-search-table", "version": 1, "hash_version": HASH_VERSION,
           "space": space.spec(),
           "settings": {"dataset": "mnist1d(num_samples=5000, seed=42)", "model": "wired_conv1d",
                        "width": WIDTH, "epochs": EPOCHS, "seeds": list(SEEDS), "batch": BATCH, "lr": LR,
                        "metric": "val_acc per epoch on the 1,000 held-out sequences"},
           "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                       "python": sys.version.split()[0], "torch": torch.__version__, "device": "cpu",
                       "threads": 1,
                       "train_seconds_total": round(sum(sum(r["seconds"]) for r in table.values()))},
           "cells": table}
    blob = gzip.compress(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode(), mtime=0)
    atomic_write(args.out, blob)
    if args.limit is None:
        for f in Path(args.out).parent.glob(Path(args.out).name + ".partial*.json"):
            os.unlink(f)
    print(f"wrote {args.out}: {len(table)} cells, {len(blob) / 1e3:.1f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
