"""A small training loop: progress bar, validation accuracy, and a history of the wiring.

``fit`` works with any ``nn.Module`` that returns logits; when the model carries a wired core
(``WiredNet`` or ``WiredClassifier``) it adds the wiring's regulariser to the loss and snapshots
every edge's learned strength and ``active`` flag after each epoch, so the evolution of the
wiring can be plotted or replayed later.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..compiler import WiredNet

__all__ = ["History", "fit", "evaluate", "recalibrate_bn", "wired_core", "default_device"]


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def wired_core(model: nn.Module) -> WiredNet | None:
    """The model's ``WiredNet`` (the model itself, its ``.wired``, or None)."""
    if isinstance(model, WiredNet):
        return model
    core = getattr(model, "wired", None)
    if core is None and hasattr(model, "module"):  # DistributedDataParallel
        return wired_core(model.module)
    return core if isinstance(core, WiredNet) else None


@dataclass
class History:
    """Per-epoch metrics and wiring snapshots (edge list in the graph's edge order)."""

    edges: list[tuple] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    snapshots: list[dict] = field(default_factory=list)  # {"epoch", "weight": [...], "active": [...]}

    def snapshot(self, net: WiredNet, epoch: int) -> None:
        attrs = net.wiring.edge_attributes()
        if not self.edges:
            self.edges = [tuple(e) for e in net.plan.edges]
        self.snapshots.append({"epoch": epoch, "weight": attrs["weight"], "active": attrs["active"]})

    def last(self, key: str):
        return self.epochs[-1][key] if self.epochs else None


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, device: torch.device | str | None = None) -> dict:
    """Accuracy and mean cross-entropy of ``model`` (in eval mode) over ``loader``."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was = model.training
    model.eval()
    correct = total = 0
    loss = 0.0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        out = model(x)
        loss += F.cross_entropy(out, y, reduction="sum").item()
        correct += (out.argmax(1) == y).sum().item()
        total += y.numel()
    model.train(was)
    return {"acc": correct / max(total, 1), "loss": loss / max(total, 1)}


@torch.no_grad()
def recalibrate_bn(model: nn.Module, loader: Iterable, *, batches: int | None = None,
                   device: torch.device | str | None = None) -> nn.Module:
    """Re-estimate every BatchNorm's running statistics on ``loader`` (no weights change).

    After pruning, a node sums fewer inputs, so the statistics its BatchNorm learned no longer
    match; recomputing them is the cheap first aid before (or instead of) fine-tuning.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches seen
    was = model.training
    model.train()
    for i, (x, _) in enumerate(loader):
        if batches is not None and i >= batches:
            break
        model(x.to(device))
    for m, mom in zip(bns, saved):
        m.momentum = mom
    model.train(was)
    return model


def fit(model: nn.Module, train_loader: Iterable, epochs: int, *, val_loader: Iterable | None = None,
        lr: float = 0.05, weight_decay: float = 5e-5, wiring_lr: float | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        device: torch.device | str | None = None, progress: bool = True, history: History | None = None,
        desc: str = "train") -> History:
    """Train with SGD+momentum and a cosine schedule (or ``optimizer``); return the :class:`History`.

    ``wiring_lr`` gives the wiring's own parameters (gates...) a separate learning rate and no
    weight decay: behind each node's BatchNorm only the *relative* size of its gates matters, so
    their gradients are small and they need a larger step to move at all.

    >>> from graphwire import data, generators, models
    >>> s = data.digits(flat=True)
    >>> m = models.wired_mlp(generators.chain(2), 64, 10, width=32)
    >>> h = fit(m, data.loader(s.x_train, s.y_train), 1, progress=False)
    >>> len(h.epochs)
    1
    """
    from tqdm.auto import tqdm

    device = torch.device(device) if device is not None else default_device()
    model.to(device)
    core = wired_core(model)
    history = history or History()
    if optimizer is None:
        groups: list = [{"params": list(model.parameters())}]
        if wiring_lr is not None and core is not None:
            wired = {id(p) for p in core.wiring.parameters()}
            groups = [{"params": [p for p in model.parameters() if id(p) not in wired]},
                      {"params": list(core.wiring.parameters()), "lr": wiring_lr, "weight_decay": 0.0}]
        optimizer = torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=weight_decay, nesterov=True)
    steps = max(1, epochs * len(train_loader))
    sched = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: 0.5 * (1 + torch.cos(torch.tensor(min(i, steps) / steps * torch.pi)).item()))
    if core is not None and not history.snapshots:
        history.snapshot(core, 0)
    start_epoch = len(history.epochs)
    bar = tqdm(total=steps, desc=desc, disable=not progress, leave=False, unit="step")
    for epoch in range(start_epoch + 1, start_epoch + epochs + 1):
        model.train()
        t0, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0
        for x, y in train_loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            out = model(x)
            loss = F.cross_entropy(out, y)
            if core is not None:
                loss = loss + core.regularizer()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            sched.step()
            loss_sum += loss.item() * y.numel()
            correct += (out.argmax(1) == y).sum().item()
            seen += y.numel()
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{loss_sum / seen:.3f}")
        record = {"epoch": epoch, "loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1),
                  "seconds": time.perf_counter() - t0}
        if val_loader is not None:
            record["val_acc"] = evaluate(model, val_loader, device)["acc"]
        history.epochs.append(record)
        if core is not None:
            history.snapshot(core, epoch)
    bar.close()
    return history
