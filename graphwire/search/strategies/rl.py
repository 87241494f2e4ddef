"""The RL controller of Zoph & Le, "Neural Architecture Search with Reinforcement Learning" (2017): an LSTM emits every choice in turn; skip
connections come from anchor points, P(layer j feeds layer i) = sigmoid(v^T tanh(W_prev h_j +
W_curr h_i)). Trained by REINFORCE with a bias-corrected EMA baseline and an entropy bonus;
actions are always sampled (never argmax) during search. Each update is logged with the
policy entropy and the baseline.

Works on any space: categorical dimensions get a softmax head; dimensions the space marks as
anchor choices (``space.anchor_dims()``: ``{dim: (i, j)}``, the macro space's skips) use the
anchor-point sigmoids, with layer i's anchor the LSTM state after the dim
``space.anchor_layers()[i]`` (its last own choice).
"""

from __future__ import annotations

import base64
import io
import math

from ...errors import GraphwireError, ParameterError
from .base import Proposal, Record, Strategy


def _torch():
    import torch

    return torch


class _Controller:
    """The LSTM policy (built lazily so graph-only work never imports torch)."""

    def __init__(self, space, hidden: int, seed: int):
        torch = _torch()
        nn = torch.nn
        self.dims = list(space.dims.items())
        self.anchor = dict(getattr(space, "anchor_dims", dict)())
        # layer i's anchor = the LSTM state after the dim the space names (its last own choice)
        index = {name: t for t, (name, _) in enumerate(self.dims)}
        layers = dict(getattr(space, "anchor_layers", dict)())
        self.layer_of_step = {index[d]: i for i, d in layers.items()}
        gen = torch.Generator().manual_seed(seed)
        self.gen = gen
        torch.manual_seed(seed)
        m = nn.Module()
        m.cell = nn.LSTMCell(hidden, hidden)
        m.start = nn.Parameter(torch.zeros(1, hidden))
        m.emb = nn.ModuleList([nn.Embedding(len(v), hidden) for _, v in self.dims])
        m.heads = nn.ModuleList([nn.Linear(hidden, len(v)) for _, v in self.dims])
        m.w_prev = nn.Linear(hidden, hidden, bias=False)
        m.w_curr = nn.Linear(hidden, hidden, bias=False)
        m.v = nn.Linear(hidden, 1, bias=False)
        m.skip_emb = nn.Embedding(2, hidden)
        for p in m.parameters():
            nn.init.uniform_(p, -0.1, 0.1)
        self.m = m
        self.hidden = hidden

    def rollout(self, n: int, actions=None):
        """Sample ``n`` choice vectors (or score the given ``actions`` [n, T]); returns
        (actions [n, T], log-prob [n], entropy [n])."""
        torch = _torch()
        F = torch.nn.functional
        m = self.m
        T = len(self.dims)
        x = m.start.expand(n, -1)
        h = c = torch.zeros(n, self.hidden)
        anchors: dict[int, torch.Tensor] = {}
        logp = torch.zeros(n)
        ent = torch.zeros(n)
        out = torch.zeros(n, T, dtype=torch.long) if actions is None else actions
        for t, (name, _) in enumerate(self.dims):
            if name in self.anchor:  # content-based sigmoid over an earlier layer's anchor
                i, j = self.anchor[name]
                h_i = anchors.get(i, h)
                h_j = anchors.get(j)
                if h_j is None:
                    raise ParameterError(f"rl: anchor of layer {j} missing before choice {name!r}")
                logit = m.v(torch.tanh(m.w_prev(h_j) + m.w_curr(h_i))).squeeze(1)
                if actions is None:
                    out[:, t] = torch.bernoulli(torch.sigmoid(logit), generator=self.gen).long()
                a = out[:, t].float()
                logp = logp - F.binary_cross_entropy_with_logits(logit, a, reduction="none")
                p = torch.sigmoid(logit)
                ent = ent - (p * F.logsigmoid(logit) + (1 - p) * F.logsigmoid(-logit))
                continue
            h, c = m.cell(x, (h, c))
            logits = m.heads[t](h)
            lp = F.log_softmax(logits, dim=1)
            if actions is None:
                out[:, t] = torch.multinomial(lp.exp(), 1, generator=self.gen).squeeze(1)
            logp = logp + lp.gather(1, out[:, t:t + 1]).squeeze(1)
            ent = ent - (lp.exp() * lp).sum(1)
            x = m.emb[t](out[:, t])
            if t in self.layer_of_step:
                anchors[self.layer_of_step[t]] = h
        return out, logp, ent


