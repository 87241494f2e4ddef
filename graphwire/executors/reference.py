"""The reference executor: one node at a time, in topological order. Short and obviously right:
the oracle the batched executor is tested against."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # pragma: no cover
    from ..plan import Plan
from ._common import Forward, closed_output, masked_max, resize_to, smallest

__all__ = ["reference_forward"]


def reference_forward(plan: "Plan", runtime: Any, x: torch.Tensor) -> torch.Tensor:
    """Run ``plan`` node by node. A routing wiring hears about each step once, when the step's last
    node is done (its nodes' outputs concatenated in slot order), exactly as in the batched one."""
    fw = Forward(runtime, x)
    close, B = fw.close, fw.batch
    outs: dict[int, torch.Tensor] = {}
    alive: dict[int, torch.Tensor | None] = {}
    remaining = [st.size for st in plan.steps]
    for nd in plan.nodes:
        coef = fw.coef
        a = None
        if nd.role == "input":
            inp = x
            if close:
                a = x.new_ones(B)
        else:
            ys = [outs[p] for p in nd.preds]
            size = smallest(ys)
            ys = [resize_to(y, size, runtime.resize) for y in ys]
            weighted = [coef.edge(e, y) * y for e, y in zip(nd.in_edges, ys)]
            if nd.agg == "sum":
                inp = sum(weighted[1:], weighted[0])
            elif nd.agg == "concat":
                inp = torch.cat(weighted, 1)
            else:
                is_open = torch.stack([(coef.edge(e, y) != 0).expand_as(y) for e, y in zip(nd.in_edges, ys)])
                inp = masked_max(torch.stack(weighted), is_open, 0)
            if close:
                mass = sum(coef.edge_mass(e) * alive[p] for e, p in zip(nd.in_edges, nd.preds))
                a = (torch.as_tensor(mass) > 0).to(x.dtype).expand(B)
        if fw.skip and a is not None and not bool(a.any()):
            y = closed_output(nd.out_ch, nd.stride, inp)  # closed for the whole batch: not computed
        else:
            y = runtime.run_node(nd.pos, inp)
            if a is not None:
                y = y * a.reshape((B,) + (1,) * (y.dim() - 1))
        outs[nd.pos], alive[nd.pos] = y, a
        remaining[nd.step] -= 1
        if fw.state is not None and remaining[nd.step] == 0:
            st = plan.steps[nd.step]
            ys = [outs[p] for p in st.nodes]
            al = None if a is None else torch.stack([alive[p] for p in st.nodes], 1)
            fw.after_step(st.index, ys[0] if len(ys) == 1 else torch.cat(ys, 1), al)
    return torch.cat([outs[p] for p in plan.outputs], 1)
