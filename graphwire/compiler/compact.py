"""``write_back`` of a network compiled from a compact graph (candidate blocks, see
:mod:`graphwire.candidates`): the learned wiring from arrays, one networkx edge per chosen edge.

The result is the compact graph again -- its nodes, its candidate record and its networkx edges --
with every *active* edge (the wiring's ``active`` flag, masked edges closed) added as a networkx
edge carrying what the wiring learned (DNW: ``weight``, ``magnitude``, ``active``). The blocks'
``attrs`` gain the values of an edge that is not chosen (``active: False``, ``weight: 0.0``), so
every candidate edge has them: ``compile(H, wiring="static")`` computes what the network computes,
``prune(H, attr="active")`` keeps the chosen edges, and ``materialize_candidates(H)`` is what
``write_back`` of the materialised network gives for the attributes it writes (other per-edge
values, such as ``magnitude``, exist only on the chosen edges).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np
import torch

from .._gc import paused
from ..candidates import CANDIDATES
from ..graph import SCALAR_TYPES, meta, own_attrs

if TYPE_CHECKING:  # pragma: no cover
    from .module import WiredNet

__all__ = ["write_back_compact", "NOT_CHOSEN"]

#: What a candidate edge that is not chosen gets in a written-back compact graph (per described key).
NOT_CHOSEN = {"active": False, "weight": 0.0}




def write_back_compact(net: "WiredNet") -> nx.DiGraph:
    """See the module doc; ``net.plan.edges`` is a :class:`~graphwire.candidates.EdgeList`."""
    wiring: Any = net.wiring
    rt: Any = net.runtime
    G = net.graph
    cand = net.plan.edges.cand  # type: ignore[attr-defined]
    with torch.no_grad():
        if hasattr(wiring, "active_mask"):
            active = wiring.active_mask().detach().cpu().bool()
            keys = None
        else:
            full = wiring.describe()
            keys = list(full.edges)
            flags = full.edges.get("active")
            active = (torch.tensor([bool(x) for x in flags]) if flags is not None
                      else torch.ones(cand.num_edges, dtype=torch.bool))
        if rt.masked:
            active = active & (rt.edge_mask.detach().cpu() > 0)
    eu = np.fromiter((u for u, _ in G.edges), np.int64, G.number_of_edges())
    ev = np.fromiter((v for _, v in G.edges), np.int64, G.number_of_edges())
    chosen = active.numpy().copy()
    chosen[cand.ids(eu, ev)] = True  # the graph's own networkx edges stay, active or not
    ids = np.flatnonzero(chosen)
    desc = wiring.describe_edges(torch.from_numpy(ids))
    if rt.masked and "active" in desc.edges:
        act = active[torch.from_numpy(ids)].tolist()
        desc.edges["active"] = [x if x is None else bool(x) and a for x, a in zip(desc.edges["active"], act)]
    keys = keys if keys is not None else list(desc.edges)

    H = nx.DiGraph()
    H.graph.update(copy.deepcopy(dict(G.graph)))
    record = meta(H)
    for blk in record[CANDIDATES]:
        attrs = dict(blk.get("attrs", {}))
        attrs.update({k: v for k, v in NOT_CHOSEN.items() if k in keys})
        blk["attrs"] = attrs
    seg = cand.segment_of(ids)
    us = cand.seg_u[seg].tolist()
    vs = (cand.seg_lo[seg] + ids - cand.seg_start[seg]).tolist()
    over = cand.overrides
    names = list(desc.edges)
    cols = [desc.edges[k] for k in names]
    blocks = cand.seg_block[seg].tolist()
    plain = [all(type(x) in SCALAR_TYPES for x in d.values()) for d in cand.block_attrs]
    nones = any(None in col for col in cols)
    with paused():
        H.add_nodes_from((n, own_attrs(d)) for n, d in G.nodes(data=True))
        succ, pred = H._succ, H._pred  # a new graph: each edge's dict is made here, once
        for e, b, u, v, *vals in zip(ids.tolist(), blocks, us, vs, *cols):
            base = over.get(e)
            if base is None:
                base = cand.block_attrs[b] if b >= 0 else cand.extra_attrs[-1 - b]
                d = base.copy() if b >= 0 and plain[b] else own_attrs(base)
            else:
                d = own_attrs(base)
            if nones:
                d.update((k, x) for k, x in zip(names, vals) if x is not None)
            else:
                d.update(zip(names, vals))
            succ[u][v] = d
            pred[v][u] = d
    for key, by_label in desc.nodes.items():
        for label, val in by_label.items():
            if val is not None:
                H.nodes[label][key] = val
    record.update(desc.graph)
    record["wiring"] = wiring.name
    return H
