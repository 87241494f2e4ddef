"""``ddw``: instance-aware wiring (Differentiable Dynamic Wirings, Yuan et al., ICCV 2021).

Every node has a *router* on its own output: global average pool -> linear -> sigmoid, giving one
weight ``alpha`` per outgoing edge and per sample. Every node has a learnable threshold ``tau``.

- Training: edge coefficient ``alpha * sigmoid((alpha - tau) / T)`` (``T = 1`` is the paper's psi),
  smooth in both ``alpha`` and ``tau``.
- Eval: an edge with ``alpha <= tau`` is closed for that sample. An open edge is weighted as in
  training (``eval_weight="gate"``, our default: it keeps train and eval on one scale); the paper's
  literal reading keeps ``alpha`` (``eval_weight="alpha"``); ``"binary"`` uses 1.
- The router bias starts at ``router_bias`` (+3: sigmoid(3) = 0.95, every edge open at the start).
- ``penalty`` adds ``penalty * mean(sigmoid((alpha - tau) / T))``, the expected share of open
  edges, to ``net.regularizer()`` (off by default; the paper has none).
- An edge into a node that has no other input is not routed (coefficient 1): closing it could
  only kill its target. ``route_single=True`` routes those too.

Choices where the paper is silent (documented, with the literal reading as an option): the
router reads the node's output (so a node's out-edges are decided once it has run), ``tau``
belongs to the source node and starts at ``tau_init`` = 0.5.

The per-sample coefficients of the last forward are kept: ``wiring.adjacency()`` gives each
stage's ``B x N x N`` matrix (node v reads its input weights from row v; node u writes its output
weights into column u), built with index tensors, no per-sample loop.

DDW is the one :class:`~graphwire.wiring.routing.Routing` method: a node's out-edge coefficients
are computed once its plan step has run (``after_step``, the same call from both executors).

Dataset statistics for ``write_back`` (mean and spread of each router output, open and execution
rates) are recorded over data you run through the network::

    with graphwire.wiring.ddw.recording(net) as stats:   # eval mode inside
        for x, _ in loader:
            net(x)
    graph = net.write_back()

or ``ddw.record(net, loader)``. Training afterwards (a training-mode forward or an update of the
routers) makes them stale: ``write_back`` then asks for a new recording instead of describing a
wiring the network no longer has.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import torch
from torch import nn

from ..contract import finite, unit
from ..errors import WiringError
from .base import Wiring, WiringSpec, WriteBack, check_bool, check_choice, check_number
from .registry import register_wiring
from .routing import Routing

__all__ = ["DDWWiring", "DDW", "Router", "recording", "record"]

EVAL_WEIGHTS = ("gate", "alpha", "binary")


class Router(nn.Module):
    """One node's router: GAP -> Linear(C, out-degree) -> sigmoid, and the node's threshold tau."""

    def __init__(self, channels: int, edges: int, bias: float, tau: float):
        super().__init__()
        self.fc = nn.Linear(channels, edges)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.constant_(self.fc.bias, bias)
        self.tau = nn.Parameter(torch.tensor(float(tau)))


def _pool(y: torch.Tensor, groups: int) -> torch.Tensor:
    """Global average pool of a step output ``[B, G*C, *sp]`` to ``[B, G, C]``."""
    b = y.shape[0]
    return y.reshape(b, groups, y.shape[1] // groups, -1).mean(-1)


class _State:
    """One forward pass: ``coefficients`` ``[B, E]``, filled in as the routers run."""

    __slots__ = ("coefficients", "open_mass")

    def __init__(self, coefficients: torch.Tensor):
        self.coefficients = coefficients
        self.open_mass: list[torch.Tensor] = []


class _Recorder:
    """Sums over the samples seen while recording."""

    def __init__(self, E: int, N: int, like: torch.Tensor):
        z = like.new_zeros
        self.n = 0
        self.sum, self.sq, self.open, self.exec = z(E), z(E), z(E), z(N)


@dataclass(frozen=True)
class DDW(WiringSpec):
    """``wiring="ddw"``: instance-aware routers on every node's output edges."""

    router_bias: float = 3.0
    tau_init: float = 0.5
    temperature: float = 1.0
    eval_weight: str = "gate"
    penalty: float = 0.0
    route_single: bool = False

    def __post_init__(self):
        check_number("ddw", "router_bias", self.router_bias, lambda v: True, "")
        check_number("ddw", "tau_init", self.tau_init, lambda v: True, "")
        check_number("ddw", "temperature", self.temperature, lambda v: v > 0, "> 0")
        check_choice("ddw", "eval_weight", self.eval_weight, EVAL_WEIGHTS)
        check_number("ddw", "penalty", self.penalty, lambda v: v >= 0, ">= 0")
        check_bool("ddw", "route_single", self.route_single)


