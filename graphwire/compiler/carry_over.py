"""Carry-over: a recompiled (e.g. pruned) network starts from an earlier network's parameters.

Node parameters are matched by node label (a concat node's input-side weights are sliced by
predecessor), edge parameters by ``(u, v)`` through the wiring's ``transfer_from``.
"""

from __future__ import annotations

from typing import Any

import torch

from .module import WiredNet

__all__ = ["carry_over"]


def carry_over(new: WiredNet, old: WiredNet) -> dict[str, Any]:
    """Copy what fits from ``old`` into ``new``; returns ``{"copied", "sliced", "skipped"}`` labels."""
    report: dict[str, list] = {"copied": [], "sliced": [], "skipped": []}
    for nd in new.plan.nodes:
        od = old.plan.by_label.get(nd.label)
        if od is None or od.op != nd.op:
            report["skipped"].append(nd.label)
            continue
        src, dst = old.nodes[od.key].state_dict(), new.nodes[nd.key].state_dict()
        slices = getattr(type(new.nodes[nd.key]), "input_params", {})
        ok = True
        for name, t in dst.items():
            s = src.get(name)
            if s is not None and s.shape == t.shape:
                dst[name] = s.clone()
            elif s is not None and name in slices and nd.agg == "concat":
                dim = slices[name]
                old_ranges, off = {}, 0
                for p in od.preds:
                    c = old.plan.nodes[p].out_ch
                    old_ranges[old.plan.nodes[p].label] = (off, off + c)
                    off += c
                idx: list[int] = []
                for p in nd.preds:
                    lab = new.plan.nodes[p].label
                    if lab not in old_ranges:
                        ok = False
                        break
                    idx.extend(range(*old_ranges[lab]))
                if ok and len(idx) == t.shape[dim]:
                    dst[name] = s.index_select(dim, torch.tensor(idx, device=s.device)).clone()
                    report["sliced"].append(nd.label)
                else:
                    ok = False
            else:
                ok = False
        if ok:
            new.nodes[nd.key].load_state_dict(dst)
            report["copied"].append(nd.label)
        else:
            report["skipped"].append(nd.label)
    old_ids = old.plan.edge_ids()
    pairs = [(i, old_ids[e]) for i, e in enumerate(new.plan.edges) if e in old_ids]
    if type(new.wiring) is type(old.wiring):
        new.wiring.transfer_from(old.wiring, pairs)
    return report
