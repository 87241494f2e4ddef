"""Depth-search training: the exact-ELBO loop of the variational depth search reference code."""

from __future__ import annotations

import copy
import math
import time

import torch
from torch import nn

from ..errors import ParameterError

__all__ = ["fit_elbo"]


def fit_elbo(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int = 2000, lr: float = 0.1,
             momentum: float = 0.5, batch_size: int | None = None, patience: int | None = 500,
             seed: int = 0, keep_best: bool = True) -> dict:
    """Train a model with a ``loss(x, y)`` method (the exact depth ELBO of
    :class:`graphwire.models.LearntDepthNet`) as the depth-search reference code does: SGD
    (lr 0.1, momentum 0.5, no weight decay, no schedule), full batch by default, keep the
    parameters with the best training loss, stop after ``patience`` epochs without improvement.

    Returns ``{"losses": [...], "best_epoch": int, "epochs": int, "seconds": float}`` and leaves
    the model in eval mode.
    """
    if not hasattr(model, "loss"):
        raise ParameterError("fit_elbo needs a model with a loss(x, y) method, e.g. models.LearntDepthNet")
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    N = len(y)
    bs = N if batch_size is None else min(int(batch_size), N)
    g = torch.Generator().manual_seed(seed)
    best, best_state, best_epoch, losses = math.inf, None, 0, []
    t0 = time.perf_counter()
    model.train()
    epoch = 0
    for epoch in range(1, epochs + 1):
        order = torch.randperm(N, generator=g).to(device) if bs < N else None
        total = 0.0
        for s in range(0, N, bs):
            idx = order[s:s + bs] if order is not None else None
            xb, yb = (x, y) if idx is None else (x[idx], y[idx])
            loss = model.loss(xb, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(yb)
        losses.append(total / N)
        if losses[-1] < best:
            best, best_epoch = losses[-1], epoch
            if keep_best:
                best_state = copy.deepcopy(model.state_dict())
        elif patience is not None and epoch - best_epoch >= patience:
            break
    if keep_best and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return {"losses": losses, "best_epoch": best_epoch, "epochs": epoch, "seconds": time.perf_counter() - t0}
