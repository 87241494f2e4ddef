"""PNAS, Liu et al. 2018, "Progressive Neural Architecture Search": progressive cell search
with a surrogate that shares its weights across blocks.

Round 1 trains every 1-block cell. Each later round expands the best K cells of the deepest
level by one block, ranks the children with the predictor and queues the top K (plus a few
random ones, ``explore``, against the surrogate's blind spots). At the largest block count it
keeps ranking the not-yet-tried cells of that level.

The predictor reads a cell as its sequence of blocks, each block the embeddings of its four
tokens (input 1, op 1, input 2, op 2; one embedding table for inputs and one for ops, shared by
every block position), so a (b+1)-block child is scored with the same weights that learned
from the b-block cells, and cells of any size are read: ``predictor="mlp"`` averages the block
vectors and applies an MLP; ``predictor="lstm"`` runs an LSTM over the blocks. An ensemble of
``ensemble`` such predictors, each trained on its own 4/5 of the finished trials (L1 loss), is
fitted once and then fine-tuned from its current weights after every round. After each round
the strategy logs the Spearman rank correlation between what it predicted for that round and
what was measured.
"""

from __future__ import annotations

import base64
import io
import math

from ...errors import ParameterError
from ..checks import check_choice, check_float, check_int
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


def cell_tokens(space, G) -> list[tuple[int, int, int, int]]:
    """A cell as its blocks' tokens: (input 1, op 1, input 2, op 2) with ops as indices."""
    c = space.encode(G)
    ops = space.ops
    return [(c[f"b{b}_in1"], ops.index(c[f"b{b}_op1"]), c[f"b{b}_in2"], ops.index(c[f"b{b}_op2"]))
            for b in range(c["blocks"])]


