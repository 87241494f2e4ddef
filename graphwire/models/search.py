"""Models for architecture search: the learnt-depth network (variational depth search) and a
small DARTS search network.

Depth search (seed 004; the reference code's spiral setting): an input block, ``D`` residual
blocks ``a_d = a_{d-1} + f_d(a_{d-1})`` and ONE output head applied to every ``a_d``, so one
forward pass gives the ``D + 1`` predictions ``f_0..f_D``. The chain is an ordinary graph
(:func:`depth_chain`) compiled with ``wiring="depth"``; its output is the taps ``a_0..a_D``
concatenated, and :class:`LearntDepthNet` adds the shared head, the exact ELBO loss, the
marginal predictive, pruning and write-back.
"""

from __future__ import annotations

import copy

import networkx as nx
import torch
import torch.nn.functional as F
from torch import nn

from .. import generators
from ..compiler import WiredNet, compile
from ..errors import ParameterError
from ..generators._common import check_int, record
from ..graph import meta
from ..wiring.depth import fold_tail
from .classifiers import WiredClassifier, wired_conv2d

__all__ = ["depth_chain", "LearntDepthNet", "expected_calibration_error", "darts_search_net"]


def depth_chain(max_depth: int, *, width: int = 20, input_op: str = "dense", block_op: str = "dense_relu_bn",
                tap_op: str = "identity") -> nx.DiGraph:
    """The residual chain of depth search as a graph (vector data: compile with ``dims=0``).

    Labels (a topological order): ``0`` input block (``input_op``, ``width`` channels); for
    ``d = 1..D`` block ``2d - 1`` (``block_op``, the residual function ``f_d``) and state ``2d``
    (``identity``, ``agg="sum"``: ``a_d = a_{d-1} + f_d(a_{d-1})``); taps ``2D + 1 + d``
    (outputs, ``a_d`` unchanged). Edges of block ``d`` carry ``depth=d``; tap edges ``tap=True,
    depth=d``.

    >>> G = depth_chain(2, width=4)
    >>> sorted(G.edges(data="depth"))
    [(0, 1, 1), (0, 2, 1), (0, 5, 0), (1, 2, 1), (2, 3, 2), (2, 4, 2), (2, 6, 1), (3, 4, 2), (4, 7, 2)]
    """
    D = check_int("max_depth", max_depth, 0)
    width = check_int("width", width, 1)
    G = nx.DiGraph()
    G.add_node(0, role="input", op=input_op, channels=width)
    for d in range(1, D + 1):
        G.add_node(2 * d - 1, op=block_op, channels=width)
        G.add_node(2 * d, op="identity", channels=width, agg="sum")
    for d in range(D + 1):
        G.add_node(2 * D + 1 + d, role="output", op=tap_op)
    for d in range(1, D + 1):
        prev = 2 * (d - 1)
        G.add_edge(prev, 2 * d - 1, depth=d)
        G.add_edge(prev, 2 * d, depth=d)
        G.add_edge(2 * d - 1, 2 * d, depth=d)
    for d in range(D + 1):
        G.add_edge(2 * d, 2 * D + 1 + d, depth=d, tap=True)
    H = nx.DiGraph()  # nodes and edges in label order
    H.add_nodes_from(sorted(G.nodes(data=True)))
    H.add_edges_from(sorted(G.edges(data=True), key=lambda e: (e[0], e[1])))
    return record(H, "depth_chain", {"max_depth": D, "width": width, "input_op": input_op,
                                     "block_op": block_op, "tap_op": tap_op}, None)


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
    ``Linear(width, num_classes)``. ``heads(x)`` gives the per-depth logits ``[B, D+1, K]``;
    ``loss(x, y)`` the exact negative ELBO per example, ``mean_n sum_d q(d) CE(f_d(x_n), y_n) +
    KL(q || p) / n_train``; ``forward(x)`` the log of the marginal predictive
    ``sum_d q(d) softmax(f_d(x))`` (so ``train.evaluate`` reports its accuracy and NLL).
    ``fixed=True`` makes a fixed-depth baseline (``q`` one-hot on ``D``, no KL).

    >>> m = LearntDepthNet(2, 2, max_depth=3, width=8, n_train=100)
    >>> m.heads(torch.randn(5, 2)).shape
    torch.Size([5, 4, 2])
    """

    def __init__(self, in_features: int, num_classes: int, max_depth: int = 20, *, width: int = 20,
                 prior: str = "exponential", prior_rate: float = 0.85, n_train: int | None = None,
                 fixed: bool = False, rule: str = "mode", level: float = 0.95, executor: str = "batched",
                 graph: nx.DiGraph | None = None, init_from: WiredNet | None = None):
        super().__init__()
        G = depth_chain(max_depth, width=width) if graph is None else graph
        self.in_features, self.num_classes, self.width = in_features, num_classes, width
        self.options = dict(prior=prior, prior_rate=prior_rate, n_train=n_train, fixed=fixed, rule=rule,
                            level=level)
        self.wired = compile(G, in_channels=in_features, dims=0, wiring="depth", executor=executor,
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
        new = LearntDepthNet(self.in_features, self.num_classes, d, width=self.width, graph=H,
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


def darts_search_net(in_channels: int, num_classes: int, *, n_nodes: int = 4, channels: int = 16,
                     ops=None, cells: int = 1,
                     partial_channels: int = 1, dims: int = 2, **wiring_options) -> WiredClassifier:
    """A small DARTS search network: conv stem -> ``cells`` normal cells (stacked, alphas shared)
    -> ReLU, global pool, linear head; ``wiring="darts"`` with ``wiring_options`` (``gate``,
    ``edge_norm``...). Derive with ``graphwire.derive(model.write_back())`` and build the
    discrete network with ``model.recompile(derived)``.

    >>> m = darts_search_net(1, 10, n_nodes=2, channels=4)
    >>> m(torch.randn(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """
    from ..generators.darts_cell import DARTS_OPS

    cell_kw = dict(n_nodes=n_nodes, ops=list(ops or DARTS_OPS), channels=channels, partial_channels=partial_channels)
    cells = check_int("cells", cells, 1)
    if cells == 1:
        G = generators.darts_cell(**cell_kw)
    else:
        G = _chain_cells(cells, n_nodes=n_nodes, ops=list(ops or DARTS_OPS), channels=channels,
                         partial_channels=partial_channels)
    if dims not in (1, 2):
        raise ParameterError(f"dims must be 1 or 2, got {dims!r}")
    if dims == 2:
        return wired_conv2d(G, in_channels, num_classes, width=channels, wiring="darts", op="identity",
                            **wiring_options)
    from .classifiers import wired_conv1d

    return wired_conv1d(G, in_channels, num_classes, width=channels, wiring="darts", op="identity",
                        **wiring_options)


def _chain_cells(cells: int, **cell_kw) -> nx.DiGraph:
    """``cells`` normal cells in a row; cell k's two input states read cell k-1's output (its
    concat is brought back to ``channels`` by the input states' 1x1 preprocessing)."""
    G = nx.DiGraph()
    offset, prev_out = 0, None
    for k in range(cells):
        C = generators.darts_cell(**cell_kw)
        mapping = {n: n + offset for n in C}
        C = nx.relabel_nodes(C, mapping)
        ins = [n for n, d in C.nodes(data=True) if d.get("role") == "input"]
        out = next(n for n, d in C.nodes(data=True) if d.get("role") == "output")
        for n, d in C.nodes(data=True):
            d["stage"] = k
            if k > 0 and n in ins:
                d["role"] = "hidden"
            if k < cells - 1 and n == out:
                d["role"] = "hidden"
        G.add_nodes_from(C.nodes(data=True))
        G.add_edges_from(C.edges(data=True))
        if prev_out is not None:
            for n in ins:
                G.add_edge(prev_out, n)
        prev_out = out
        offset += C.number_of_nodes()
    return record(G, "darts_cells", dict(cell_kw, cells=cells), None)
