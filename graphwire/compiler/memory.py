"""Refusing a graph that cannot fit before anything is allocated: an estimate of what compiling a
plan allocates, against the machine's memory."""

from __future__ import annotations

import os

import torch

from ..errors import GraphError
from ..ops.registry import get_op
from ..plan import Plan

__all__ = ["estimate_bytes", "available_bytes", "check_memory"]

_NODE_OVERHEAD = 8192  # bytes of Python/nn.Module bookkeeping per node module (measured order)
_PARAMLESS = ("identity", "channel")


def estimate_bytes(plan: Plan) -> int:
    """A lower-end estimate of what compiling ``plan`` allocates: node parameters (at least one
    ``in x out`` matrix per op with weights), the index buffers, the edge coefficients and the
    bookkeeping of a module per node (for ops without a stacked form)."""
    item = torch.empty((), dtype=torch.get_default_dtype()).element_size()
    params = sum(nd.in_ch * nd.out_ch for nd in plan.nodes if nd.op not in _PARAMLESS)
    index = sum(a.nbytes for st in plan.steps for a in st.arrays().values())
    modules = sum(st.size for st in plan.steps if get_op(st.op).stacked is None)  # a module per node
    return item * params + index + 4 * item * len(plan.edges) + _NODE_OVERHEAD * modules


def available_bytes() -> int | None:
    """Physical memory of this machine (None where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(plan: Plan) -> None:
    """Fail early, with an estimate, for a graph that cannot fit in memory (instead of a
    MemoryError deep inside torch)."""
    need, have = estimate_bytes(plan), available_bytes()
    if have is not None and need > have:
        raise GraphError(f"the graph needs about {need / 2**30:.1f} GiB to compile ({len(plan.nodes)} nodes, "
                         f"{len(plan.edges)} edges, {sum(nd.in_ch * nd.out_ch for nd in plan.nodes):.3g} weights) "
                         f"but this machine has {have / 2**30:.1f} GiB; use fewer or narrower nodes")
