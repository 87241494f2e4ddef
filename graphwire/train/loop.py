"""A small training loop: progress bar, validation accuracy, and a history of the wiring.

``fit`` works with any ``nn.Module`` that returns logits; when the model carries a wired core
(``WiredNet`` or ``WiredClassifier``) it adds the wiring's regulariser to the loss and snapshots
every edge's learned strength and ``active`` flag after each epoch, so the evolution of the
wiring can be plotted or replayed later.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..compiler import wired_core
from ..errors import ParameterError
from ..io.history import History

__all__ = ["fit", "evaluate", "recalibrate_bn", "default_device", "SMALL_MODEL_PARAMS"]

#: ``fit(threads="auto")`` trains models up to this many parameters on one CPU thread.
SMALL_MODEL_PARAMS = 2_000_000
_TORCH_THREADS_AT_IMPORT = torch.get_num_threads()
_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _fit_threads(threads: int | str | None, model: nn.Module, device: torch.device) -> int | None:
    """The torch thread count ``fit`` should use (None: leave torch's setting alone).

    Small nets gain little from a second CPU thread and lose a lot when another process holds a
    core: OpenMP threads then wait on each other (``graphwire demo --fast`` ran 6x slower with 2
    threads than with 1 on a busy 2-core machine, see the install page of the docs). So ``"auto"`` picks one thread for
    models of at most :data:`SMALL_MODEL_PARAMS` parameters on the CPU, unless the user chose a
    count (``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` set, or ``torch.set_num_threads`` called after
    importing graphwire).
    """
    if threads is None:
        return None
    if threads == "auto":
        if device.type != "cpu" or any(os.environ.get(v) for v in _THREAD_ENV):
            return None
        if torch.get_num_threads() != _TORCH_THREADS_AT_IMPORT:
            return None  # set by the user
        small = sum(p.numel() for p in model.parameters()) <= SMALL_MODEL_PARAMS
        return 1 if small else None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ParameterError(f"threads must be a positive int, 'auto' or None, got {threads!r}")
    return threads


def resolve_device(device: Any, *, name: str = "device") -> torch.device:
    """``device`` (None: CUDA when available, else the CPU) as a :class:`torch.device` this machine can
    use; a :class:`~graphwire.errors.ParameterError` naming ``name`` and the value otherwise.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ParameterError(f"{name} {device!r} is not a torch device; use 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"{name} {device!r}: CUDA is not available here (torch {torch.__version__}); "
                             f"use {name} 'cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ParameterError(f"{name} {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s); "
                             f"use 'cuda:0'..'cuda:{max(torch.cuda.device_count() - 1, 0)}' or 'cpu'")
    if dev.type not in ("cpu", "cuda"):
        try:
            torch.empty(1, device=dev)
        except (RuntimeError, AssertionError):
            raise ParameterError(f"{name} {device!r}: this torch build ({torch.__version__}) cannot use "
                                 f"{dev.type!r} here; use {name} 'cpu'") from None
    return dev


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


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


def _check_fit_args(epochs: Any, lr: Any, weight_decay: Any, wiring_lr: Any) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ParameterError(f"epochs must be a positive integer, got {epochs!r}")
    for name, value, low in (("lr", lr, 0.0), ("weight_decay", weight_decay, 0.0), ("wiring_lr", wiring_lr, 0.0)):
        if value is None and name == "wiring_lr":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < low \
                or (name != "weight_decay" and value == 0):
            raise ParameterError(f"{name} must be a finite number {'> 0' if name != 'weight_decay' else '>= 0'}, "
                                 f"got {value!r}")


def fit(model: nn.Module, train_loader: Iterable, epochs: int, *, val_loader: Iterable | None = None,
        lr: float = 0.05, weight_decay: float = 5e-5, wiring_lr: float | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        device: torch.device | str | None = None, progress: bool = True, history: History | None = None,
        desc: str = "train", snapshot_every: int | None = None, threads: int | str | None = "auto",
        on_epoch: Callable[[int, dict], None] | None = None) -> History:
    """Train with SGD+momentum and a cosine schedule (or ``optimizer``); return the :class:`History`.

    The progress bar (tqdm; ``progress=False`` hides it) shows the running loss, and the
    validation accuracy when ``val_loader`` is given (evaluated after every epoch). When the model
    has a wired core, its wiring's regulariser is added to the loss and every edge is snapshotted
    before training, after every epoch, or with ``snapshot_every=n`` every ``n`` optimizer steps
    (and after the last one). Pass the returned ``history`` back in to continue training: epochs,
    steps and snapshots carry on.

    ``threads``: torch CPU threads while training (restored afterwards). The default ``"auto"``
    uses one thread for small models (at most :data:`SMALL_MODEL_PARAMS` parameters) on the CPU,
    unless you set a count yourself (``OMP_NUM_THREADS`` or ``torch.set_num_threads``); an int
    uses that many; None leaves torch's setting alone.

    ``wiring_lr`` gives the wiring's own parameters (gates...) a separate learning rate and no
    weight decay: behind each node's BatchNorm only the *relative* size of its gates matters, so
    their gradients are small and they need a larger step to move at all.

    ``on_epoch(epoch, record)`` is called after every epoch with that epoch's metrics (the
    record also appended to ``history.epochs``); raising in it stops training (the exception
    propagates, e.g. for a search's pruner).

    >>> from graphwire import data, generators, models
    >>> s = data.digits(flat=True)
    >>> m = models.wired_mlp(generators.chain(2), in_channels=64, num_classes=10, channels=32)
    >>> h = fit(m, data.loader(s.x_train, s.y_train), 1, progress=False, snapshot_every=5)
    >>> len(h.epochs), h.snapshots[0]["step"], h.snapshots[1]["step"]
    (1, 0, 5)
    """

    if snapshot_every is not None and (isinstance(snapshot_every, bool) or not isinstance(snapshot_every, int)
                                       or snapshot_every < 1):
        raise ParameterError(f"snapshot_every must be a positive number of steps or None, got {snapshot_every!r}")
    _check_fit_args(epochs, lr, weight_decay, wiring_lr)
    device = resolve_device(device)
    model.to(device)
    n_threads = _fit_threads(threads, model, device)
    before = torch.get_num_threads()
    if n_threads is not None and n_threads != before:
        torch.set_num_threads(n_threads)
    try:
        return _fit(model, train_loader, epochs, val_loader, lr, weight_decay, wiring_lr, optimizer, device,
                    progress, history, desc, snapshot_every, on_epoch)
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _fit(model, train_loader, epochs, val_loader, lr, weight_decay, wiring_lr, optimizer, device, progress,
         history, desc, snapshot_every, on_epoch) -> History:
    from tqdm.auto import tqdm

    core = wired_core(model)
    history = history if history is not None else History()
    if core is not None and history.edges and [tuple(e) for e in core.plan.edges] != history.edges:
        raise ParameterError(
            f"the history records a wiring with {len(history.edges)} edges, but the network has "
            f"{len(core.plan.edges)} different ones (a recompiled or pruned net?); start a new History for it")
    if optimizer is None:
        groups: list = [{"params": list(model.parameters())}]
        if wiring_lr is not None and core is not None:
            wired = {id(p) for p in core.wiring.parameters()}
            groups = [{"params": [p for p in model.parameters() if id(p) not in wired]},
                      {"params": list(core.wiring.parameters()), "lr": wiring_lr, "weight_decay": 0.0}]
        # foreach: one fused update over all tensors (not the CPU default; wired nets have many small ones)
        optimizer = torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=weight_decay, nesterov=True,
                                    foreach=True)
    per_epoch = len(train_loader)
    steps = max(1, epochs * per_epoch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: 0.5 * (1 + torch.cos(torch.tensor(min(i, steps) / steps * torch.pi)).item()))
    history.meta["steps_per_epoch"] = per_epoch
    step = int(history.meta.get("steps", 0))
    if core is not None and not history.snapshots:
        history.snapshot(core, 0, step)
    start_epoch = len(history.epochs)
    bar = tqdm(total=steps, desc=desc, disable=not progress, leave=False, unit="step")
    postfix: dict = {}
    for epoch in range(start_epoch + 1, start_epoch + epochs + 1):
        model.train()
        t0, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0
        for i, (x, y) in enumerate(train_loader):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            out = model(x)
            loss = F.cross_entropy(out, y)
            if core is not None:
                loss = loss + core.regularizer()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            sched.step()
            step += 1
            history.meta["steps"] = step
            loss_sum += loss.item() * y.numel()
            correct += (out.argmax(1) == y).sum().item()
            seen += y.numel()
            if core is not None and snapshot_every is not None and step % snapshot_every == 0:
                at = epoch - 1 + (i + 1) / max(per_epoch, 1)
                history.snapshot(core, epoch if i + 1 == per_epoch else round(at, 6), step)
            bar.update(1)
            postfix.update(epoch=epoch, loss=f"{loss_sum / seen:.3f}")
            bar.set_postfix(postfix)
        record = {"epoch": epoch, "loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1),
                  "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - t0}
        if val_loader is not None:
            val = evaluate(model, val_loader, device)
            record["val_acc"], record["val_loss"] = val["acc"], val["loss"]
            postfix["val_acc"] = f"{val['acc']:.3f}"
            bar.set_postfix(postfix)
        history.epochs.append(record)
        if core is not None and (snapshot_every is None or (epoch == start_epoch + epochs
                                                            and history.snapshots[-1]["step"] != step)):
            history.snapshot(core, epoch, step)
        if on_epoch is not None:
            try:
                on_epoch(epoch, dict(record))
            except BaseException:
                bar.close()
                raise
    bar.close()
    return history
