"""The learnt-depth network of variational depth search.

Depth search (Antorán, Allingham, Hernández-Lobato; the reference code's spiral setting): an input block, ``D`` residual
blocks ``a_d = a_{d-1} + f_d(a_{d-1})`` and ONE output head applied to every ``a_d``, so one
forward pass gives the ``D + 1`` predictions ``f_0..f_D``. The chain is an ordinary graph
(:func:`graphwire.generators.depth_chain`) compiled with ``wiring="depth"``; its output is the taps ``a_0..a_D``
concatenated, and :class:`LearntDepthNet` adds the shared head, the exact ELBO loss, the
marginal predictive, pruning and write-back.
"""

from __future__ import annotations

import copy

import networkx as nx
import torch
import torch.nn.functional as F
from torch import nn

from ..compiler import WiredNet, compile
from ..generators.depth import depth_chain
from ..errors import ParameterError
from ..generators._common import check_int
from ..graph import meta
from ..wiring.depth import fold_tail

__all__ = ["LearntDepthNet", "expected_calibration_error"]


def expected_calibration_error(probs: torch.Tensor, y: torch.Tensor, n_bins: int = 10) -> float:
    """Expected calibration error (Guo et al. 2017): equal-width confidence bins, the
    sample-weighted mean of ``|accuracy - confidence|`` per bin.

    >>> round(expected_calibration_error(torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 1])), 4)
    0.15
    """
    n_bins = check_int("n_bins", n_bins, 1)
    probs = torch.as_tensor(probs, dtype=torch.float64)
    y = torch.as_tensor(y)
    conf, pred = probs.max(1)
    correct = (pred == y).double()
    bins = torch.clamp((conf * n_bins).ceil().long() - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += float(m.double().mean()) * abs(float(correct[m].mean()) - float(conf[m].mean()))
    return ece


class LearntDepthNet(nn.Module):
    """A residual chain with a learnt distribution over its depth (variational depth search).

    ``wired`` is the compiled chain (``wiring="depth"``, which holds ``q``); ``head`` the shared
    ``Linear(channels, num_classes)``. ``heads(x)`` gives the per-depth logits ``[B, D+1, K]``;
    ``loss(x, y)`` the exact negative ELBO per example, ``mean_n sum_d q(d) CE(f_d(x_n), y_n) +
    KL(q || p) / n_train``; ``forward(x)`` the log of the marginal predictive
    ``sum_d q(d) softmax(f_d(x))`` (so ``train.evaluate`` reports its accuracy and NLL).
    ``fixed=True`` makes a fixed-depth baseline (``q`` one-hot on ``D``, no KL).

    >>> m = LearntDepthNet(in_channels=2, num_classes=2, max_depth=3, channels=8, n_train=100)
    >>> m.heads(torch.randn(5, 2)).shape
    torch.Size([5, 4, 2])
    """

    def __init__(self, *, in_channels: int, num_classes: int, max_depth: int = 20, channels: int = 20,
                 prior: str = "exponential", prior_rate: float = 0.85, n_train: int | None = None,
                 fixed: bool = False, rule: str = "mode", level: float = 0.95, executor: str = "batched",
                 graph: nx.DiGraph | None = None, init_from: WiredNet | None = None):
        super().__init__()
        width = channels
        G = depth_chain(max_depth, width=width) if graph is None else graph
        self.in_channels, self.num_classes, self.width = in_channels, num_classes, width
        self.options = dict(prior=prior, prior_rate=prior_rate, n_train=n_train, fixed=fixed, rule=rule,
                            level=level)
        self.wired = compile(G, in_channels=in_channels, dims=0, wiring="depth", executor=executor,
                             init_from=init_from, **self.options)
        if self.wired.out_channels != width * (self.wiring.max_depth + 1):
            raise ParameterError(f"the chain's taps must all have width {width}")
        self.head = nn.Linear(width, num_classes)

    # ---- the distribution over depth
    @property
    def wiring(self):
        return self.wired.wiring

    @property
    def max_depth(self) -> int:
        return self.wiring.max_depth

    def q(self) -> torch.Tensor:
        return self.wiring.q()

    def d_opt(self, rule: str | None = None, level: float | None = None) -> int:
        return self.wiring.d_opt(rule, level)

    def expected_depth(self) -> float:
        q = self.q().detach()
        return float((q * torch.arange(len(q), dtype=q.dtype, device=q.device)).sum())

    # ---- forward passes
    def heads(self, x: torch.Tensor) -> torch.Tensor:
        """Per-depth logits ``[B, D+1, K]`` from one pass (the head applied to every tap)."""
        a = self.wired(x).reshape(x.shape[0], self.max_depth + 1, self.width)
        return self.head(a)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The negative ELBO per training example (exact: every depth, no sampling)."""
        logits = self.heads(x)
        ce = F.cross_entropy(logits.flatten(0, 1), y.repeat_interleave(logits.shape[1]),
                             reduction="none").reshape(logits.shape[:2])
        return (ce * self.q()).sum(1).mean() + self.wired.regularizer()

    def predict_proba(self, x: torch.Tensor, logits: torch.Tensor | None = None) -> torch.Tensor:
        """``sum_d q(d) softmax(f_d(x))``: ``[B, K]``, rows sum to 1."""
        logits = self.heads(x) if logits is None else logits
        return torch.einsum("bdk,d->bk", torch.softmax(logits, -1), self.q())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log of the marginal predictive (``log sum_d q(d) softmax(f_d(x))``)."""
        logits = self.heads(x)
        logq = torch.log_softmax(self.wiring.logits, 0)
        return torch.logsumexp(torch.log_softmax(logits, -1) + logq[None, :, None], 1)

    def depth_accuracy(self, x: torch.Tensor, y: torch.Tensor) -> list[float]:
        """Accuracy of each depth's own head, ``[D+1]`` (eval mode, no grad)."""
        was = self.training
        self.eval()
        with torch.no_grad():
            acc = (self.heads(x).argmax(-1) == y[:, None]).float().mean(0)
        self.train(was)
        return [float(a) for a in acc]

    # ---- pruning and write-back
    def prune(self, rule: str | None = None, level: float | None = None, depth: int | None = None) -> "LearntDepthNet":
        """A copy keeping blocks ``1..d_opt`` (or ``depth``), ``q`` truncated with the tail mass
        folded onto ``d_opt``; block parameters (by node label) and the head carried over."""
        d = self.d_opt(rule, level) if depth is None else check_int("depth", depth, 0, self.max_depth)
        depths = self.wiring.node_depths()
        keep = [n for n in self.wired.graph if depths.get(n, 0) <= d]
        H = self.wired.graph.subgraph(keep).copy()
        H.graph = copy.deepcopy(self.wired.graph.graph)
        meta(H)["pruned_depth"] = {"d_opt": d, "max_depth": self.max_depth}
        new = LearntDepthNet(in_channels=self.in_channels, num_classes=self.num_classes, max_depth=d, channels=self.width, graph=H,
                             init_from=self.wired, executor=self.wired.executor, **self.options)
        new.head.load_state_dict(self.head.state_dict())
        q = fold_tail(self.q().detach(), d)
        if not self.wiring.fixed:
            new.wiring.set_q(q)
        elif d < self.max_depth:
            raise ParameterError("a fixed-depth network cannot be pruned below its depth")
        return new.to(next(self.parameters()).device)

    def write_back(self, rule: str | None = None, level: float | None = None) -> nx.DiGraph:
        """The chain with edge ``weight``/``active`` (see the ``depth`` wiring), node ``depth_prob``
        (``q(d)`` on the state ``a_d`` and its tap) and ``active`` (``d <= d_opt``), and graph
        attributes ``d_opt`` and ``expected_depth``."""
        H = self.wired.write_back()
        q = self.q().detach().cpu()
        d_opt = self.d_opt(rule, level)
        states = {self.wired.graph.edges[self.wired.plan.edges[e]]["depth"]: self.wired.plan.edges[e]
                  for e in self.wiring.taps}
        for n, d in self.wiring.node_depths().items():
            H.nodes[n]["active"] = d <= d_opt
        for d, (s, t) in states.items():
            H.nodes[s]["depth_prob"] = float(q[d])
            H.nodes[t]["depth_prob"] = float(q[d])
        meta(H)["depth"] = {"d_opt": d_opt, "expected_depth": self.expected_depth(),
                            "rule": rule or self.wiring.rule, "q": [float(x) for x in q]}
        return H
