"""``darts``: candidate operations mixed by ``softmax(alpha)`` (DARTS, Liu et al. 2019).

The graph is a cell from :func:`graphwire.generators.darts_cell`: one node per candidate op of a
connection, and *op edges* from those nodes into the target state carrying ``connection``,
``ops`` and ``candidate``. This wiring owns one ``alpha`` vector per connection key (shared by
stacked cells of one type, as DARTS shares its alpha matrices) and gives op edge
``(candidate k of connection c)`` the coefficient ``softmax(alpha_c)[k]``; ``none`` takes part in
the softmax but has no node, so its share of the mixture is exactly zero output. Every other
edge has the constant coefficient 1.

Options:

* ``gate="softmax"`` (DARTS) or ``"sigmoid"`` (FairDARTS: independent ``sigmoid(alpha)`` gates,
  and ``zero_one`` (default 10 with sigmoid gates) adds FairDARTS' zero-one loss
  ``-zero_one * mean((sigmoid(alpha) - 0.5)^2)`` to ``net.regularizer()``);
* ``edge_norm=True`` (PC-DARTS edge normalisation): one more weight per connection,
  ``softmax`` over the connections into the same state, multiplied into its coefficients (on the
  connection edge of a partial-channel cell, on the op edges otherwise) and into the ranking;
* ``init_std`` (``1e-3``: ``alpha ~ 1e-3 * N(0, 1)`` as in DARTS);
* ``top_k`` (2) and ``threshold`` (None): the selection ``write_back`` marks ``active`` (the
  same rule as :func:`graphwire.derive`).

``write_back`` puts on every op edge ``op_weights`` (the connection's ``{op: weight}``), ``op``
(the connection's argmax op other than ``none``), ``weight`` (the edge's coefficient) and
``active`` (the edge is the chosen op of a kept connection); structural edges are ``active``
when they still lie on an input -> output path of the derived cell. Architecture parameters are
``net.wiring.parameters()`` (see :func:`graphwire.train.wiring_parameters`).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import torch
from torch import nn

from ..generators.darts_cell import find_connections, select_connections
from ..errors import WiringError
from ..contract import finite, op_name
from .base import Wiring, WiringSpec, WriteBack, check_bool, check_choice, check_number
from .registry import register_wiring

__all__ = ["DartsWiring", "Darts"]


def _op_list(v) -> str | None:
    if not isinstance(v, (list, tuple)) or not v or not all(isinstance(o, str) and o for o in v):
        return f"must be a non-empty list of op names, got {v!r}"
    return None


def _op_weights(v) -> str | None:
    if not isinstance(v, dict) or not v:
        return f"must be a non-empty mapping op -> probability, got {v!r}"
    for k, p in v.items():
        if not isinstance(k, str):
            return f"has a non-string op name {k!r}"
        err = finite(p)
        if err:
            return f"entry {k!r} {err}"
    return None


def _number(name: str, value) -> float:
    return check_number("darts", name, value, lambda v: v >= 0, ">= 0")


@dataclass(frozen=True)
class Darts(WiringSpec):
    """``wiring="darts"``: candidate ops mixed by ``softmax(alpha)`` (or sigmoid gates)."""

    gate: str = "softmax"
    init_std: float = 1e-3
    edge_norm: bool = False
    zero_one: float | None = None
    top_k: int = 2
    threshold: float | None = None

    def __post_init__(self):
        check_choice("darts", "gate", self.gate, ("softmax", "sigmoid"))
        _number("init_std", self.init_std)
        check_bool("darts", "edge_norm", self.edge_norm)
        if self.zero_one is not None:
            _number("zero_one", self.zero_one)
        select_connections([], [], top_k=self.top_k, threshold=self.threshold)  # argument checks


@register_wiring
class DartsWiring(Wiring):
    name = "darts"
    mode = "edge"
    Options = Darts
    attributes = (
        ("edge", "op", op_name, "the op an edge runs (the strongest candidate of its connection)"),
        ("edge", "ops", _op_list, "the candidate ops of the edge's connection"),
        ("edge", "op_weights", _op_weights, "op -> probability of the edge's connection"),
        ("edge", "connection_weight", finite, "sigmoid gate of the whole connection (zero_one / edge_norm)"),
    )

    def __init__(self, plan, edge_data, options: Darts):
        super().__init__(plan, edge_data, options)
        gate, init_std, edge_norm, zero_one = options.gate, options.init_std, options.edge_norm, options.zero_one
        top_k, threshold = options.top_k, options.threshold
        edges = self.edges
        self.gate = gate
        self.zero_one = _number("zero_one", 10.0 if zero_one is None and gate == "sigmoid" else (zero_one or 0.0))
        self.edge_norm = bool(edge_norm)
        self.top_k = top_k
        self.threshold = threshold
        init_std = float(init_std)

        self.conns = find_connections(list(edges), list(edge_data))
        if not self.conns:
            raise WiringError("darts wiring: the graph has no op edges (edges with 'candidate'); "
                              "build it with graphwire.generators.darts_cell")
        keys: dict[tuple, int] = {}
        self.key_ops: list[list[str]] = []
        self.conn_key: list[int] = []
        for c in self.conns:
            if c.key not in keys:
                keys[c.key] = len(keys)
                self.key_ops.append(c.ops)
            elif self.key_ops[keys[c.key]] != c.ops:
                raise WiringError(f"darts wiring: connection key {list(c.key)} appears with different 'ops' lists")
            self.conn_key.append(keys[c.key])
        self.keys = list(keys)
        M = max(len(o) for o in self.key_ops)
        valid = torch.zeros(len(keys), M, dtype=torch.bool)
        real = torch.zeros(len(keys), M, dtype=torch.bool)
        for k, ops in enumerate(self.key_ops):
            valid[k, : len(ops)] = True
            for j, op in enumerate(ops):
                real[k, j] = op != "none"
        self.register_buffer("_valid", valid, persistent=False)
        self.register_buffer("_real", real, persistent=False)
        self.alpha = nn.Parameter(init_std * torch.randn(len(keys), M) * valid)

        # the coefficient vector is gathered from [1, op values..., connection weights...]
        E = len(self.edges)
        src_key: list[int] = []
        src_op: list[int] = []
        edge_map = torch.zeros(E, dtype=torch.long)
        for ci, c in enumerate(self.conns):
            for op, e in c.op_edges.items():
                edge_map[e] = 1 + len(src_key)
                src_key.append(self.conn_key[ci])
                src_op.append(self.key_ops[self.conn_key[ci]].index(op))
        self.register_buffer("_op_key", torch.tensor(src_key, dtype=torch.long), persistent=False)
        self.register_buffer("_op_idx", torch.tensor(src_op, dtype=torch.long), persistent=False)
        self._n_op = len(src_key)
        if self.edge_norm:
            # beta per connection key; softmax over the keys that feed the same target state
            targets: dict = {}
            group = []
            for ci, c in enumerate(self.conns):
                group.append(targets.setdefault((c.key[:1], c.key[-1]) if len(c.key) >= 2 else c.target,
                                                len(targets)))
            key_group = [0] * len(keys)
            for ci, g in enumerate(group):
                key_group[self.conn_key[ci]] = g
            self.register_buffer("_key_group", torch.tensor(key_group, dtype=torch.long), persistent=False)
            self._n_groups = len(targets)
            self.beta = nn.Parameter(init_std * torch.randn(len(keys)))
            # op edges of connections without a connection edge get beta too
            op_beta = []
            for ci, c in enumerate(self.conns):
                for op, e in c.op_edges.items():
                    op_beta.append(c.conn_edge is None)
            self.register_buffer("_op_beta", torch.tensor(op_beta, dtype=torch.bool), persistent=False)
            conn_key: list[int] = []
            for ci, c in enumerate(self.conns):
                if c.conn_edge is not None:
                    edge_map[c.conn_edge] = 1 + self._n_op + len(conn_key)
                    conn_key.append(self.conn_key[ci])
            self.register_buffer("_conn_key", torch.tensor(conn_key, dtype=torch.long), persistent=False)
        self.register_buffer("_edge_map", edge_map, persistent=False)
        self.unit_edges = frozenset(i for i in range(E) if int(edge_map[i]) == 0)

    # ---- the weights
    def op_weights(self) -> torch.Tensor:
        """``[keys, max_ops]``: softmax (or sigmoid) of alpha; 0 in padding."""
        if self.gate == "softmax":
            return self.alpha.masked_fill(~self._valid, float("-inf")).softmax(-1)
        return torch.sigmoid(self.alpha) * self._valid

    def connection_weights(self) -> torch.Tensor | None:
        """``[keys]``: PC-DARTS edge-normalisation weights (softmax per target state), or None."""
        if not self.edge_norm:
            return None
        b = self.beta
        e = torch.exp(b - b.max())
        s = torch.zeros(self._n_groups, dtype=b.dtype, device=b.device).index_add(0, self._key_group, e)
        return e / s[self._key_group]

    def coefficients(self) -> torch.Tensor:
        w = self.op_weights()
        vals = w[self._op_key, self._op_idx]
        parts = [vals.new_ones(1)]
        cw = self.connection_weights()
        if cw is not None:
            vals = torch.where(self._op_beta, vals * cw[self._op_key], vals)
            parts += [vals, cw[self._conn_key]]
        else:
            parts.append(vals)
        return torch.cat(parts)[self._edge_map]

    def regularizer(self) -> torch.Tensor:
        if self.gate != "sigmoid" or self.zero_one == 0.0:
            return self.alpha.new_zeros(())
        g = torch.sigmoid(self.alpha)[self._real]
        return -self.zero_one * ((g - 0.5) ** 2).mean()

    # ---- what was learned
    def selection(self) -> dict[int, str]:
        """``{connection index: op}`` of the connections kept by the ``top_k``/``threshold`` rule."""
        w = self.op_weights().detach().cpu()
        weights = [{op: float(w[self.conn_key[i], j]) for j, op in enumerate(self.key_ops[self.conn_key[i]])}
                   for i in range(len(self.conns))]
        cw = self.connection_weights()
        cws = None if cw is None else [float(cw.detach()[k]) for k in self.conn_key]
        return select_connections(self.conns, weights, top_k=self.top_k, threshold=self.threshold, conn_weights=cws)

    def _inference_mask(self) -> torch.Tensor:
        chosen = self.selection()
        E = len(self.edges)
        keep = [True] * E
        for i, c in enumerate(self.conns):
            for op, e in c.op_edges.items():
                keep[e] = chosen.get(i) == op
            if c.conn_edge is not None:
                keep[c.conn_edge] = i in chosen
        # structural edges: active while on a path from a source to a sink through kept edges
        full = nx.DiGraph(self.edges)
        sources = [n for n in full if full.in_degree(n) == 0]
        sinks = [n for n in full if full.out_degree(n) == 0]
        H = nx.DiGraph()
        H.add_nodes_from(full)
        H.add_edges_from(e for e, k in zip(self.edges, keep) if k)
        reached = set(sources).union(*(nx.descendants(H, s) for s in sources))
        reaching = set(sinks).union(*(nx.ancestors(H, s) for s in sinks))
        alive = reached & reaching
        mask = [k and u in alive and v in alive for (u, v), k in zip(self.edges, keep)]
        return torch.tensor(mask, dtype=torch.bool)

    def describe(self) -> WriteBack:
        attrs: dict = {"weight": self.strength().cpu().tolist(), "active": self._inference_mask().tolist()}
        w = self.op_weights().detach().cpu()
        cw = self.connection_weights()
        E = len(self.edges)
        op_weights: list = [None] * E
        chosen_op: list = [None] * E
        conn_w: list = [None] * E
        for i, c in enumerate(self.conns):
            k = self.conn_key[i]
            ow = {op: float(w[k, j]) for j, op in enumerate(self.key_ops[k])}
            real = {op: p for op, p in ow.items() if op != "none"}
            best = max(real, key=lambda op: (real[op], -self.key_ops[k].index(op)))
            ids = list(c.op_edges.values()) + ([c.conn_edge] if c.conn_edge is not None else [])
            for e in ids:
                op_weights[e], chosen_op[e] = dict(ow), best
                if cw is not None:
                    conn_w[e] = float(cw.detach()[k])
        # None: the edge is structural (not part of a candidate connection); write_back skips it
        attrs["op_weights"] = op_weights
        attrs["op"] = chosen_op
        if cw is not None:
            attrs["connection_weight"] = conn_w
        return WriteBack(edges=attrs)

    def transfer_from(self, other, pairs):
        """Copy alphas (and betas) for connection keys both networks have (same candidate lists)."""
        if not isinstance(other, DartsWiring):
            return
        theirs = {k: i for i, k in enumerate(other.keys)}
        with torch.no_grad():
            for i, k in enumerate(self.keys):
                j = theirs.get(k)
                if j is not None and other.key_ops[j] == self.key_ops[i]:
                    n = len(self.key_ops[i])
                    self.alpha[i, :n] = other.alpha[j, :n]
                    if self.edge_norm and other.edge_norm:
                        self.beta[i] = other.beta[j]