class Predictor:
    """An ensemble of block-sharing predictors (see the module docstring); torch is imported here.
    The MLP members are trained as one batched model (a leading member dimension on every
    weight); the LSTM members one after another."""

    def __init__(self, *, kind: str, inputs: int, ops: int, members: int, hidden: int, embed: int, seed: int):
        import torch

        nn = torch.nn
        self.kind, self.members, self.seed = kind, members, seed
        torch.manual_seed(seed)
        k, d, h = members, 4 * embed, hidden
        self.net = m = nn.Module()
        m.emb_in = nn.Parameter(torch.randn(k, inputs, embed) * 0.1)
        m.emb_op = nn.Parameter(torch.randn(k, ops, embed) * 0.1)
        if kind == "lstm":
            m.rnns = nn.ModuleList([nn.LSTM(d, h, batch_first=True) for _ in range(k)])
            m.heads = nn.ModuleList([nn.Linear(h, 1) for _ in range(k)])
        else:
            m.w1 = nn.Parameter(torch.randn(k, d, h) / d ** 0.5)
            m.b1 = nn.Parameter(torch.zeros(k, 1, h))
            m.w2 = nn.Parameter(torch.randn(k, h, h) / h ** 0.5)
            m.b2 = nn.Parameter(torch.zeros(k, 1, h))
            m.w3 = nn.Parameter(torch.randn(k, h, 1) / h ** 0.5)
            m.b3 = nn.Parameter(torch.zeros(k, 1, 1))
        self.opt = torch.optim.Adam(m.parameters(), lr=0.01)
        self.scale: tuple[float, float] | None = None  # (mean, sd) of the values, fixed at the first fit
        self.fits = 0

    def _batch(self, cells: list[list[tuple]]):
        import torch

        n, L = len(cells), max(len(c) for c in cells)
        tok = torch.zeros(n, L, 4, dtype=torch.long)
        mask = torch.zeros(n, L)
        for i, c in enumerate(cells):
            tok[i, :len(c)] = torch.tensor(c)
            mask[i, :len(c)] = 1.0
        return tok, mask, torch.tensor([len(c) for c in cells])

    def _forward(self, tok, mask, lengths):
        """Scores [members, cells]."""
        import torch

        m, k = self.net, self.members
        ar = torch.arange(k)[:, None, None]
        x = torch.cat([m.emb_in[ar, tok[None, ..., 0]], m.emb_op[ar, tok[None, ..., 1]],
                       m.emb_in[ar, tok[None, ..., 2]], m.emb_op[ar, tok[None, ..., 3]]], -1)  # [k, n, L, 4E]
        if self.kind == "lstm":
            out = []
            for i in range(k):
                packed = torch.nn.utils.rnn.pack_padded_sequence(x[i], lengths, batch_first=True, enforce_sorted=False)
                _, (h, _) = m.rnns[i](packed)
                out.append(m.heads[i](h[-1]).squeeze(-1))
            return torch.stack(out)
        mean = (x * mask[None, ..., None]).sum(2) / mask.sum(1)[None, :, None]  # [k, n, 4E]
        z = torch.relu(mean @ m.w1 + m.b1)
        z = torch.relu(z @ m.w2 + m.b2)
        return (z @ m.w3 + m.b3).squeeze(-1)

    def fit(self, cells: list[list[tuple]], values: list[float], steps: int) -> None:
        """Train (first call) or fine-tune (later calls, from the current weights) on all data."""
        import torch

        if self.scale is None:
            mu = sum(values) / len(values)
            sd = math.sqrt(sum((v - mu) ** 2 for v in values) / max(len(values) - 1, 1)) or 1.0
            self.scale = (mu, sd)
        mu, sd = self.scale
        tok, mask, lengths = self._batch(cells)
        y = (torch.tensor(values, dtype=torch.float32) - mu) / sd
        g = torch.Generator().manual_seed(self.seed * 1000 + self.fits)
        n = len(values)
        keep = torch.ones(self.members, n)
        if n >= 5 and self.members > 1:
            for i in range(self.members):
                keep[i, torch.randperm(n, generator=g)[: n // 5]] = 0.0
        for _ in range(steps):
            self.opt.zero_grad()
            loss = (((self._forward(tok, mask, lengths) - y).abs() * keep).sum(1) / keep.sum(1)).sum()
            loss.backward()
            self.opt.step()
        self.fits += 1

    def predict(self, cells: list[list[tuple]]) -> list[float]:
        import torch

        mu, sd = self.scale or (0.0, 1.0)
        tok, mask, lengths = self._batch(cells)
        with torch.no_grad():
            p = self._forward(tok, mask, lengths).mean(0)
        return (p * sd + mu).tolist()

    def state_dict(self) -> dict:
        import torch

        buf = io.BytesIO()
        torch.save({"net": self.net.state_dict(), "opt": self.opt.state_dict()}, buf)
        return {"weights": base64.b64encode(buf.getvalue()).decode(), "scale": self.scale, "fits": self.fits}

    def load_state_dict(self, state: dict) -> None:
        import torch

        blob = torch.load(io.BytesIO(base64.b64decode(state["weights"])), weights_only=True)
        self.net.load_state_dict(blob["net"])
        self.opt.load_state_dict(blob["opt"])
        self.scale = None if state["scale"] is None else tuple(state["scale"])
        self.fits = int(state["fits"])


class PNAS(Strategy):
    name = "pnas"
    stateful = True

    dedup = True

    def __init__(self, *, beam: int = 20, ensemble: int = 5, hidden: int = 32, embed: int = 16, steps: int = 200,
                 finetune_steps: int = 100, explore: float = 0.1, predictor: str = "mlp"):
        super().__init__()
        self.beam = check_int("pnas: beam", beam, lo=1, hi=10 ** 6)
        self.ensemble = check_int("pnas: ensemble", ensemble, lo=1, hi=100)
        self.hidden = check_int("pnas: hidden", hidden, lo=1, hi=4096)
        self.embed = check_int("pnas: embed", embed, lo=1, hi=1024)
        self.steps = check_int("pnas: steps", steps, lo=1, hi=10 ** 5)
        self.finetune_steps = check_int("pnas: finetune_steps", finetune_steps, lo=0, hi=10 ** 5)
        self.explore = check_float("pnas: explore", explore, lo=0.0, hi=1.0)
        self.predictor_kind = check_choice("pnas: predictor", predictor, ("mlp", "lstm"))
        self.predictor: Predictor | None = None
        self.queue: list[Proposal] = []
        self.round = 0
        self.pending: set[str] = set()       # hashes proposed in the current beam round, not yet finished
        self.predicted: dict[str, float] = {}
        self.log: list[dict] = []
        self.level = 1

    def options(self) -> dict:
        return {"beam": self.beam, "ensemble": self.ensemble, "hidden": self.hidden, "embed": self.embed,
                "steps": self.steps, "finetune_steps": self.finetune_steps, "explore": self.explore,
                "predictor": self.predictor_kind}

    def setup(self, space, *, seed: int = 0):
        from ..spaces import SearchSpace

        if type(space).expand is SearchSpace.expand or not hasattr(space, "initial"):
            raise ParameterError(f"pnas needs a space that can expand cells (the cell space), got {space.name!r}")
        return super().setup(space, seed=seed)

    # ------------------------------------------------------------------ surrogate
    def _tokens(self, G) -> list[tuple]:
        cache = self.space.__dict__.setdefault("_pnas_tokens", {})
        h = self.space.hash(G)
        if h not in cache:
            cache[h] = cell_tokens(self.space, G)
        return cache[h]

    def _new_predictor(self) -> "Predictor":
        return Predictor(kind=self.predictor_kind, inputs=self.space.blocks + 1, ops=len(self.space.ops),
                         members=self.ensemble, hidden=self.hidden, embed=self.embed, seed=self.seed)

    def _fit_predict(self, train: list[Record], cands: list) -> list[float]:
        """Fit the predictor on every finished trial (fine-tune after the first round), then
        score the candidates."""
        if self.predictor is None:
            self.predictor = self._new_predictor()
        steps = self.steps if self.predictor.fits == 0 else self.finetune_steps
        self.predictor.fit([self._tokens(r.graph) for r in train], [r.value for r in train], steps)
        return self.predictor.predict([self._tokens(G) for G in cands])

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
                "predictor": None if self.predictor is None else self.predictor.state_dict(),
                "queue": [{"graph": graph_to_text(p.graph), "meta": p.meta} for p in self.queue],
                "measured": {str(k): v for k, v in self._measured.items()}}

    def load_state_dict(self, state: dict) -> None:
        from .._graphio import graph_from_text

        self.round, self.level = int(state["round"]), int(state["level"])
        self.pending, self.predicted = set(state["pending"]), dict(state["predicted"])
        self.log = list(state["log"])
        self.queue = [Proposal(graph_from_text(q["graph"]), dict(q["meta"])) for q in state["queue"]]
        self._meas = {int(k): v for k, v in state["measured"].items()}
        if state.get("predictor") is not None:
            self.predictor = self._new_predictor()
            self.predictor.load_state_dict(state["predictor"])
