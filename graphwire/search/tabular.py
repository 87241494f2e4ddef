"""A tabular benchmark made here (NAS-Bench style): every cell of a small cell space trained on
MNIST-1D, shipped as gzip'd JSON in the package (``data/mnist1d_cells.json.gz``; regenerate with
``scripts/make_search_table.py``). ``query`` replaces training by a dict lookup, so a strategy
runs hundreds of searches in seconds (:func:`simulate`).
"""

from __future__ import annotations

import gzip
import json
import random
import time
from pathlib import Path
from typing import Any

import networkx as nx

from ..errors import FormatError, ParameterError
from .hashing import HASH_VERSION
from .spaces import CellSpace, space_from_spec
from .strategies import Record, make_strategy

DEFAULT_TABLE = Path(__file__).with_name("data") / "mnist1d_cells.json.gz"


class TabularBenchmark:
    """Look up a cell's recorded validation accuracy by its hash.

    ``query(G, seed=None, epoch=None)``: the accuracy after ``epoch`` (default: the last) of
    one training seed (``seed=None``: a seed drawn from ``rng``, as a real, noisy evaluation
    would be), or the mean over seeds with ``seed="mean"``.
    """

    def __init__(self, path: str | Path | None = None):
        path = Path(path) if path is not None else DEFAULT_TABLE
        try:
            doc = json.loads(gzip.decompress(path.read_bytes()))
        except OSError as e:
            raise FormatError(f"tabular benchmark {str(path)!r}: cannot read it ({e})") from None
        except ValueError as e:
            raise FormatError(f"tabular benchmark {str(path)!r}: not gzip'd JSON ({e})") from None
        if doc.get("format") != "graphwire-search-table":
            raise FormatError(f"tabular benchmark {str(path)!r}: field 'format' is not 'graphwire-search-table'")
        if doc.get("hash_version") != HASH_VERSION:
            raise FormatError(f"tabular benchmark {str(path)!r}: made with hash version {doc.get('hash_version')!r}, "
                              f"this install hashes with {HASH_VERSION!r}; regenerate it with "
                              "scripts/make_search_table.py")
        self.path, self.doc = path, doc
        self.space: CellSpace = space_from_spec(doc["space"])
        self.cells: dict[str, dict] = doc["cells"]
        self.settings, self.machine = doc["settings"], doc["machine"]
        self.epochs = int(self.settings["epochs"])
        self._mean = {h: sum(s[-1] for s in r["val_acc"]) / len(r["val_acc"]) for h, r in self.cells.items()}
        self.best_hash = max(self._mean, key=self._mean.get)
        self.best = self._mean[self.best_hash]
        self.rng = random.Random(0)

    def __len__(self) -> int:
        return len(self.cells)

    def record(self, G_or_hash: nx.DiGraph | str) -> dict:
        h = G_or_hash if isinstance(G_or_hash, str) else self.space.hash(G_or_hash)
        if h not in self.cells:
            raise ParameterError(f"tabular benchmark: graph with hash {h} is not in the table "
                                 f"(the table covers {self.space.spec()})")
        return self.cells[h]

    def mean(self, G_or_hash: nx.DiGraph | str) -> float:
        """Mean final accuracy over the seeds (the 'true' value used for regret)."""
        h = G_or_hash if isinstance(G_or_hash, str) else self.space.hash(G_or_hash)
        self.record(h)
        return self._mean[h]

    def query(self, G_or_hash: nx.DiGraph | str, *, seed: Any = None, epoch: int | None = None,
              rng: random.Random | None = None) -> float:
        rec = self.record(G_or_hash)
        runs = rec["val_acc"]
        if seed == "mean":
            e = -1 if epoch is None else epoch - 1
            return sum(r[e] for r in runs) / len(runs)
        if seed is None:
            seed = (rng or self.rng).randrange(len(runs))
        if not 0 <= seed < len(runs):
            raise ParameterError(f"tabular benchmark: seed must be in 0..{len(runs) - 1}, got {seed!r}")
        return runs[seed][-1 if epoch is None else epoch - 1]

    def params(self, G_or_hash) -> int:
        return int(self.record(G_or_hash)["params"])


def simulate(strategy: Any, *, budget: int, seed: int = 0, table: TabularBenchmark | None = None,
             batch: int = 1, **options: Any) -> dict:
    """One search on the table: ``budget`` queries proposed ``batch`` at a time. Returns the
    observed values, the regret of the incumbent after each query (table optimum minus the
    mean accuracy of the best-*observed* cell), and the strategy's update log."""
    table = table or TabularBenchmark()
    strat = make_strategy(strategy, **options)
    strat.setup(table.space, seed=seed)
    rng = random.Random(10_000 + seed)
    history: list[Record] = []
    regret: list[float] = []
    best_obs, best_hash = -1.0, None
    log: list[dict] = []
    t0 = time.perf_counter()
    while len(history) < budget:
        props = strat.propose(history, min(batch, budget - len(history)))
        if not props:
            break
        new = []
        for p in props:
            h = table.space.hash(p.graph)
            runs = table.record(h)["val_acc"]
            curve = runs[rng.randrange(len(runs))]
            v = curve[-1]
            r = Record(len(history), p.graph, h, v, "complete", dict(p.meta), finished=float(len(history)),
                       intermediate={e + 1: x for e, x in enumerate(curve)})
            history.append(r)
            new.append(r)
            if v > best_obs:
                best_obs, best_hash = v, h
            regret.append(table.best - table.mean(best_hash))
        entry = strat.observe(new)
        if entry:
            log.append(entry)
    return {"strategy": strat.name, "seed": seed, "values": [r.value for r in history], "regret": regret,
            "hashes": [r.hash for r in history], "log": log, "seconds": time.perf_counter() - t0}
