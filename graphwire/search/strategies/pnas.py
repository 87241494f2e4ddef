"""PNAS (Liu et al. 2018): progressive cell search with a surrogate.

Round 1 trains every 1-block cell. Each later round expands the best K cells of the deepest
level by one block, refits an ensemble of small MLPs on *all* finished trials (each member on
4/5 of them), ranks the children by the ensemble mean and queues the top K (plus a few random
ones, ``explore``, against the surrogate's blind spots). At the largest block count it keeps
ranking the not-yet-tried cells of that level. After each round it reports the Spearman rank
correlation between what it predicted for that round and what was measured.
"""

from __future__ import annotations

import math

from ...errors import ParameterError
from .base import Proposal, Record, Strategy, completed, seen_hashes


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None for fewer than 3 pairs."""
    if len(a) < 3:
        return None

    def ranks(x):
        order = sorted(range(len(x)), key=lambda i: x[i])
        r = [0.0] * len(x)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r

    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = math.sqrt(sum((x - ma) ** 2 for x in ra))
    vb = math.sqrt(sum((y - mb) ** 2 for y in rb))
    return None if va == 0 or vb == 0 else cov / (va * vb)


class PNAS(Strategy):
    name = "pnas"
    stateful = True

    def __init__(self, *, beam: int = 20, ensemble: int = 5, hidden: int = 32, steps: int = 100,
                 explore: float = 0.1):
        super().__init__()
        if beam < 1 or ensemble < 1:
            raise ParameterError(f"pnas: need beam >= 1 and ensemble >= 1, got {beam}, {ensemble}")
        self.beam, self.ensemble, self.hidden, self.steps, self.explore = beam, ensemble, hidden, steps, explore
        self.queue: list[Proposal] = []
        self.round = 0
        self.pending: set[str] = set()       # hashes proposed in the current beam round, not yet finished
        self.predicted: dict[str, float] = {}
        self.log: list[dict] = []
        self.level = 1

    def options(self) -> dict:
        return {"beam": self.beam, "ensemble": self.ensemble, "hidden": self.hidden, "steps": self.steps,
                "explore": self.explore}

    def setup(self, space, *, seed: int = 0):
        from ..spaces import SearchSpace

        if type(space).expand is SearchSpace.expand or not hasattr(space, "initial"):
            raise ParameterError(f"pnas needs a space that can expand cells (the cell space), got {space.name!r}")
        return super().setup(space, seed=seed)

    # ------------------------------------------------------------------ surrogate
    def _features(self, G) -> list[float]:
        """One-hot of every active choice (inactive block slots are all zeros); cached by hash."""
        cache = self.space.__dict__.setdefault("_pnas_features", {})
        h = self.space.hash(G)
        if h not in cache:
            cache[h] = self._onehot(G)
        return cache[h]

    def _onehot(self, G) -> list[float]:
        c = self.space.encode(G)
        active = set(self.space.active(c))
        f: list[float] = []
        for k, vals in self.space.dims.items():
            f.extend(1.0 if (k in active and c[k] == v) else 0.0 for v in vals)
        return f

    def _fit_predict(self, train: list[Record], cands: list) -> list[float]:
        """Fit the ensemble (k MLPs trained as one batched model, each on its own 4/5 of the
        data via a loss mask) on standardised values; return the mean prediction per candidate."""
        import torch

        X = torch.tensor([self._features(r.graph) for r in train])
        y = torch.tensor([r.value for r in train], dtype=torch.float32)
        mu = y.mean()
        sd = y.std().clamp_min(1e-6) if len(y) > 1 else torch.tensor(1.0)
        ys = (y - mu) / sd
        Xc = torch.tensor([self._features(G) for G in cands])
        g = torch.Generator().manual_seed(self.seed * 1000 + self.round)
        k, d, hdim, n = self.ensemble, X.shape[1], self.hidden, len(train)
        mask = torch.ones(k, n)
        if n >= 5 and k > 1:
            for i in range(k):
                mask[i, torch.randperm(n, generator=g)[: n // 5]] = 0.0
        w1 = (torch.randn(k, d, hdim, generator=g) / d ** 0.5).requires_grad_()
        b1 = torch.zeros(k, 1, hdim, requires_grad=True)
        w2 = (torch.randn(k, hdim, 1, generator=g) / hdim ** 0.5).requires_grad_()
        b2 = torch.zeros(k, 1, 1, requires_grad=True)
        net = lambda x: (torch.relu(x @ w1 + b1) @ w2 + b2).squeeze(-1)
        opt = torch.optim.Adam([w1, b1, w2, b2], lr=0.01, weight_decay=1e-4)
        xb = X.expand(k, n, d)
        for _ in range(self.steps):
            opt.zero_grad()
            loss = (((net(xb) - ys) ** 2) * mask).sum() / mask.sum()
            loss.backward()
            opt.step()
        with torch.no_grad():
            preds = net(Xc.expand(k, len(cands), d)).mean(0)
        return (preds * sd + mu).tolist()

    # ------------------------------------------------------------------ rounds
    def _next_round(self, history: list[Record]) -> None:
        done = completed(history)
        avoid = seen_hashes(history)
        self.round += 1
        if self.round == 1:
            cells = [G for G in self.space.initial() if self.space.hash(G) not in avoid]
            self.queue = [Proposal(G, {"op": "pnas", "round": 1, "blocks": 1}) for G in cells]
            self.pending = {self.space.hash(p.graph) for p in self.queue}
            self.predicted = {}
            return
        blocks = lambda r: self.space.encode(r.graph)["blocks"]
        deepest = max(blocks(r) for r in done)
        parents = sorted([r for r in done if blocks(r) == deepest], key=lambda r: r.value, reverse=True)
        if deepest < self.space.blocks:  # expand the beam by one block
            level = deepest + 1
            cands, seen = [], set(avoid)
            for r in parents[: self.beam]:
                for G in self.space.expand(r.graph):
                    h = self.space.hash(G)
                    if h not in seen:
                        seen.add(h)
                        cands.append(G)
        else:  # the largest cells: keep ranking the untried children of the best parents
            level = deepest
            cands, seen = [], set(avoid)
            for r in [r for r in done if blocks(r) == deepest - 1] if deepest > 1 else []:
                for G in self.space.expand(r.graph):
                    h = self.space.hash(G)
                    if h not in seen:
                        seen.add(h)
                        cands.append(G)
        if not cands:
            self.queue, self.pending = [], set()
            return
        preds = self._fit_predict(done, cands)
        order = sorted(range(len(cands)), key=lambda i: preds[i], reverse=True)
        n_explore = round(self.explore * self.beam) if len(cands) > self.beam else 0
        top = order[: self.beam - n_explore]
        rest = order[self.beam - n_explore:]
        top += self.rng.sample(rest, min(n_explore, len(rest)))
        self.queue = [Proposal(cands[i], {"op": "pnas", "round": self.round, "blocks": level,
                                          "predicted": round(preds[i], 4)}) for i in top]
        self.pending = {self.space.hash(p.graph) for p in self.queue}
        self.predicted = {self.space.hash(p.graph): p.meta["predicted"] for p in self.queue}
        self.level = level

    def propose(self, history: list[Record], n: int) -> list[Proposal]:
        if not self.queue and not self.pending:
            self._next_round(history)
        out, self.queue = self.queue[:n], self.queue[n:]
        return out

    def observe(self, records: list[Record]) -> dict | None:
        entry = None
        for r in records:
            if r.hash in self.pending:
                self.pending.discard(r.hash)
                if r.value is not None:
                    self._measured.setdefault(self.round, {})[r.hash] = r.value
        if not self.pending and not self.queue:
            got = self._measured.get(self.round, {})
            hs = [h for h in got if h in self.predicted]
            rho = spearman([self.predicted[h] for h in hs], [got[h] for h in hs])
            entry = {"round": self.round, "blocks": self.level, "trained": len(got),
                     "rank_correlation": None if rho is None else round(rho, 4),
                     "best": round(max(got.values()), 4) if got else None}
            self.log.append(entry)
        return entry

    @property
    def _measured(self) -> dict:
        if not hasattr(self, "_meas"):
            self._meas: dict = {}
        return self._meas

    def state_dict(self) -> dict:
        from .._graphio import graph_to_text

        return {"round": self.round, "level": self.level, "pending": sorted(self.pending),
                "predicted": self.predicted, "log": self.log,
                "queue": [{"graph": graph_to_text(p.graph), "meta": p.meta} for p in self.queue],
                "measured": {str(k): v for k, v in self._measured.items()}}

    def load_state_dict(self, state: dict) -> None:
        from .._graphio import graph_from_text

        self.round, self.level = int(state["round"]), int(state["level"])
        self.pending, self.predicted = set(state["pending"]), dict(state["predicted"])
        self.log = list(state["log"])
        self.queue = [Proposal(graph_from_text(q["graph"]), dict(q["meta"])) for q in state["queue"]]
        self._meas = {int(k): v for k, v in state["measured"].items()}