class RLController(Strategy):
    """REINFORCE over an anchor-point LSTM. Updates after every ``batch`` finished trials of
    its own; reward = the trial's value; advantage = reward - bias-corrected EMA baseline."""

    name = "rl"
    stateful = True

    def __init__(self, *, batch: int = 5, lr: float = 0.01, hidden: int = 32, baseline_decay: float = 0.9,
                 entropy_weight: float = 1e-3):
        super().__init__()
        if batch < 1 or not 0 <= baseline_decay < 1:
            raise ParameterError(f"rl: need batch >= 1 and 0 <= baseline_decay < 1, got {batch}, {baseline_decay}")
        self.batch, self.lr, self.hidden = batch, lr, hidden
        self.decay, self.entropy_weight = baseline_decay, entropy_weight
        self.ema, self.steps = 0.0, 0
        self.buffer: list[tuple[list[int], float]] = []
        self.log: list[dict] = []
        self.ctrl = None

    def options(self) -> dict:
        return {"batch": self.batch, "lr": self.lr, "hidden": self.hidden, "baseline_decay": self.decay,
                "entropy_weight": self.entropy_weight}

    def setup(self, space, *, seed: int = 0):
        super().setup(space, seed=seed)
        torch = _torch()
        self.ctrl = _Controller(space, self.hidden, seed)
        self.opt = torch.optim.Adam(self.ctrl.m.parameters(), lr=self.lr)
        return self

    def propose(self, history: list[Record], n: int) -> list[Proposal]:
        torch = _torch()
        with torch.no_grad():
            acts, logp, _ = self.ctrl.rollout(n)
        out = []
        for row, lp in zip(acts.tolist(), logp.tolist()):
            choices = {name: vals[a] for (name, vals), a in zip(self.ctrl.dims, row)}
            try:
                G = self.space.decode(choices)
            except GraphwireError as e:  # an invalid graph: resample from the space, keep the action
                G = self.space.sample(self.rng)
                out.append(Proposal(G, {"op": "fallback", "why": str(e)[:200]}))
                continue
            out.append(Proposal(G, {"op": "rl", "actions": row, "logp": round(lp, 4)}))
        return out

    def baseline(self) -> float:
        return self.ema / (1 - self.decay ** self.steps) if self.steps else 0.0

    def observe(self, records: list[Record]) -> dict | None:
        for r in records:
            if r.meta.get("op") == "rl" and "actions" in r.meta:
                reward = r.value if r.value is not None and math.isfinite(r.value) else 0.0
                self.buffer.append((list(r.meta["actions"]), float(reward)))
        entry = None
        while len(self.buffer) >= self.batch:
            chunk, self.buffer = self.buffer[:self.batch], self.buffer[self.batch:]
            entry = self._update(chunk)
        return entry

    def _update(self, chunk) -> dict:
        torch = _torch()
        adv = []
        for _, reward in chunk:  # bias-corrected EMA, updated with the reward before the advantage
            self.steps += 1
            self.ema = self.decay * self.ema + (1 - self.decay) * reward
            adv.append(reward - self.baseline())
        acts = torch.tensor([a for a, _ in chunk], dtype=torch.long)
        _, logp, ent = self.ctrl.rollout(len(chunk), actions=acts)
        advantage = torch.tensor(adv)
        loss = -(advantage * logp).mean() - self.entropy_weight * ent.mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        entry = {"update": len(self.log) + 1, "entropy": round(float(ent.detach().mean()), 4),
                 "baseline": round(self.baseline(), 4), "mean_reward": round(sum(r for _, r in chunk) / len(chunk), 4),
                 "loss": round(float(loss.detach()), 5)}
        self.log.append(entry)
        return entry

    def state_dict(self) -> dict:
        torch = _torch()
        buf = io.BytesIO()
        torch.save({"model": self.ctrl.m.state_dict(), "opt": self.opt.state_dict()}, buf)
        return {"weights": base64.b64encode(buf.getvalue()).decode(), "ema": self.ema, "steps": self.steps,
                "buffer": self.buffer, "log": self.log, "rng": self.ctrl.gen.get_state().tolist()}

    def load_state_dict(self, state: dict) -> None:
        torch = _torch()
        blob = torch.load(io.BytesIO(base64.b64decode(state["weights"])), weights_only=True)
        self.ctrl.m.load_state_dict(blob["model"])
        self.opt.load_state_dict(blob["opt"])
        self.ema, self.steps = float(state["ema"]), int(state["steps"])
        self.buffer = [(list(a), float(r)) for a, r in state["buffer"]]
        self.log = list(state["log"])
        self.ctrl.gen.set_state(torch.tensor(state["rng"], dtype=torch.uint8))