@register_wiring
class DDWWiring(Wiring, Routing):
    name = "ddw"
    Options = DDW
    attributes = (
        ("edge", "ddw_mean", finite, "the router's mean gate over a recorded dataset"),
        ("edge", "ddw_std", finite, "the router's gate standard deviation over a recorded dataset"),
        ("node", "exec_rate", unit, "fraction of recorded samples for which the node ran"),
    )

    def __init__(self, plan, edge_data, options: DDW):
        super().__init__(plan, edge_data, options)
        router_bias, tau_init, temperature = options.router_bias, options.tau_init, options.temperature
        eval_weight, penalty, route_single = options.eval_weight, options.penalty, options.route_single
        self.router_bias, self.tau_init = float(router_bias), float(tau_init)
        self.temperature, self.eval_weight, self.penalty = float(temperature), eval_weight, float(penalty)
        self.route_single = bool(route_single)
        self.routers = nn.ModuleDict()
        self._recorder: _Recorder | None = None
        self.summary: dict | None = None
        self._summary_version = -1
        self._last: _State | None = None
        self._build(plan)

    def __getstate__(self) -> dict:
        """Pickling and deepcopy leave out the last forward's coefficients (tensors of an autograd
        graph) and a running recording."""
        state = self.__dict__.copy()
        state["_last"] = None
        state["_recorder"] = None
        return state

    # ------------------------------------------------------------------ structure
    def _build(self, plan) -> None:
        E, N = len(plan.edges), len(plan.nodes)
        indeg = [len(nd.preds) for nd in plan.nodes]
        outs_of: list[list[tuple[int, int]]] = [[] for _ in range(N)]
        for nd in plan.nodes:
            for p, e in zip(nd.preds, nd.in_edges):
                outs_of[p].append((nd.pos, e))
        routed = [False] * E
        router_of: dict[int, str] = {}
        eids_of: dict[int, list[int]] = {}
        for nd in plan.nodes:
            outs = sorted(outs_of[nd.pos])
            outs = [(v, e) for v, e in outs if self.route_single or indeg[v] > 1]
            if not outs:
                continue
            self.routers[nd.key] = Router(nd.out_ch, len(outs), self.router_bias, self.tau_init)
            router_of[nd.pos] = nd.key
            eids_of[nd.pos] = [e for _, e in outs]
            for _, e in outs:
                routed[e] = True
        self._router_of = router_of
        self._routed_of = {plan.nodes[p].label: ids for p, ids in eids_of.items()}
        self.register_buffer("unrouted", torch.tensor([0.0 if r else 1.0 for r in routed]), persistent=False)
        self.register_buffer("routed_mask", torch.tensor(routed, dtype=torch.bool), persistent=False)
        self.register_buffer("_edge_src", torch.tensor(plan.edge_positions()[0],
                                                       dtype=torch.long).reshape(-1), persistent=False)
        # per step: its node positions (statistics), and for the slots with routers their
        # [Gr, Dmax] edge ids, flattened, valid entries only
        self._steps: dict[int, tuple[list[int], int, list[str]]] = {}
        for st in plan.steps:
            self.register_buffer(f"_s{st.index}_pos", torch.tensor(st.nodes, dtype=torch.long), persistent=False)
            slots = [g for g, p in enumerate(st.nodes) if p in router_of]
            if not slots:
                continue
            keys = [router_of[st.nodes[g]] for g in slots]
            dmax = max(len(eids_of[st.nodes[g]]) for g in slots)
            valid, eids = [], []
            for i, g in enumerate(slots):
                ids = eids_of[st.nodes[g]]
                valid += [i * dmax + d for d in range(len(ids))]
                eids += ids
            self.register_buffer(f"_s{st.index}_valid", torch.tensor(valid, dtype=torch.long), persistent=False)
            self.register_buffer(f"_s{st.index}_eids", torch.tensor(eids, dtype=torch.long), persistent=False)
            self._steps[st.index] = (slots, st.size, keys)
        self._n_nodes = N
        self._labels = [nd.label for nd in plan.nodes]
        stages: dict[Any, list[int]] = {}
        for nd in plan.nodes:
            stages.setdefault(nd.stage, []).append(nd.pos)
        self._stage_nodes = {s: [plan.nodes[p].label for p in ps] for s, ps in stages.items()}
        for s, ps in stages.items():
            local = {p: i for i, p in enumerate(ps)}
            rows, cols, es = [], [], []
            for e, (u, v) in enumerate(plan.edges):
                pu, pv = plan.by_label[u].pos, plan.by_label[v].pos
                if pu in local and pv in local:
                    rows.append(local[pv])
                    cols.append(local[pu])
                    es.append(e)
            self.register_buffer(f"_adj{s}", torch.tensor([rows, cols, es], dtype=torch.long).reshape(3, -1),
                                 persistent=False)

    def _step_params(self, step: int):
        """The routers of a step stacked (read from the modules at each call), rows padded to the
        widest router of the step."""
        rs = [self.routers[k] for k in self._steps[step][2]]
        if len(rs) == 1:
            r = rs[0]
            return r.fc.weight.unsqueeze(0), r.fc.bias.unsqueeze(0), r.tau.reshape(1)
        d = max(r.fc.weight.shape[0] for r in rs)  # F.pad exports to ONNX
        pad = torch.nn.functional.pad
        return (torch.stack([pad(r.fc.weight, (0, 0, 0, d - r.fc.weight.shape[0])) for r in rs]),
                torch.stack([pad(r.fc.bias, (0, d - r.fc.bias.shape[0])) for r in rs]),
                torch.stack([r.tau for r in rs]))

    # ------------------------------------------------------------------ coefficients
    @property
    def may_close(self) -> bool:  # type: ignore[override]
        return not self.training  # hard thresholds close edges in eval

    def _coefficient(self, alpha: torch.Tensor, tau: torch.Tensor, state: _State) -> torch.Tensor:
        gate = torch.sigmoid((alpha - tau) / self.temperature)
        if self.training:
            if self.penalty:
                state.open_mass.append(gate.mean())
            return alpha * gate
        is_open = (alpha > tau).to(alpha.dtype)
        if self.eval_weight == "gate":
            return alpha * gate * is_open
        if self.eval_weight == "alpha":
            return alpha * is_open
        return is_open

    def begin(self, x: torch.Tensor) -> _State:
        if self.training and torch.is_grad_enabled():
            self.summary = None  # training: statistics recorded before no longer describe the net
        state = _State(self.unrouted.to(x.dtype).unsqueeze(0).expand(x.shape[0], -1))
        self._last = state
        if self._recorder is not None:
            self._recorder.n += x.shape[0]
        return state

    def after_step(self, state: _State, step: int, y: torch.Tensor, alive: torch.Tensor | None) -> None:
        rec = self._recorder
        if rec is not None:
            batch = y.shape[0]
            pos = getattr(self, f"_s{step}_pos")
            counts = alive.reshape(batch, -1).sum(0) if alive is not None else \
                rec.exec.new_full((pos.numel(),), float(batch))
            rec.exec.index_add_(0, pos, counts.to(rec.exec.dtype))
        info = self._steps.get(step)
        if info is None:
            return
        slots, G, _ = info
        pooled = _pool(y, G)
        if len(slots) != G:
            pooled = pooled[:, slots]
        weight, bias, tau = self._step_params(step)
        alpha = torch.sigmoid(torch.einsum("bgc,gdc->bgd", pooled, weight) + bias)   # [B, Gr, D]
        coef = self._coefficient(alpha, tau.view(1, -1, 1), state)
        valid, eids = getattr(self, f"_s{step}_valid"), getattr(self, f"_s{step}_eids")
        alpha = alpha.reshape(alpha.shape[0], -1)[:, valid]
        coef = coef.reshape(coef.shape[0], -1)[:, valid]
        state.coefficients = state.coefficients.index_copy(1, eids, coef)
        if rec is not None:
            rec.sum.index_add_(0, eids, alpha.detach().sum(0))
            rec.sq.index_add_(0, eids, (alpha.detach() ** 2).sum(0))
            rec.open.index_add_(0, eids, (coef.detach() > 0).to(alpha.dtype).sum(0))

    def coefficients(self) -> torch.Tensor:
        """A summary, not what the executors use: the last forward's coefficients averaged over
        its batch, or ``sigmoid(router bias)`` before any forward."""
        if self._last is not None:
            return self._last.coefficients.detach().mean(0)
        c = self.unrouted.clone()
        for st, (_, _, keys) in self._steps.items():
            c[getattr(self, f"_s{st}_eids")] = torch.cat([torch.sigmoid(self.routers[k].fc.bias.detach()) for k in keys])
        return c

    def regularizer(self) -> torch.Tensor:
        state = self._last
        if not self.penalty or state is None or not state.open_mass:
            return self.unrouted.new_zeros(())
        return self.penalty * torch.stack(state.open_mass).mean()

    def routed_edges(self, label: Any) -> list[int]:
        """Edge ids of node ``label``'s routed out-edges, in the order of its router's outputs."""
        if label not in self._routed_of:
            raise WiringError(f"ddw: node {label!r} has no router (no routed out-edges)")
        return list(self._routed_of[label])

    def last_coefficients(self) -> torch.Tensor:
        """The last forward's per-sample edge coefficients ``[B, E]``."""
        if self._last is None:
            raise WiringError("no forward pass has run yet")
        return self._last.coefficients

    def adjacency(self) -> dict:
        """Per stage: ``(node labels, A)`` with ``A[b, v, u]`` the coefficient of edge u -> v for sample b."""
        c = self.last_coefficients()
        out = {}
        for s, labels in self._stage_nodes.items():
            rows, cols, es = getattr(self, f"_adj{s}")
            A = c.new_zeros(c.shape[0], len(labels), len(labels))
            A[:, rows, cols] = c[:, es]
            out[s] = (labels, A)
        return out

    # ------------------------------------------------------------------ statistics and write-back
    def _params_version(self) -> int:
        return sum(p._version for p in self.parameters())

    def _start_recording(self) -> _Recorder:
        if self._recorder is not None:
            raise WiringError("ddw: a recording is already running on this network")
        self._recorder = _Recorder(len(self.edges), self._n_nodes, self.unrouted)
        return self._recorder

    def _finish_recording(self) -> dict:
        rec, self._recorder = self._recorder, None
        if rec is None or rec.n == 0:
            raise WiringError("ddw recording saw no samples: run the network on data inside the `with` block")
        n = float(rec.n)
        mean, sq = rec.sum / n, rec.sq / n
        routed = self.routed_mask
        exec_rate = rec.exec / n
        self.summary = {
            "samples": int(n),
            "ddw_mean": torch.where(routed, mean, torch.ones_like(mean)),
            "ddw_std": torch.where(routed, (sq - mean * mean).clamp_min(0).sqrt(), torch.zeros_like(mean)),
            "open_rate": torch.where(routed, rec.open / n, exec_rate[self._edge_src]),
            "exec_rate": exec_rate,
        }
        self._summary_version = self._params_version()
        return self.summary

    def _fresh_summary(self) -> dict:
        if self.summary is not None and self._summary_version != self._params_version():
            self.summary = None  # the routers were updated since
        if self.summary is None:
            raise WiringError("ddw write_back needs statistics recorded over data since the last training step: "
                              "run `with graphwire.wiring.ddw.recording(net): ...` over a loader "
                              "(or graphwire.wiring.ddw.record(net, loader)) first")
        return self.summary

    def strength(self) -> torch.Tensor:
        """The open rate over the recorded data."""
        return self._fresh_summary()["open_rate"]

    def snapshot(self) -> dict:
        """Mid-training: the current coefficients (batch mean of the last forward) when no fresh
        recording exists."""
        if self.summary is not None and self._summary_version == self._params_version():
            return dict(self.describe().edges)
        return {"weight": self.coefficients().abs().cpu().tolist()}

    def describe(self) -> WriteBack:
        sm = self._fresh_summary()
        rate = sm["open_rate"].cpu()
        exec_rate = sm["exec_rate"].cpu().tolist()
        return WriteBack(
            edges={"weight": rate.tolist(), "active": (rate > 0).tolist(),
                   "ddw_mean": sm["ddw_mean"].cpu().tolist(), "ddw_std": sm["ddw_std"].cpu().tolist()},
            nodes={"exec_rate": {lab: min(1.0, exec_rate[i]) for i, lab in enumerate(self._labels)}})




