"""A small training loop: progress bar, validation accuracy, and a history of the wiring.

``fit`` works with any ``nn.Module`` that returns logits; when the model carries a wired core
(``WiredNet`` or ``WiredClassifier``) it adds the wiring's regulariser to the loss and snapshots
every edge's learned strength and ``active`` flag after each epoch, so the evolution of the
wiring can be plotted or replayed later.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import networkx as nx
import torch
import torch.nn.functional as F
from torch import nn

from ..compiler import WiredNet
from ..errors import FormatError, ParameterError
from ..io._atomic import atomic_write
from ..io.json_format import parse_json

__all__ = ["History", "HISTORY_FORMAT", "fit", "evaluate", "recalibrate_bn", "wired_core", "default_device",
           "SMALL_MODEL_PARAMS"]

#: ``fit(threads="auto")`` trains models up to this many parameters on one CPU thread.
SMALL_MODEL_PARAMS = 2_000_000
_TORCH_THREADS_AT_IMPORT = torch.get_num_threads()
_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _fit_threads(threads: int | str | None, model: nn.Module, device: torch.device) -> int | None:
    """The torch thread count ``fit`` should use (None: leave torch's setting alone).

    Small nets gain little from a second CPU thread and lose a lot when another process holds a
    core: OpenMP threads then wait on each other (``graphwire demo --fast`` ran 6x slower with 2
    threads than with 1 on a busy 2-core machine, see the README). So ``"auto"`` picks one thread for
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


HISTORY_FORMAT = "graphwire.history"
HISTORY_VERSION = 1
_SNAPSHOT_META = ("epoch", "step")


def _label_ok(x: Any) -> bool:
    return isinstance(x, str) or (isinstance(x, int) and not isinstance(x, bool))


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _per_edge(attrs: dict[str, list], n_edges: int) -> dict[str, list]:
    """The snapshot-able part of ``edge_attributes()``: ``active`` and every all-numeric key."""
    out: dict[str, list] = {}
    for key, values in attrs.items():
        if key in _SNAPSHOT_META or not isinstance(values, (list, tuple)):
            continue
        if len(values) != n_edges:
            raise ParameterError(f"per-edge {key!r} has {len(values)} values for {n_edges} edges")
        if key == "active":
            out[key] = [bool(v) for v in values]
        elif values and all(_is_real(v) for v in values):
            out[key] = [float(v) for v in values]
    return out


@dataclass
class History:
    """What :func:`fit` recorded: per-epoch metrics and snapshots of every edge of the wiring.

    * ``edges``: the wired core's edges ``(u, v)`` in its plan's order; every per-edge list of a
      snapshot is aligned with it.
    * ``epochs``: one dict per epoch (``epoch``, ``loss``, ``train_acc``, ``seconds``, ``lr`` and,
      with a validation loader, ``val_acc`` and ``val_loss``).
    * ``snapshots``: ``{"epoch", "step", "weight": [...], "active": [...], ...}``; besides
      ``weight`` and ``active`` every float attribute the wiring writes back (``p_open``,
      ``ddw_mean``...) is kept. ``epoch`` is fractional for snapshots taken inside an epoch
      (``snapshot_every=``); the first snapshot (``step`` 0) is the untrained wiring.
    * ``meta``: ``wiring`` (its name), ``steps`` (optimizer steps so far), ``steps_per_epoch``.

    :meth:`save` writes JSON atomically; :meth:`load` validates every field and never executes
    anything.

    >>> h = History(edges=[(0, 1), (1, 2)])
    >>> h.add({"weight": [0.5, 0.5], "active": [True, True]}, epoch=0, step=0)
    >>> h.add({"weight": [0.9, 0.1], "active": [True, False]}, epoch=1, step=10)
    >>> h.series("weight")[1]
    [[0.5, 0.5], [0.9, 0.1]]
    >>> History.from_dict(h.to_dict()) == h
    True
    """

    edges: list[tuple] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    snapshots: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    # ---- recording
    def add(self, attrs: dict[str, list], *, epoch: float, step: int) -> None:
        """Append a snapshot made of per-edge lists aligned with :attr:`edges`.

        >>> h = History(edges=[(0, 1)])
        >>> h.add({"weight": [1], "active": [True], "note": ["x"]}, epoch=0, step=0)
        >>> h.snapshots
        [{'epoch': 0, 'step': 0, 'weight': [1.0], 'active': [True]}]
        """
        snap: dict[str, Any] = {"epoch": epoch, "step": int(step)}
        snap.update(_per_edge(attrs, len(self.edges)))
        self.snapshots.append(snap)

    def snapshot(self, net: WiredNet, epoch: float, step: int | None = None) -> None:
        """Record every edge of ``net``'s wiring now (``wiring.edge_attributes()``).

        >>> import graphwire as gw
        >>> net = gw.compile(gw.generators.chain(1), in_channels=2, channels=2, wiring="sigmoid")
        >>> h = History()
        >>> h.snapshot(net, epoch=0, step=0)
        >>> h.edges, h.snapshots[0]["weight"]
        ([(0, 1), (1, 2)], [0.5, 0.5])
        """
        edges = [tuple(e) for e in net.plan.edges]
        if not self.edges and not self.snapshots:
            self.edges = edges
        elif edges != self.edges:
            raise ParameterError(
                f"this History records a wiring with {len(self.edges)} edges, but the network has "
                f"{len(edges)} different ones (a recompiled or pruned net?); start a new History for it")
        self.meta.setdefault("wiring", net.wiring.name)
        self.add(net.wiring.edge_attributes(), epoch=epoch,
                 step=self.meta.get("steps", 0) if step is None else step)

    # ---- reading
    def last(self, key: str):
        """``key`` of the last epoch's record (None before the first epoch).

        >>> History(epochs=[{"epoch": 1, "val_acc": 0.9}]).last("val_acc")
        0.9
        """
        return self.epochs[-1].get(key) if self.epochs else None

    def attributes(self) -> list[str]:
        """Per-edge keys recorded in the snapshots (``weight``, ``active``, ``p_open``...).

        >>> h = History(edges=[(0, 1)])
        >>> h.add({"weight": [0.5], "active": [True], "p_open": [0.9]}, epoch=0, step=0)
        >>> h.attributes()
        ['weight', 'active', 'p_open']
        """
        keys: dict[str, None] = {}
        for snap in self.snapshots:
            keys.update((k, None) for k in snap if k not in _SNAPSHOT_META)
        return list(keys)

    def series(self, attr: str = "weight") -> tuple[list[float], list[list]]:
        """``(x, values)``: the snapshots' epochs and one list per snapshot (``[S][E]``).

        Snapshots without ``attr`` give a row of NaN (``None`` for ``active``).

        >>> h = History(edges=[(0, 1)])
        >>> h.add({"weight": [0.5]}, epoch=0, step=0)
        >>> h.series("weight")
        ([0], [[0.5]])
        """
        if attr not in self.attributes():
            raise ParameterError(
                f"the history has no per-edge {attr!r}; it recorded {self.attributes() or 'no snapshots'}")
        missing = None if attr == "active" else math.nan
        x = [s["epoch"] for s in self.snapshots]
        rows = [list(s[attr]) if attr in s else [missing] * len(self.edges) for s in self.snapshots]
        return x, rows

    def graph_at(self, G: nx.DiGraph, index: int = -1) -> nx.DiGraph:
        """A copy of ``G`` with snapshot ``index``'s per-edge values on its edges.

        Edges of ``G`` that the history does not know keep their attributes.

        >>> import graphwire as gw
        >>> h = History(edges=[(0, 1), (1, 2)])
        >>> h.add({"weight": [0.2, 0.8], "active": [False, True]}, epoch=0, step=0)
        >>> h.graph_at(gw.generators.chain(1)).edges[0, 1]
        {'weight': 0.2, 'active': False}
        """
        if not self.snapshots:
            raise ParameterError("the history has no snapshots")
        snap = self.snapshots[index]
        H = G.copy()
        for i, (u, v) in enumerate(self.edges):
            if H.has_edge(u, v):
                for key in self.attributes():
                    if key in snap and not (isinstance(snap[key][i], float) and math.isnan(snap[key][i])):
                        H.edges[u, v][key] = snap[key][i]
        return H

    # ---- JSON
    def to_dict(self) -> dict:
        """The JSON document :meth:`save` writes (NaN/infinity become ``null``).

        >>> History(edges=[(0, 1)]).to_dict()["format"]
        'graphwire.history'
        """
        def clean(v):
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [clean(x) for x in v]
            return v

        return {"format": HISTORY_FORMAT, "version": HISTORY_VERSION,
                "edges": [list(e) for e in self.edges], "epochs": clean(self.epochs),
                "snapshots": clean(self.snapshots), "meta": clean(self.meta)}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the history as JSON, atomically; return the path.

        >>> import tempfile, os
        >>> h = History(edges=[(0, 1)])
        >>> h.add({"weight": [0.25], "active": [True]}, epoch=0, step=0)
        >>> p = h.save(os.path.join(tempfile.mkdtemp(), "history.json"))
        >>> History.load(p).snapshots[0]["weight"]
        [0.25]
        """
        text = json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return atomic_write(path, text + "\n")

    @classmethod
    def from_dict(cls, data: Any, where: str = "history") -> "History":
        """Build a History from parsed JSON, checking every field (FormatError names the field).

        >>> History.from_dict({"format": "graphwire.history", "version": 1, "edges": [[0, 1]],
        ...                    "epochs": [], "snapshots": []}).edges
        [(0, 1)]
        """
        if not isinstance(data, dict):
            raise FormatError(f"{where}: the top level must be a JSON object, got {type(data).__name__}")
        fmt = data.get("format")
        if fmt != HISTORY_FORMAT:
            raise FormatError(f"{where}: 'format' must be {HISTORY_FORMAT!r}, got {fmt!r} "
                              "(is this a graph file? graphs load with graphwire.io.from_json)")
        version = data.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= HISTORY_VERSION:
            raise FormatError(f"{where}: unsupported history 'version' {version!r} "
                              f"(this graphwire reads versions 1..{HISTORY_VERSION})")
        for key, kind in (("edges", list), ("epochs", list), ("snapshots", list)):
            if not isinstance(data.get(key), kind):
                raise FormatError(f"{where}: '{key}' must be a list, got {type(data.get(key)).__name__}")
        meta = data.get("meta", {})
        if not isinstance(meta, dict):
            raise FormatError(f"{where}: 'meta' must be an object, got {type(meta).__name__}")
        edges: list[tuple] = []
        seen: set = set()
        for i, e in enumerate(data["edges"]):
            if not (isinstance(e, list) and len(e) == 2 and all(_label_ok(x) for x in e)):
                raise FormatError(f"{where}: edges[{i}] must be a [source, target] pair of integer or "
                                  f"string node labels, got {e!r:.60}")
            if tuple(e) in seen:
                raise FormatError(f"{where}: edges[{i}] {tuple(e)!r} is listed twice")
            seen.add(tuple(e))
            edges.append(tuple(e))
        epochs = []
        for i, rec in enumerate(data["epochs"]):
            if not isinstance(rec, dict):
                raise FormatError(f"{where}: epochs[{i}] must be an object, got {type(rec).__name__}")
            for k, v in rec.items():
                if v is not None and not _is_real(v):
                    raise FormatError(f"{where}: epochs[{i}].{k} must be a number, got {v!r:.60}")
            epochs.append({k: (math.nan if v is None else v) for k, v in rec.items()})
        snapshots = []
        for i, snap in enumerate(data["snapshots"]):
            at = f"{where}: snapshots[{i}]"
            if not isinstance(snap, dict):
                raise FormatError(f"{at} must be an object, got {type(snap).__name__}")
            if not _is_real(snap.get("epoch")):
                raise FormatError(f"{at}.epoch must be a number, got {snap.get('epoch')!r:.60}")
            step = snap.get("step", 0)
            if isinstance(step, bool) or not isinstance(step, int) or step < 0:
                raise FormatError(f"{at}.step must be a non-negative integer, got {step!r:.60}")
            out: dict[str, Any] = {"epoch": snap["epoch"], "step": step}
            for key, values in snap.items():
                if key in _SNAPSHOT_META:
                    continue
                if not isinstance(values, list) or len(values) != len(edges):
                    raise FormatError(f"{at}.{key} must be a list of {len(edges)} values (one per edge), "
                                      f"got {type(values).__name__}"
                                      + (f" of length {len(values)}" if isinstance(values, list) else ""))
                if key == "active":
                    bad = next((v for v in values if not isinstance(v, bool)), None)
                    if bad is not None:
                        raise FormatError(f"{at}.active must hold true/false, got {bad!r:.60}")
                    out[key] = list(values)
                else:
                    bad = next((v for v in values if v is not None and not _is_real(v)), None)
                    if bad is not None:
                        raise FormatError(f"{at}.{key} must hold numbers (or null), got {bad!r:.60}")
                    out[key] = [math.nan if v is None else float(v) for v in values]
            snapshots.append(out)
        return cls(edges=edges, epochs=epochs, snapshots=snapshots, meta=dict(meta))

    @classmethod
    def load(cls, source: str | os.PathLike | bytes | dict) -> "History":
        """Read a history written by :meth:`save` (a path, JSON text/bytes or parsed data).

        Malformed files raise :class:`~graphwire.errors.FormatError` naming the field; nothing
        is ever executed (plain ``json.loads``).

        >>> History.load('{"format": "graphwire.history", "version": 1, "edges": [[0, 1]], '
        ...              '"epochs": [], "snapshots": [{"epoch": 0, "weight": [0.5]}]}').snapshots
        [{'epoch': 0, 'step': 0, 'weight': [0.5]}]
        >>> History.load('{"format": "graphwire.history", "version": 1, "edges": [[0, 1]], '
        ...              '"epochs": [], "snapshots": [{"epoch": 0, "weight": []}]}')
        Traceback (most recent call last):
        graphwire.errors.FormatError: history text: snapshots[0].weight must be a list of 1 values (one per edge), got list of length 0
        """
        if isinstance(source, dict):
            return cls.from_dict(source, "history data")
        if isinstance(source, (bytes, bytearray)):
            text, where = bytes(source).decode("utf-8", "replace"), "history text"
        elif isinstance(source, str) and source.lstrip().startswith("{"):
            text, where = source, "history text"
        elif isinstance(source, (str, os.PathLike)):
            path = Path(os.fspath(source))
            try:
                text, where = path.read_text(encoding="utf-8-sig"), str(path)
            except FileNotFoundError:
                raise FormatError(f"{path}: no such file") from None
            except (OSError, UnicodeDecodeError) as e:
                raise FormatError(f"{path}: cannot read it as UTF-8 text ({e})") from None
        else:
            raise FormatError(f"History.load needs a path, JSON text or a dict, got {type(source).__name__}")
        return cls.from_dict(parse_json(text, where), where)


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
        desc: str = "train", snapshot_every: int | None = None, threads: int | str | None = "auto") -> History:
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

    >>> from graphwire import data, generators, models
    >>> s = data.digits(flat=True)
    >>> m = models.wired_mlp(generators.chain(2), 64, 10, width=32)
    >>> h = fit(m, data.loader(s.x_train, s.y_train), 1, progress=False, snapshot_every=5)
    >>> len(h.epochs), h.snapshots[0]["step"], h.snapshots[1]["step"]
    (1, 0, 5)
    """

    if snapshot_every is not None and (isinstance(snapshot_every, bool) or not isinstance(snapshot_every, int)
                                       or snapshot_every < 1):
        raise ParameterError(f"snapshot_every must be a positive number of steps or None, got {snapshot_every!r}")
    device = torch.device(device) if device is not None else default_device()
    model.to(device)
    n_threads = _fit_threads(threads, model, device)
    before = torch.get_num_threads()
    if n_threads is not None and n_threads != before:
        torch.set_num_threads(n_threads)
    try:
        return _fit(model, train_loader, epochs, val_loader, lr, weight_decay, wiring_lr, optimizer, device,
                    progress, history, desc, snapshot_every)
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _fit(model, train_loader, epochs, val_loader, lr, weight_decay, wiring_lr, optimizer, device, progress,
         history, desc, snapshot_every) -> History:
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
    bar.close()
    return history
