"""Carry-over: a recompiled (e.g. pruned) network starts from an earlier network's parameters.

Node parameters are matched by node label (a concat node's input-side weights are sliced by
predecessor), edge parameters by ``(u, v)`` through the wiring's ``transfer_from``.
"""

from __future__ import annotations

from typing import Any

import torch

from ..ops.registry import get_op

__all__ = ["carry_over"]


def carry_over(new: Any, old: Any) -> dict[str, Any]:
    """Copy what fits from ``old`` into ``new`` (two :class:`~graphwire.compiler.module.WiredNet`);
    returns ``{"copied", "sliced", "skipped"}`` labels.

    Works on per-node views (``node_state()``), so stacked and per-node ops alike."""
    report: dict[str, list] = {"copied": [], "sliced": [], "skipped": []}
    old_state, new_state = old.node_state(), new.node_state()
    updates: list[tuple[torch.Tensor, torch.Tensor]] = []
    for nd in new.plan.nodes:
        od = old.plan.by_label.get(nd.label)
        if od is None or od.op != nd.op:
            report["skipped"].append(nd.label)
            continue
        src, dst = old_state[od.key], new_state[nd.key]
        op_class = type(new.nodes[nd.key]) if nd.key in new.nodes else get_op(nd.op).stacked
        slices = getattr(op_class, "input_params", {})
        pending, ok, sliced = [], True, False
        for name, t in dst.items():
            s = src.get(name)
            if s is not None and s.shape == t.shape:
                pending.append((t, s))
            elif s is not None and name in slices and nd.agg == "concat":
                idx = _input_slice(old, od, new, nd)
                dim = slices[name]
                if idx is None or len(idx) != t.shape[dim]:
                    ok = False
                    break
                pending.append((t, s.index_select(dim, torch.tensor(idx, device=s.device))))
                sliced = True
            else:
                ok = False
                break
        if ok:
            updates.extend(pending)
            report["sliced" if sliced else "copied"].append(nd.label)
        else:
            report["skipped"].append(nd.label)
    with torch.no_grad():
        for t, s in updates:
            t.copy_(s)
    old_ids = old.plan.edge_ids()
    pairs = [(i, old_ids[e]) for i, e in enumerate(new.plan.edges) if e in old_ids]
    if type(new.wiring) is type(old.wiring):
        new.wiring.transfer_from(old.wiring, pairs)
    return report


def _input_slice(old: Any, od, new: Any, nd) -> list[int] | None:
    """Channel indices of ``nd``'s concatenated input inside ``od``'s (None: a new predecessor)."""
    old_ranges, off = {}, 0
    for p in od.preds:
        c = old.plan.nodes[p].out_ch
        old_ranges[old.plan.nodes[p].label] = (off, off + c)
        off += c
    idx: list[int] = []
    for p in nd.preds:
        lab = new.plan.nodes[p].label
        if lab not in old_ranges:
            return None
        idx.extend(range(*old_ranges[lab]))
    return idx