def _ddw_of(net: nn.Module) -> DDWWiring:
    found = [m for m in net.modules() if isinstance(m, DDWWiring)] if isinstance(net, nn.Module) else []
    if len(found) != 1:
        names = sorted({m.name for m in net.modules() if isinstance(m, Wiring)}) if isinstance(net, nn.Module) else []
        raise WiringError(f"ddw recording needs a network holding one wiring='ddw', got "
                          f"{type(net).__name__} with wiring(s) {names}")
    return found[0]


@contextlib.contextmanager
def recording(net: nn.Module) -> Iterator[dict]:
    """Record DDW's dataset statistics over the forward passes run inside the block (in eval mode).

    The yielded dict is filled with the summary when the block ends (``samples``, ``ddw_mean``,
    ``ddw_std``, ``open_rate``, ``exec_rate``); ``net.write_back()`` then describes it.
    """
    wiring = _ddw_of(net)
    was = net.training
    net.eval()
    wiring._start_recording()
    out: dict = {}
    ok = False
    try:
        with torch.no_grad():
            yield out
        ok = True
    finally:
        net.train(was)
        if ok:
            out.update(wiring._finish_recording())
        else:
            wiring._recorder = None


def record(net: nn.Module, loader: Iterable, *, batches: int | None = None) -> dict:
    """Run ``net`` over ``loader`` (``x`` or ``(x, y)`` batches, moved to the net's device) inside
    :func:`recording`; returns the summary."""
    device = next(net.parameters()).device
    with recording(net) as stats:
        for i, batch in enumerate(loader):
            if batches is not None and i >= batches:
                break
            x = batch[0] if isinstance(batch, (list, tuple)) else batch
            net(x.to(device))
    return stats
