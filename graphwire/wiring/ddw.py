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
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WiringError
from .base import EdgeContext, Wiring
from .registry import register_wiring

__all__ = ["DDWWiring", "Router"]

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


class _DDWContext(EdgeContext):
    """Per-forward state: the ``[B, E+1]`` coefficients, written as the routers run."""

    __slots__ = ("wiring", "open_mass", "stats")

    def __init__(self, wiring: "DDWWiring", batch: int):
        self.mode = "sample"
        self.wiring = wiring
        self.pad = wiring.unrouted.unsqueeze(0).expand(batch, -1)
        self.open_mass = []
        if wiring._stats is not None:
            wiring._count_samples(batch)

    def _count(self, prefix: str, y, alive) -> None:
        """Statistics: which samples ran the node(s) at this step / position."""
        w = self.wiring
        if w._stats is not None:
            w._executed(w._buffer(f"{prefix}_pos"), alive, y.shape[0])

    def _write(self, eids, alpha, coef) -> None:
        """Put the routed coefficients of edges ``eids`` in place (and into the statistics)."""
        self.pad = self.pad.index_copy(1, eids, coef)
        if self.wiring._stats is not None:
            self.wiring._accumulate(eids, alpha, coef)

    def observe(self, step: int, y, alive):
        self._count(f"_s{step}", y, alive)
        w = self.wiring
        info = w._steps.get(step)
        if info is None:
            return
        slots, G = info
        pooled = _pool(y, G)
        if slots.numel() != G:
            pooled = pooled[:, slots]
        weight, bias, tau = w._step_params(step)
        alpha = torch.sigmoid(torch.einsum("bgc,gdc->bgd", pooled, weight) + bias)   # [B, Gr, D]
        coef = w._coefficient(alpha, tau.view(1, -1, 1), self)
        valid = w._buffer(f"_s{step}_valid")
        self._write(w._buffer(f"_s{step}_eids"), alpha.reshape(alpha.shape[0], -1)[:, valid],
                    coef.reshape(coef.shape[0], -1)[:, valid])

    def observe_node(self, pos: int, y, alive):
        self._count(f"_n{pos}", y, alive)
        w = self.wiring
        key = w._router_of.get(pos)
        if key is None:
            return
        r = w.routers[key]
        alpha = torch.sigmoid(r.fc(_pool(y, 1)[:, 0]))                                # [B, D]
        self._write(w._buffer(f"_n{pos}_eids"), alpha, w._coefficient(alpha, r.tau, self))


