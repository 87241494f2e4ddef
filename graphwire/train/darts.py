"""DARTS training: the bilevel updates of architecture and weights.

DARTS (``cnn/architect.py``) alternates, every step, an *architecture* step on a held-out
(validation) batch and a *weight* step on a training batch. The architecture parameters are the
wiring's (``alpha``...: :func:`wiring_parameters`), the weights everything else
(:func:`weight_parameters`); each has its own optimizer. ``order=1`` uses ``grad_alpha L_val(w,
alpha)``; ``order=2`` the unrolled gradient at the virtual step ``w' = w - xi * (grad_w L_train
+ momentum * buffer + weight_decay * w)``::

    grad_alpha L_val(w', alpha) - xi * (grad_alpha L_train(w+, alpha) - grad_alpha L_train(w-, alpha)) / (2 eps)

with ``w+- = w +- eps * v``, ``v = grad_w' L_val(w', alpha)`` and ``eps = 0.01 / ||v||`` (a central
finite-difference Hessian-vector product). Virtual passes leave weights and BatchNorm statistics
as they were. Losses are ``criterion(model(x), y)`` plus every wiring's ``regularizer()``.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError
from ..compiler import wired_core
from ..io.history import History
from ..wiring.base import Wiring
from .groups import weight_parameters, wiring_parameters
from .loop import default_device

__all__ = ["arch_gradient", "bilevel_step", "darts_optimizers", "search"]


def _regularizer(model: nn.Module) -> torch.Tensor | float:
    total = 0.0
    for m in model.modules():
        if isinstance(m, Wiring):
            total = total + m.regularizer()
    return total


def _loss(model: nn.Module, batch, criterion: Callable) -> torch.Tensor:
    x, y = batch
    return criterion(model(x), y) + _regularizer(model)


def _grads(loss: torch.Tensor, params: list) -> list[torch.Tensor]:
    gs = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs)]


def _sgd_terms(w_optimizer: torch.optim.Optimizer | None, params: list) -> tuple[float | None, list, list]:
    """(lr of the params' group, momentum buffer term, weight decay) per parameter, from an SGD optimizer."""
    lr, mom, wd = None, [], []
    groups = {}
    if w_optimizer is not None:
        for g in w_optimizer.param_groups:
            for p in g["params"]:
                groups[id(p)] = g
    for p in params:
        g = groups.get(id(p))
        if g is None:
            mom.append(None)
            wd.append(0.0)
            continue
        lr = g.get("lr", lr) if lr is None else lr
        buf = w_optimizer.state.get(p, {}).get("momentum_buffer")
        m = g.get("momentum", 0.0)
        mom.append(None if buf is None or not m else m * buf)
        wd.append(g.get("weight_decay", 0.0))
    return lr, mom, wd


def arch_gradient(model: nn.Module, train_batch, val_batch, *, order: int = 1, xi: float | None = None,
                  w_optimizer: torch.optim.Optimizer | None = None,
                  criterion: Callable = F.cross_entropy, eps: float = 0.01) -> list[torch.Tensor]:
    """The gradient of the validation loss w.r.t. :func:`wiring_parameters` (first or second order).

    ``xi`` is the virtual step size (default: the weight optimizer's learning rate); the virtual
    step also uses that optimizer's momentum buffers and weight decay, as DARTS does.
    """
    if order not in (1, 2):
        raise ParameterError(f"order must be 1 (first order) or 2 (unrolled, finite differences), got {order!r}")
    A, W = wiring_parameters(model), weight_parameters(model)
    if not A:
        raise ParameterError("the model has no architecture parameters (compile it with a learnable wiring)")
    if order == 1:
        return _grads(_loss(model, val_batch, criterion), A)

    lr, mom, wd = _sgd_terms(w_optimizer, W)
    xi = lr if xi is None else xi
    if xi is None:
        raise ParameterError("order=2 needs xi= (the virtual step size) or w_optimizer=")
    xi = float(xi)
    saved_buffers = [b.detach().clone() for b in model.buffers()]
    w0 = [p.detach().clone() for p in W]
    try:
        g = _grads(_loss(model, train_batch, criterion), W)
        with torch.no_grad():
            for p, gi, w, m, d in zip(W, g, w0, mom, wd):
                step = gi + d * w
                if m is not None:
                    step = step + m
                p.copy_(w - xi * step)
        grads = _grads(_loss(model, val_batch, criterion), A + W)
        dalpha, v = grads[: len(A)], grads[len(A):]
        norm = torch.sqrt(sum((t.double() ** 2).sum() for t in v))
        if float(norm) == 0.0:
            return dalpha
        r = eps / norm
        hv = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for p, w, vi in zip(W, w0, v):
                    p.copy_(w + (sign * r).to(w.dtype) * vi)
            hv.append(_grads(_loss(model, train_batch, criterion), A))
        return [da - xi * (gp - gn) / (2 * r).to(gp.dtype) for da, gp, gn in zip(dalpha, *hv)]
    finally:
        with torch.no_grad():
            for p, w in zip(W, w0):
                p.copy_(w)
            for b, s in zip(model.buffers(), saved_buffers):
                b.copy_(s)


def bilevel_step(model: nn.Module, train_batch, val_batch, *, w_optimizer: torch.optim.Optimizer,
                 a_optimizer: torch.optim.Optimizer, order: int = 1, xi: float | None = None,
                 criterion: Callable = F.cross_entropy, grad_clip: float | None = 5.0,
                 update_arch: bool = True) -> dict:
    """One DARTS step: an architecture step on ``val_batch``, then a weight step on ``train_batch``.

    Batches are ``(x, y)`` pairs already on the model's device. Returns the training loss and
    accuracy of the weight step. ``update_arch=False`` skips the architecture step (warm-up, as
    in PC-DARTS).
    """
    model.train()
    A, W = wiring_parameters(model), weight_parameters(model)
    if update_arch:
        grads = arch_gradient(model, train_batch, val_batch, order=order, xi=xi, w_optimizer=w_optimizer,
                              criterion=criterion)
        a_optimizer.zero_grad(set_to_none=True)
        for p, g in zip(A, grads):
            p.grad = g.detach()
        a_optimizer.step()
    w_optimizer.zero_grad(set_to_none=True)
    x, y = train_batch
    out = model(x)
    loss = criterion(out, y) + _regularizer(model)
    loss.backward()
    if grad_clip is not None:
        nn.utils.clip_grad_norm_(W, grad_clip)
    w_optimizer.step()
    for p in A:  # the weight step's loss also reached the alphas: not theirs to use
        p.grad = None
    return {"loss": float(loss.detach()), "acc": float((out.argmax(1) == y).float().mean())}


def darts_optimizers(model: nn.Module, *, w_lr: float = 0.025, w_momentum: float = 0.9, w_decay: float = 3e-4,
                     a_lr: float = 3e-4, a_betas: tuple = (0.5, 0.999), a_decay: float = 1e-3):
    """DARTS' optimizers: SGD (lr 0.025, momentum 0.9, wd 3e-4) for weights, Adam (3e-4, betas
    (0.5, 0.999), wd 1e-3) for the architecture."""
    w = torch.optim.SGD(weight_parameters(model), lr=w_lr, momentum=w_momentum, weight_decay=w_decay)
    a = torch.optim.Adam(wiring_parameters(model), lr=a_lr, betas=a_betas, weight_decay=a_decay)
    return w, a


def search(model: nn.Module, train_loader: Iterable, val_loader: Iterable, epochs: int, *, order: int = 1,
           w_lr: float = 0.025, w_lr_min: float = 0.001, a_lr: float = 3e-4, warmup_epochs: int = 0,
           criterion: Callable = F.cross_entropy, device: torch.device | str | None = None,
           history: History | None = None, **optimizer_options) -> History:
    """A DARTS search: per step an architecture step on the next validation batch, then a weight
    step; cosine weight learning rate from ``w_lr`` to ``w_lr_min``. Returns a :class:`History`
    (per epoch loss and accuracy, and a snapshot of the wiring)."""
    device = torch.device(device) if device is not None else default_device()
    model.to(device)
    w_opt, a_opt = darts_optimizers(model, w_lr=w_lr, a_lr=a_lr, **optimizer_options)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, max(1, epochs), eta_min=w_lr_min)
    core = wired_core(model)
    history = history or History()
    if core is not None and not history.snapshots:
        history.snapshot(core, 0)
    for epoch in range(1, epochs + 1):
        t0, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0.0
        for (xt, yt), (xv, yv) in zip(train_loader, _cycle(val_loader)):
            tb = (xt.to(device), yt.to(device))
            vb = (xv.to(device), yv.to(device))
            r = bilevel_step(model, tb, vb, w_optimizer=w_opt, a_optimizer=a_opt, order=order,
                             criterion=criterion, update_arch=epoch > warmup_epochs)
            n = len(yt)
            loss_sum += r["loss"] * n
            correct += r["acc"] * n
            seen += n
        sched.step()
        history.epochs.append({"epoch": epoch, "loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1),
                               "seconds": time.perf_counter() - t0})
        if core is not None:
            history.snapshot(core, epoch)
    return history


def _cycle(loader: Iterable):
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ParameterError("the validation loader is empty")
