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
from ..errors import FormatError, ParameterError
from ..io.history import History
from .groups import param_groups, wiring_parameters

__all__ = ["fit", "evaluate", "recalibrate_bn", "default_device", "load_checkpoint", "SMALL_MODEL_PARAMS", "RECIPES",
           "SCHEDULES"]

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


def _norm_layers(model: nn.Module) -> list[nn.Module]:
    """BatchNorms with running statistics: torch's and the stacked ones of a step's G nodes."""
    out = []
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.track_running_stats:
                out.append(m)
        elif isinstance(getattr(m, "running_mean", None), torch.Tensor) and \
                isinstance(getattr(m, "running_var", None), torch.Tensor) and hasattr(m, "momentum"):
            out.append(m)
    return out


@torch.no_grad()
def recalibrate_bn(model: nn.Module, loader: Iterable, *, batches: int | None = None,
                   device: torch.device | str | None = None) -> nn.Module:
    """Re-estimate every BatchNorm's running statistics on ``loader`` (no weights change): the
    plain average over the batches seen, for torch's BatchNorms and the stacked ones of a wired
    core alike.

    After pruning, a node sums fewer inputs, so the statistics its BatchNorm learned no longer
    match; recomputing them is the cheap first aid before (or instead of) fine-tuning.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    bns = _norm_layers(model)
    saved = [(m.__dict__.get("momentum", _UNSET), m.momentum) for m in bns]
    for m in bns:
        m.running_mean.zero_()
        m.running_var.fill_(1.0)
        if isinstance(getattr(m, "num_batches_tracked", None), torch.Tensor):
            m.num_batches_tracked.zero_()
    was = model.training
    model.train()
    try:
        for i, (x, _) in enumerate(loader):
            if batches is not None and i >= batches:
                break
            for m in bns:  # momentum 1 / (i + 1): the cumulative average of the batch statistics
                m.momentum = 1.0 / (i + 1)
            model(x.to(device))
    finally:
        for m, (own, value) in zip(bns, saved):
            if own is _UNSET:
                del m.momentum  # back to the class's default
            else:
                m.momentum = value
        model.train(was)
    return model


_UNSET = object()


#: ``fit(schedule=...)``: the learning-rate schedules.
SCHEDULES = ("cosine", "constant", "exponential")

#: Training recipes of the papers, as keyword arguments of :func:`fit` (plus the batch size and
#: epochs they used, for the loader and ``epochs``): ``fit(model, loader, r["epochs"],
#: **{k: v for k, v in r.items() if k not in ("epochs", "batch_size")})``.
RECIPES: dict[str, dict[str, Any]] = {
    # DARTS (Liu et al. 2019), evaluation on CIFAR-10: SGD 0.025 (cosine to 0), momentum 0.9,
    # weight decay 3e-4, 600 epochs, batch 96, gradient clipping 5, auxiliary weight 0.4,
    # drop-path 0.2 (raised linearly over the epochs); the augmentation adds cutout 16.
    "darts-cifar10": {"lr": 0.025, "momentum": 0.9, "nesterov": False, "weight_decay": 3e-4, "schedule": "cosine",
                      "grad_clip": 5.0, "aux_weight": 0.4, "drop_path": 0.2, "epochs": 600, "batch_size": 96},
    # DARTS, ImageNet mobile setting: SGD 0.1 decayed by 0.97 per epoch, momentum 0.9, weight decay
    # 3e-5, 250 epochs, batch 128, label smoothing 0.1, auxiliary weight 0.4, gradient clipping 5.
    "darts-imagenet": {"lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 3e-5,
                       "schedule": "exponential", "lr_gamma": 0.97, "label_smoothing": 0.1, "aux_weight": 0.4,
                       "grad_clip": 5.0, "epochs": 250, "batch_size": 128},
    # RandWire (Xie et al. 2019), ImageNet: SGD 0.1 with a half-period cosine, momentum 0.9, weight
    # decay 5e-5, label smoothing 0.1; 250 epochs in the small regime (100 in the regular one).
    "randwire-imagenet": {"lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 5e-5, "schedule": "cosine",
                          "label_smoothing": 0.1, "epochs": 250, "batch_size": 256},
    # Discovering Neural Wirings (Wortsman et al. 2019), MobileNet V1 graphs on ImageNet (the
    # reference's large-scale configs): SGD 0.1, cosine, momentum 0.9, weight decay 5e-5, 250 epochs, batch 512.
    "dnw-imagenet": {"lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 5e-5, "schedule": "cosine",
                     "epochs": 250, "batch_size": 512},
}

CHECKPOINT_FORMAT = "graphwire.checkpoint"
CHECKPOINT_VERSION = 1


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


def _number(name: str, value: Any, ok: Callable[[float], bool], expected: str, none_ok: bool = False) -> Any:
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
        raise ParameterError(f"{name} must be a finite number {expected}, got {value!r}")
    return float(value)


def _recipe_args(momentum, nesterov, schedule, lr_gamma, label_smoothing, drop_path, aux_weight, grad_clip) -> dict:
    if schedule not in SCHEDULES:
        raise ParameterError(f"schedule must be one of {', '.join(map(repr, SCHEDULES))}, got {schedule!r}")
    if not isinstance(nesterov, bool):
        raise ParameterError(f"nesterov must be True or False, got {nesterov!r}")
    return {"momentum": _number("momentum", momentum, lambda v: 0 <= v < 1, "in [0, 1)"),
            "nesterov": nesterov and momentum > 0, "schedule": schedule,
            "lr_gamma": _number("lr_gamma", lr_gamma, lambda v: 0 < v <= 1, "in (0, 1]"),
            "label_smoothing": _number("label_smoothing", label_smoothing, lambda v: 0 <= v < 1, "in [0, 1)"),
            "drop_path": _number("drop_path", drop_path, lambda v: 0 <= v < 1, "in [0, 1)"),
            "aux_weight": _number("aux_weight", aux_weight, lambda v: v >= 0, ">= 0"),
            "grad_clip": _number("grad_clip", grad_clip, lambda v: v > 0, "> 0 (or None)", none_ok=True)}


def _unwrap(model: nn.Module) -> nn.Module:
    inner = getattr(model, "module", None)  # DistributedDataParallel
    return inner if isinstance(inner, nn.Module) and inner is not model else model


def _drop_path_modules(model: nn.Module) -> list[nn.Module]:
    """The modules to set ``drop_path_prob`` on: one with a ``drop_path_prob`` property sets its own
    drop-path ops (they are not listed again), others carry the attribute themselves."""
    found: list[nn.Module] = []
    covered: set[int] = set()
    for m in model.modules():  # parents before their children
        if id(m) in covered:
            continue
        if isinstance(getattr(type(m), "drop_path_prob", None), property):
            found.append(m)
            covered.update(id(s) for s in m.modules())
        elif "drop_path_prob" in vars(m):
            found.append(m)
    return found


def fit(model: nn.Module, train_loader: Iterable, epochs: int, *, val_loader: Iterable | None = None,
        lr: float = 0.05, weight_decay: float = 5e-5, wiring_lr: float | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        device: torch.device | str | None = None, progress: bool = True, history: History | None = None,
        desc: str = "train", snapshot_every: int | None = None, threads: int | str | None = "auto",
        on_epoch: Callable[[int, dict], None] | None = None, momentum: float = 0.9, nesterov: bool = True,
        schedule: str = "cosine", lr_gamma: float = 0.97, label_smoothing: float = 0.0, drop_path: float = 0.0,
        aux_weight: float = 0.0, grad_clip: float | None = None, checkpoint: str | os.PathLike | None = None,
        resume: str | os.PathLike | bool | None = None) -> History:
    """Train with SGD and a learning-rate schedule (or ``optimizer``); return the :class:`History`.

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

    The papers' recipes (:data:`RECIPES` has them as keyword sets):

    * ``momentum`` (0.9) and ``nesterov`` (True) of the SGD optimiser;
    * ``schedule``: ``"cosine"`` (default: from ``lr`` to 0 over all steps), ``"constant"`` or
      ``"exponential"`` (``lr * lr_gamma ** epoch``, DARTS on ImageNet: 0.97);
    * ``label_smoothing`` (RandWire and DARTS on ImageNet: 0.1);
    * ``drop_path``: the final drop-path probability, raised linearly from 0 over the epochs
      (epoch ``e`` of ``E`` uses ``drop_path * e / E``, as DARTS does); the model must have
      drop-path nodes (``models.darts_network``), whose ``drop_path_prob`` it sets;
    * ``aux_weight``: the weight of the auxiliary head's loss (DARTS: 0.4); the model must expose
      ``aux_logits`` after a training forward (``models.darts_network(auxiliary=True)``);
    * ``grad_clip``: clip the gradients' global norm to this (DARTS: 5).

    ``checkpoint``: a file written (atomically) after every epoch with everything needed to go on
    exactly where the run stood: the model, optimizer and scheduler states, the history, the
    random states of torch, numpy and Python, and the state of the training loader's random
    generator (the data order). ``resume``: a checkpoint file to continue from (or True: the
    ``checkpoint`` file if it exists, else a fresh start); call ``fit`` with the same model,
    loaders and arguments as the interrupted run: it restores the state and runs the remaining
    epochs, and on the CPU the result equals an uninterrupted run's. Loading never executes code
    (``torch.load(weights_only=True)``).

    ``on_epoch(epoch, record)`` is called after every epoch (after its checkpoint) with that
    epoch's metrics (the record also appended to ``history.epochs``); raising in it stops
    training (the exception propagates, e.g. for a search's pruner).

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
    recipe = _recipe_args(momentum, nesterov, schedule, lr_gamma, label_smoothing, drop_path, aux_weight, grad_clip)
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise ParameterError(f"checkpoint must be a file path or None, got {checkpoint!r}")
    state = _resume_state(resume, checkpoint, history)
    device = resolve_device(device)
    model.to(device)
    n_threads = _fit_threads(threads, model, device)
    before = torch.get_num_threads()
    if n_threads is not None and n_threads != before:
        torch.set_num_threads(n_threads)
    try:
        return _fit(model, train_loader, epochs, val_loader, lr, weight_decay, wiring_lr, optimizer, device,
                    progress, history, desc, snapshot_every, on_epoch, recipe, checkpoint, state)
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _resume_state(resume: Any, checkpoint: Any, history: History | None) -> dict | None:
    """The checkpoint ``resume`` names, loaded (None for a fresh start)."""
    if resume is None or resume is False:
        return None
    if resume is True:
        if checkpoint is None:
            raise ParameterError("resume=True continues from the checkpoint file: pass checkpoint=<path> too")
        if not os.path.exists(checkpoint):
            return None
        path = checkpoint
    elif isinstance(resume, (str, os.PathLike)):
        path = resume
        if not os.path.exists(path):
            raise ParameterError(f"resume: no checkpoint at {os.fspath(path)!r} (pass resume=True to start "
                                 "fresh when the file is missing)")
    else:
        raise ParameterError(f"resume must be a checkpoint path, True or None, got {resume!r}")
    if history is not None:
        raise ParameterError("resume restores the history from the checkpoint: pass history=None")
    return load_checkpoint(path)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint ``fit(checkpoint=...)`` wrote (``torch.load(weights_only=True)``: no code runs)."""
    try:
        state = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise FormatError(f"{os.fspath(path)!r} is not a readable checkpoint: {type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise FormatError(f"{os.fspath(path)!r} is not a graphwire checkpoint (written by fit(checkpoint=...))")
    if state.get("version") != CHECKPOINT_VERSION:
        raise FormatError(f"{os.fspath(path)!r}: unsupported checkpoint version {state.get('version')!r}")
    return state


def _rng_state() -> dict:
    import random

    import numpy as np

    np_state = np.random.get_state()
    py = random.getstate()
    out = {"torch": torch.get_rng_state(),
           "numpy": [np_state[0], torch.from_numpy(np_state[1].astype("int64")), int(np_state[2]), int(np_state[3]),
                     float(np_state[4])],
           "python": [py[0], list(py[1]), py[2]]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def _set_rng_state(state: dict) -> None:
    import random

    import numpy as np

    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype("uint32"), n[2], n[3], n[4]))
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_checkpoint(path, model, optimizer, sched, history, train_loader, *, epochs, run_start, done, step) -> None:
    import io
    import json

    from ..io import atomic_write

    gen = getattr(train_loader, "generator", None)
    state = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "epochs": epochs, "run_start": run_start,
             "done": done, "step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": sched.state_dict(), "rng": _rng_state(),
             "loader_generator": gen.get_state() if isinstance(gen, torch.Generator) else None,
             "history": json.dumps(history.to_dict())}
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, buf.getvalue())


def _schedule(recipe: dict, steps: int, per_epoch: int) -> Callable[[int], float]:
    kind, gamma = recipe["schedule"], recipe["lr_gamma"]
    if kind == "constant":
        return lambda i: 1.0
    if kind == "exponential":
        return lambda i: gamma ** (min(i, steps) // max(per_epoch, 1))
    return lambda i: 0.5 * (1 + math.cos(min(i, steps) / steps * math.pi))


def _fit(model, train_loader, epochs, val_loader, lr, weight_decay, wiring_lr, optimizer, device, progress,
         history, desc, snapshot_every, on_epoch, recipe, checkpoint, state) -> History:
    import json

    from tqdm.auto import tqdm

    core = wired_core(model)
    base = _unwrap(model)
    if state is not None:
        if state["epochs"] != epochs:  # refused before anything of the model is overwritten
            raise ParameterError(f"the checkpoint comes from a run of epochs={state['epochs']}; resume it with the "
                                 f"same epochs (got {epochs}): the schedule depends on it")
        try:
            model.load_state_dict(state["model"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise ParameterError(f"resume: the checkpoint does not fit this model: {str(e).splitlines()[0]}") from None
        history = History.from_dict(json.loads(state["history"]), "checkpoint history")
    history = history if history is not None else History()
    if core is not None and history.edges and [tuple(e) for e in core.plan.edges] != history.edges:
        raise ParameterError(
            f"the history records a wiring with {len(history.edges)} edges, but the network has "
            f"{len(core.plan.edges)} different ones (a recompiled or pruned net?); start a new History for it")
    dp_modules = _drop_path_modules(base) if recipe["drop_path"] > 0 else []
    if recipe["drop_path"] > 0 and not dp_modules:
        raise ParameterError(f"drop_path={recipe['drop_path']} needs a model with drop-path nodes (a "
                             f"'drop_path_prob' attribute, e.g. models.darts_network(drop_path=True)); "
                             f"{type(base).__name__} has none")
    if recipe["aux_weight"] > 0 and getattr(base, "aux_head", None) is None:
        raise ParameterError(f"aux_weight={recipe['aux_weight']} needs a model with an auxiliary head "
                             f"(e.g. models.darts_network(auxiliary=True)); {type(base).__name__} has none")
    if optimizer is None:
        groups: list = [{"params": list(model.parameters())}]
        if wiring_lr is not None and wiring_parameters(model):
            groups = param_groups(model, wiring_lr=wiring_lr)
        # foreach: one fused update over all tensors (not the CPU default; wired nets have many small ones)
        optimizer = torch.optim.SGD(groups, lr=lr, momentum=recipe["momentum"], weight_decay=weight_decay,
                                    nesterov=recipe["nesterov"], foreach=True)
    per_epoch = len(train_loader)
    steps = max(1, epochs * per_epoch)
    sched = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(recipe, steps, per_epoch))
    if state is not None:
        try:
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise ParameterError(f"resume: the checkpoint does not fit this optimizer: "
                                 f"{str(e).splitlines()[0]}") from None
        sched.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        gen = getattr(train_loader, "generator", None)
        if state["loader_generator"] is not None and isinstance(gen, torch.Generator):
            gen.set_state(state["loader_generator"])
        run_start, done = state["run_start"], state["done"]
    else:
        run_start, done = len(history.epochs), 0
    history.meta["steps_per_epoch"] = per_epoch
    step = int(history.meta.get("steps", 0))
    if core is not None and not history.snapshots:
        history.snapshot(core, 0, step)
    bar = tqdm(total=steps, initial=done * per_epoch, desc=desc, disable=not progress, leave=False, unit="step")
    postfix: dict = {}
    ls, aux_w, clip = recipe["label_smoothing"], recipe["aux_weight"], recipe["grad_clip"]
    for index in range(done, epochs):
        epoch = run_start + index + 1
        if dp_modules:
            for m in dp_modules:
                m.drop_path_prob = recipe["drop_path"] * index / epochs
        model.train()
        t0, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0
        for i, (x, y) in enumerate(train_loader):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            out = model(x)
            loss = F.cross_entropy(out, y, label_smoothing=ls)
            if aux_w > 0:
                loss = loss + aux_w * F.cross_entropy(base.aux_logits, y, label_smoothing=ls)
            if core is not None:
                loss = loss + core.regularizer()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
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
        if core is not None and (snapshot_every is None or (index == epochs - 1
                                                            and history.snapshots[-1]["step"] != step)):
            history.snapshot(core, epoch, step)
        if checkpoint is not None:
            _save_checkpoint(checkpoint, model, optimizer, sched, history, train_loader, epochs=epochs,
                             run_start=run_start, done=index + 1, step=step)
        if on_epoch is not None:
            try:
                on_epoch(epoch, dict(record))
            except BaseException:
                bar.close()
                raise
    bar.close()
    return history
