"""The RL controller of Zoph & Le 2017, "Neural Architecture Search with Reinforcement
Learning": an LSTM emits every choice in turn; skip connections come from anchor points,
P(layer j feeds layer i) = sigmoid(v^T tanh(W_prev h_j + W_curr h_i)), and the sampled skips are
fed back (the next input adds the mean of the chosen layers' anchors and an embedding of each
decision), so later choices are conditioned on the wiring. Trained by REINFORCE with an
exponential-moving-average baseline of the *previous* rewards (bias-corrected; the advantage is
taken before the baseline sees the new reward) and an entropy bonus; actions are always sampled
(never argmax) during search. Each update is logged with the policy entropy and the baseline.

``reward="value"`` uses the trial's value; ``reward="paper"`` the paper's reward: the maximum of
the last 5 reported epoch values, cubed.

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
from ..checks import check_choice, check_float, check_int
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
        fed: list = []  # skip decisions since the last LSTM step: (action [n], anchor state [n, hidden])
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
                fed.append((out[:, t], h_j))
                continue
            if fed:  # feed the sampled wiring back: mean of the chosen anchors + each decision's embedding
                chosen = sum(a.float()[:, None] * hj for a, hj in fed)
                count = sum(a.float() for a, _ in fed)[:, None]
                x = x + chosen / count.clamp_min(1.0) + sum(m.skip_emb(a) for a, _ in fed) / len(fed)
                fed = []
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
    its own; advantage = reward - the bias-corrected EMA of the rewards before this batch (0
    before the first update), then the EMA takes the batch's rewards."""

    name = "rl"
    stateful = True

    def __init__(self, *, batch: int = 5, lr: float = 0.01, hidden: int = 32, baseline_decay: float = 0.9,
                 entropy_weight: float = 1e-3, reward: str = "value"):
        super().__init__()
        self.batch = check_int("rl: batch", batch, lo=1, hi=10 ** 5)
        self.lr = check_float("rl: lr", lr, lo=0.0, lo_open=True, hi=10.0)
        self.hidden = check_int("rl: hidden", hidden, lo=1, hi=4096)
        self.decay = check_float("rl: baseline_decay", baseline_decay, lo=0.0, hi=1.0, hi_open=True)
        self.entropy_weight = check_float("rl: entropy_weight", entropy_weight, lo=0.0, hi=10.0)
        self.reward = check_choice("rl: reward", reward, ("value", "paper"))
        self.ema, self.steps = 0.0, 0
        self.buffer: list[tuple[list[int], float]] = []
        self.log: list[dict] = []
        self.ctrl = None

    def options(self) -> dict:
        return {"batch": self.batch, "lr": self.lr, "hidden": self.hidden, "baseline_decay": self.decay,
                "entropy_weight": self.entropy_weight, "reward": self.reward}

    def setup(self, space, *, seed: int = 0):
        super().setup(space, seed=seed)
        torch = _torch()
        self.ctrl = _Controller(space, self.hidden, seed)
        self.opt = torch.optim.Adam(self.ctrl.m.parameters(), lr=self.lr)
        return self

    def reward_of(self, r: Record) -> float:
        """The reward of a finished trial: its value, or (``reward="paper"``) the maximum of its
        last 5 epoch values, cubed. A failed trial earns 0."""
        if self.reward == "paper":
            vals = [v for _, v in sorted(r.intermediate.items()) if v is not None and math.isfinite(v)]
            if not vals and r.value is not None and math.isfinite(r.value):
                vals = [r.value]
            return max(vals[-5:]) ** 3 if vals else 0.0
        return float(r.value) if r.value is not None and math.isfinite(r.value) else 0.0

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
            out.append(Proposal(G, {"op": "rl", "actions": ",".join(map(str, row)), "logp": round(lp, 4)}))
        return out

    def baseline(self) -> float:
        """The bias-corrected EMA of the rewards seen so far (0 before any)."""
        return self.ema / (1 - self.decay ** self.steps) if self.steps else 0.0

    def observe(self, records: list[Record]) -> dict | None:
        for r in records:
            if r.meta.get("op") == "rl" and "actions" in r.meta:
                acts = r.meta["actions"]
                acts = [int(a) for a in acts.split(",")] if isinstance(acts, str) else list(acts)
                self.buffer.append((acts, self.reward_of(r)))
        entry = None
        while len(self.buffer) >= self.batch:
            chunk, self.buffer = self.buffer[:self.batch], self.buffer[self.batch:]
            entry = self._update(chunk)
        return entry

    def _update(self, chunk) -> dict:
        torch = _torch()
        base = self.baseline()  # of the previous rewards only
        adv = [reward - base for _, reward in chunk]
        for _, reward in chunk:
            self.steps += 1
            self.ema = self.decay * self.ema + (1 - self.decay) * reward
        acts = torch.tensor([a for a, _ in chunk], dtype=torch.long)
        _, logp, ent = self.ctrl.rollout(len(chunk), actions=acts)
        advantage = torch.tensor(adv)
        loss = -(advantage * logp).mean() - self.entropy_weight * ent.mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        entry = {"update": len(self.log) + 1, "entropy": round(float(ent.detach().mean()), 4),
                 "baseline_used": round(base, 6), "baseline": round(self.baseline(), 4),
                 "mean_advantage": round(sum(adv) / len(adv), 6),
                 "mean_reward": round(sum(r for _, r in chunk) / len(chunk), 4), "loss": round(float(loss.detach()), 5)}
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