@register_wiring
class DDWWiring(Wiring):
    name = "ddw"
    mode = "sample"
    options = ("router_bias", "tau_init", "temperature", "eval_weight", "penalty", "route_single")

    def __init__(self, edges, edge_data, source_channels, router_bias: float = 3.0, tau_init: float = 0.5,
                 temperature: float = 1.0, eval_weight: str = "gate", penalty: float = 0.0,
                 route_single: bool = False):
        super().__init__(edges, edge_data, source_channels)
        if eval_weight not in EVAL_WEIGHTS:
            raise WiringError(f"ddw wiring: eval_weight must be one of {list(EVAL_WEIGHTS)}, got {eval_weight!r}")
        if not isinstance(temperature, (int, float)) or temperature <= 0:
            raise WiringError(f"ddw wiring: temperature must be > 0, got {temperature!r}")
        if not isinstance(penalty, (int, float)) or penalty < 0:
            raise WiringError(f"ddw wiring: penalty must be >= 0, got {penalty!r}")
        self.router_bias, self.tau_init = float(router_bias), float(tau_init)
        self.temperature, self.eval_weight, self.penalty = float(temperature), eval_weight, float(penalty)
        self.route_single = bool(route_single)
        self.routers = nn.ModuleDict()
        self._stats = None
        self._last = None

    # ------------------------------------------------------------------ structure
    def bind(self, plan) -> None:
        E = len(plan.edges)
        indeg = [len(nd.preds) for nd in plan.nodes]
        edge_id = plan.edge_ids()
        routed = [False] * E
        self._router_of: dict[int, str] = {}
        for nd in plan.nodes:
            outs = sorted(((v, edge_id[(nd.label, plan.nodes[v].label)]) for v in range(len(plan.nodes))
                           if (nd.label, plan.nodes[v].label) in edge_id), key=lambda t: t[0])
            outs = [(v, e) for v, e in outs if self.route_single or indeg[v] > 1]
            if not outs:
                continue
            self.routers[nd.key] = Router(nd.out_ch, len(outs), self.router_bias, self.tau_init)
            self._router_of[nd.pos] = nd.key
            self.register_buffer(f"_n{nd.pos}_eids", torch.tensor([e for _, e in outs]), persistent=False)
            for _, e in outs:
                routed[e] = True
        self.register_buffer("unrouted", torch.tensor([0.0 if r else 1.0 for r in routed] + [0.0]), persistent=False)
        self.register_buffer("routed_mask", torch.tensor(routed, dtype=torch.bool), persistent=False)
        for st in plan.steps:
            self.register_buffer(f"_s{st.index}_pos", torch.tensor(st.nodes), persistent=False)
        for nd in plan.nodes:
            self.register_buffer(f"_n{nd.pos}_pos", torch.tensor([nd.pos]), persistent=False)
        self.register_buffer("_edge_src", torch.tensor([plan.by_label[u].pos for u, _ in plan.edges], dtype=torch.long),
                             persistent=False)
        # per step: which slots have routers, their [Gr, Dmax] edge ids (flattened, valid only)
        self._steps: dict[int, tuple[torch.Tensor, int]] = {}
        self._step_keys: dict[int, list[str]] = {}
        for st in plan.steps:
            slots = [g for g, p in enumerate(st.nodes) if p in self._router_of]
            if not slots:
                continue
            keys = [self._router_of[st.nodes[g]] for g in slots]
            dmax = max(self.routers[k].fc.out_features for k in keys)
            valid, eids = [], []
            for i, k in enumerate(keys):
                ids = getattr(self, f"_n{st.nodes[slots[i]]}_eids").tolist()
                valid += [i * dmax + d for d in range(len(ids))]
                eids += ids
            self.register_buffer(f"_s{st.index}_valid", torch.tensor(valid), persistent=False)
            self.register_buffer(f"_s{st.index}_eids", torch.tensor(eids), persistent=False)
            self._steps[st.index] = (torch.tensor(slots), st.size)
            self._step_keys[st.index] = keys
        self._plan = plan
        self._param_cache: dict[int, tuple] = {}
        self._build_adjacency_index(plan)
        self.register_load_state_dict_post_hook(lambda m, k: m._param_cache.clear())

    def _build_adjacency_index(self, plan) -> None:
        stages: dict = {}
        for nd in plan.nodes:
            stages.setdefault(plan.graph.nodes[nd.label].get("stage", 0), []).append(nd.pos)
        self._stage_nodes = {s: [plan.nodes[p].label for p in ps] for s, ps in stages.items()}
        for s, ps in stages.items():
            local = {p: i for i, p in enumerate(ps)}
            rows, cols, es = [], [], []
            for e, (u, v) in enumerate(plan.edges):
                pu, pv = plan.by_label[u].pos, plan.by_label[v].pos
                if pu in local and pv in local:
                    rows.append(local[pv]), cols.append(local[pu]), es.append(e)
            self.register_buffer(f"_adj{s}", torch.tensor([rows, cols, es], dtype=torch.long).reshape(3, -1),
                                 persistent=False)

    def _buffer(self, name: str) -> torch.Tensor:
        return getattr(self, name)

    def _step_params(self, step: int):
        cached = self._param_cache.get(step)
        if cached is None:
            rs = [self.routers[k] for k in self._step_keys[step]]
            cached = ([r.fc.weight for r in rs], [r.fc.bias for r in rs], [r.tau for r in rs])
            self._param_cache[step] = cached
        ws, bs, ts = cached
        if len(ws) == 1:
            return ws[0].unsqueeze(0), bs[0].unsqueeze(0), ts[0].reshape(1)
        d = max(w.shape[0] for w in ws)  # pad each router's rows to the step's widest (F.pad exports to ONNX)
        return (torch.stack([F.pad(w, (0, 0, 0, d - w.shape[0])) for w in ws]),
                torch.stack([F.pad(b, (0, d - b.shape[0])) for b in bs]), torch.stack(ts))

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        self._param_cache = {}
        return out

    # ------------------------------------------------------------------ coefficients
    def _coefficient(self, alpha: torch.Tensor, tau: torch.Tensor, ctx: _DDWContext) -> torch.Tensor:
        gate = torch.sigmoid((alpha - tau) / self.temperature)
        if self.training:
            if self.penalty:
                ctx.open_mass.append(gate.mean())
            return alpha * gate
        is_open = (alpha > tau).to(alpha.dtype)
        if self.eval_weight == "gate":
            return alpha * gate * is_open
        if self.eval_weight == "alpha":
            return alpha * is_open
        return is_open

    def context(self, x: torch.Tensor) -> EdgeContext:
        ctx = _DDWContext(self, x.shape[0])
        self._last = ctx
        return ctx

    def raw_coefficients(self) -> torch.Tensor:
        raise WiringError("ddw coefficients are per sample: run a forward pass, then use wiring.last_coefficients()")

    def may_close_raw(self) -> bool:
        return not self.training  # hard thresholds close edges in eval

    def regularizer(self) -> torch.Tensor:
        ctx = self._last
        if not self.penalty or ctx is None or not ctx.open_mass:
            return self.unrouted.new_zeros(())
        return self.penalty * torch.stack(ctx.open_mass).mean()

    def last_coefficients(self) -> torch.Tensor:
        """The last forward's per-sample edge coefficients ``[B, E]``."""
        if self._last is None:
            raise WiringError("no forward pass has run yet")
        return self._last.pad[:, :-1]

    def adjacency(self) -> dict:
        """Per stage: ``(node labels, A)`` with ``A[b, v, u]`` the coefficient of edge u -> v for sample b."""
        pad = self.last_coefficients()
        out = {}
        for s, labels in self._stage_nodes.items():
            rows, cols, es = self._buffer(f"_adj{s}")
            A = pad.new_zeros(pad.shape[0], len(labels), len(labels))
            A[:, rows, cols] = pad[:, es]
            out[s] = (labels, A)
        return out

    # ------------------------------------------------------------------ statistics and write-back
    def start_stats(self) -> None:
        E, N = len(self.edges), len(self._plan.nodes)
        z = self.unrouted.new_zeros
        self._stats = {"n": 0, "sum": z(E), "sq": z(E), "open": z(E), "exec": z(N)}

    def _count_samples(self, batch: int) -> None:
        self._stats["n"] += batch

    def _accumulate(self, eids, alpha, coef) -> None:
        s = self._stats
        s["sum"].index_add_(0, eids, alpha.sum(0))
        s["sq"].index_add_(0, eids, (alpha * alpha).sum(0))
        s["open"].index_add_(0, eids, (coef > 0).to(alpha.dtype).sum(0))

    def _executed(self, positions: torch.Tensor, alive: torch.Tensor | None, batch: int) -> None:
        counts = alive.reshape(batch, -1).sum(0) if alive is not None else \
            self.unrouted.new_full((positions.numel(),), float(batch))
        self._stats["exec"].index_add_(0, positions, counts.to(self._stats["exec"].dtype))

    def finish_stats(self) -> dict:
        s, self._stats = self._stats, None
        if s is None or s["n"] == 0:
            raise WiringError("collect_stats saw no samples")
        n = float(s["n"])
        mean, sq = s["sum"] / n, s["sq"] / n
        routed = self.routed_mask
        exec_rate = s["exec"] / n
        src = self._buffer("_edge_src")
        summary = {
            "samples": int(n),
            "ddw_mean": torch.where(routed, mean, torch.ones_like(mean)),
            "ddw_std": torch.where(routed, (sq - mean * mean).clamp_min(0).sqrt(), torch.zeros_like(mean)),
            "open_rate": torch.where(routed, s["open"] / n, exec_rate[src]),
            "exec_rate": exec_rate,
        }
        self.summary = summary
        return summary

    def edge_strength(self) -> torch.Tensor:
        """Open rate over the data given to ``collect_stats``; before that (e.g. for training
        snapshots) the mean coefficient of the last batch, or sigmoid(bias) before any forward."""
        summary = getattr(self, "summary", None)
        if summary is not None:
            return summary["open_rate"]
        if self._last is not None:
            return self._last.pad[:, :-1].detach().mean(0)
        c = self.unrouted[:-1].clone()
        for pos, key in self._router_of.items():
            c[self._buffer(f"_n{pos}_eids")] = torch.sigmoid(self.routers[key].fc.bias.detach())
        return c

    def inference_mask(self) -> torch.Tensor:
        return (self.edge_strength() > 0) & (self.edge_mask > 0)

    def _summary(self) -> dict:
        summary = getattr(self, "summary", None)
        if summary is None:
            raise WiringError("ddw write_back needs statistics over data: call net.collect_stats(loader) first")
        return summary

    def check_write_back(self) -> None:
        self._summary()

    def edge_attributes(self) -> dict:
        attrs = super().edge_attributes()
        sm = getattr(self, "summary", None)
        if sm is None:
            return attrs
        attrs["ddw_mean"] = [float(x) for x in sm["ddw_mean"].cpu()]
        attrs["ddw_std"] = [float(x) for x in sm["ddw_std"].cpu()]
        return attrs

    def node_attributes(self) -> dict:
        sm = getattr(self, "summary", None)
        if sm is None:
            return {}
        return {"exec_rate": [min(1.0, float(x)) for x in sm["exec_rate"].cpu()]}
