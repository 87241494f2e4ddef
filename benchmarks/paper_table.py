"""The paper table: every paper-faithful factory counted against its paper's published figures.

Counts each row of :data:`graphwire.models.paper_table.PAPER_ROWS` (parameters and multiply-adds
of the chosen wiring at 224 px, 1,000 classes; RandWire rows the mean of seeds 0-4) and prints
the Markdown table of docs/models.md.

    OMP_NUM_THREADS=1 python benchmarks/paper_table.py [--only NAME ...] [--fast]

Results: benchmarks/results/paper_table-cpu.json (machine named).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save

from graphwire.models.paper_table import PAPER_ROWS, measure, within


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x / 1e9:.2f}G" if x >= 1e9 else f"{x / 1e6:.3f}M" if x < 10e6 else f"{x / 1e6:.1f}M"


def _cell(ours: float, paper: float | None) -> str:
    if paper is None:
        return f"{_fmt(ours)} / —"
    return f"{_fmt(ours)} / {_fmt(paper)} ({(ours / paper - 1) * 100:+.1f}%)"


def table(results: list[dict]) -> str:
    lines = ["| model | command | params: ours / paper | MACs: ours / paper | within 2% |",
             "|---|---|---|---|---|"]
    for r in results:
        ok = []
        for key in ("params", "macs"):
            if r[f"paper_{key}"] is not None:
                ok.append(f"{key}: {'yes' if within(r[key], r[f'paper_{key}']) else 'no'}")
        lines.append(f"| {r['name']} | `{r['command']}` | {_cell(r['params'], r['paper_params'])} | "
                     f"{_cell(r['macs'], r['paper_macs'])} | {', '.join(ok)} |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", help="rows whose name contains one of these")
    p.add_argument("--fast", action="store_true", help="skip the slow rows (RandWire, DNW)")
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    a = p.parse_args(argv)
    rows = [r for r in PAPER_ROWS if (not a.only or any(s in r.name for s in a.only)) and not (a.fast and r.slow)]
    results = []
    for row in rows:
        t = time.perf_counter()
        m = measure(row)
        results.append({"name": row.name, "paper": row.paper, "command": row.command, "seeds": row.seeds,
                        "paper_params": row.params, "paper_macs": row.macs, "note": row.note,
                        "seconds": time.perf_counter() - t, **m})
        print(f"{row.name}: {_fmt(m['params'])} params, {_fmt(m['macs'])} MACs ({time.perf_counter() - t:.1f} s)",
              flush=True)
    text = table(results)
    print(text)
    out = {"rows": results, "table": text}
    if not a.only and not a.fast:
        save("paper_table", out, torch.device("cpu"), a.out)
    return out


if __name__ == "__main__":
    main()
