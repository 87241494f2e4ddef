"""Objectives: what a worker does with a graph. An objective is called as
``objective(G, report, *, space, seed)`` and returns a higher-is-better value; it calls
``report(value, epoch)`` after each epoch (which raises :class:`Pruned` when the pruner says
so). Built-ins are rebuilt from a JSON spec in each worker process (nothing is pickled):

* ``train``: compile ``space.network(G)`` into a small classifier, ``fit`` E epochs on
  MNIST-1D (or digits), report the validation accuracy each epoch (torch imported here only);
* ``tabular``: look the graph up in the tabular benchmark (per-epoch values, so pruning works);
* ``module:function``: your own function with the signature above.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..errors import GraphwireError, ParameterError


class Pruned(Exception):
    """Raised by ``report`` when the pruner stops the trial."""


class Diverged(GraphwireError):
    """Training produced a non-finite loss or value."""


def _fingerprint(arrays) -> str:
    import hashlib

    import numpy as np

    h = hashlib.sha1()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _as_split(xtr, ytr, xva, yva, where: str):
    """Four arrays as a graphwire Split: x ``[N, C, L]`` or ``[N, C, H, W]`` (``[N, L]`` gets a
    channel), y integer class labels 0..K-1."""
    import numpy as np
    import torch

    from ..data import Split

    out = []
    for name, x, y in (("train", xtr, ytr), ("validation", xva, yva)):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim == 2:
            x = x[:, None]
        if x.ndim not in (3, 4) or not np.issubdtype(x.dtype, np.number):
            raise ParameterError(f"train objective {where}: {name} inputs must be numbers shaped [N, L], [N, C, L] "
                                 f"or [N, C, H, W], got {x.dtype} {tuple(x.shape)}")
        if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
            raise ParameterError(f"train objective {where}: {name} labels must be {len(x)} non-negative integers, "
                                 f"got {y.dtype} {tuple(y.shape)}")
        if len(x) == 0:
            raise ParameterError(f"train objective {where}: the {name} set is empty")
        out += [torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)]
    if out[0].shape[1:] != out[2].shape[1:]:
        raise ParameterError(f"train objective {where}: train inputs {tuple(out[0].shape[1:])} and validation "
                             f"inputs {tuple(out[2].shape[1:])} differ in shape")
    return Split(*out)


def _read_npz(path: str):
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            xv = "x_val" if "x_val" in keys else "x_test"
            yv = "y_val" if "y_val" in keys else "y_test"
            missing = [k for k in ("x_train", "y_train", xv, yv) if k not in keys]
            if missing:
                raise ParameterError(f"train objective: {path} misses the array(s) {missing} "
                                     "(expected x_train, y_train, x_val, y_val)")
            return _as_split(z["x_train"], z["y_train"], z[xv], z[yv], path)
    except (OSError, ValueError) as e:
        raise ParameterError(f"train objective: cannot read {path} as a .npz of arrays ({e})") from None


def _read_image_folder(path: str, size: int):
    """``path/train/<class>/<image>`` and ``path/val/<class>/<image>`` (:class:`graphwire.data.ImageFolder`
    each, class folders in sorted order), as arrays."""
    from pathlib import Path

    import numpy as np

    from ..data import ImageFolder

    root = Path(path)
    parts = {}
    classes = None
    for split in ("train", "val"):
        d = root / split
        if not d.is_dir():
            raise ParameterError(f"train objective: image folder {path} needs {split}/<class>/<image> files "
                                 f"({d} is missing)")
        try:
            ds = ImageFolder(d, image_size=size)
        except ParameterError as e:
            raise ParameterError(f"train objective: {e}") from None
        classes = classes or ds.classes
        if ds.classes != classes:
            raise ParameterError(f"train objective: {d} has classes {ds.classes}, train/ has {classes}")
        xs = []
        for i, (file, _) in enumerate(ds.samples):
            try:
                xs.append(ds[i][0].numpy())
            except ImportError as e:
                raise ParameterError(f"train objective: {e}") from None
            except OSError as e:
                raise ParameterError(f"train objective: cannot read image {file} ({e})") from None
        parts[split] = (np.stack(xs).astype(np.float32), np.asarray(ds.targets, dtype=np.int64))
    return _as_split(*parts["train"], *parts["val"], path)


class TrainObjective:
    """Train the compiled graph for ``epochs`` epochs; the value is the last validation accuracy.

    ``dataset``: ``mnist1d`` or ``digits`` (made locally), a ``.npz`` file with arrays
    ``x_train, y_train, x_val, y_val`` (x ``[N, L]``, ``[N, C, L]`` or ``[N, C, H, W]``, y integer
    labels; loaded with ``allow_pickle=False``), or a folder ``train/<class>/*.png`` +
    ``val/<class>/*.png`` (images resized to ``image_size``). ``data=(x_train, y_train, x_val,
    y_val)`` takes arrays in memory (one process only: a worker process cannot rebuild them; save
    them with ``numpy.savez`` and pass the file for several workers).
    """

    kind = "train"

    def __init__(self, *, dataset: str = "mnist1d", epochs: int = 1, channels: int = 16, lr: float = 0.05,
                 batch: int = 128, wiring: str = "static", device: str | None = None, threads: int | None = 1,
                 image_size: int = 32, data: Any = None):
        import os

        from .checks import check_float, check_int

        self._arrays = None
        if data is not None:
            if not isinstance(data, (tuple, list)) or len(data) != 4:
                raise ParameterError("train objective: data must be (x_train, y_train, x_val, y_val)")
            self._arrays = _as_split(*data, "data")
            dataset = f"arrays:{_fingerprint(data)}"
        if not isinstance(dataset, str):
            raise ParameterError(f"train objective: dataset must be a name, a .npz file or an image folder, "
                                 f"got {dataset!r}")
        if dataset.startswith("arrays:") and self._arrays is None:
            raise ParameterError("train objective: this run trains on arrays given in memory, which a worker "
                                 "process cannot rebuild; save them with numpy.savez and pass dataset='FILE.npz'")
        if dataset not in ("mnist1d", "digits") and not dataset.startswith("arrays:") and not os.path.exists(dataset):
            raise ParameterError(f"train objective: dataset must be 'mnist1d', 'digits', a .npz file or an image "
                                 f"folder, got {dataset!r} (no such file or folder)")
        kw = {"dataset": dataset, "epochs": check_int("train objective: epochs", epochs, lo=1, hi=100_000),
              "channels": check_int("train objective: channels", channels, lo=1, hi=4096),
              "lr": check_float("train objective: lr", lr, lo=0.0, lo_open=True),
              "batch": check_int("train objective: batch", batch, lo=1, hi=10 ** 6),
              "wiring": wiring, "device": device,
              "threads": None if threads is None else check_int("train objective: threads", threads, lo=1, hi=1024),
              "image_size": check_int("train objective: image_size", image_size, lo=4, hi=4096)}
        if dataset not in ("mnist1d", "digits") and not dataset.startswith("arrays:"):
            kw["dataset"] = os.path.abspath(dataset)
        self.kw = kw
        self._data = None

    @property
    def epochs(self) -> int:
        return self.kw["epochs"]

    def spec(self) -> dict:
        return {"kind": "train", "kwargs": dict(self.kw)}

    def split(self):
        from .. import data

        name = self.kw["dataset"]
        if self._arrays is not None:
            return self._arrays
        if name == "mnist1d":
            return data.mnist1d()
        if name == "digits":
            s = data.digits()
            return type(s)(s.x_train[:, None] if s.x_train.dim() == 3 else s.x_train, s.y_train,
                           s.x_test[:, None] if s.x_test.dim() == 3 else s.x_test, s.y_test)
        if name.endswith(".npz"):
            return _read_npz(name)
        return _read_image_folder(name, self.kw["image_size"])

    def data(self):
        if self._data is None:
            from .. import data

            s = self.split()
            train = data.loader(s.x_train, s.y_train, self.kw["batch"])
            val = data.loader(s.x_test, s.y_test, 500, shuffle=False)
            classes = int(max(s.y_train.max(), s.y_test.max())) + 1
            self._data = (train, val, s.x_train.shape[1], classes, s.x_train.dim() - 2)
        return self._data

    def build(self, G, *, space):
        from .. import models
        from . import ops

        net_graph = space.network(G)
        ops.ensure_ops(net_graph)
        _, _, cin, classes, dims = self.data()
        make = models.wired_conv1d if dims == 1 else models.wired_conv2d
        return make(net_graph, in_channels=cin, num_classes=classes, channels=self.kw["channels"], wiring=self.kw["wiring"])

    def train(self, G, report: Callable[[float, int], None], *, space, seed: int = 0, epochs: int | None = None):
        """Build and fit the network of ``G``; returns (model, last validation accuracy)."""
        import torch

        from ..train import fit

        if self.kw["threads"]:
            torch.set_num_threads(int(self.kw["threads"]))
        train, val, *_ = self.data()
        torch.manual_seed(seed)
        model = self.build(G, space=space)
        last = {}

        def on_epoch(epoch: int, rec: dict) -> None:
            if not math.isfinite(rec["loss"]):
                raise Diverged(f"training diverged: loss is {rec['loss']} at epoch {epoch}")
            last.update(rec)
            report(float(rec["val_acc"]), epoch)

        fit(model, train, epochs or self.kw["epochs"], val_loader=val, lr=self.kw["lr"], progress=False,
            device=self.kw["device"], on_epoch=on_epoch)
        self.last_params = sum(p.numel() for p in model.parameters())
        return model, float(last["val_acc"])

    def __call__(self, G, report: Callable[[float, int], None], *, space, seed: int = 0) -> float:
        return self.train(G, report, space=space, seed=seed)[1]


class TabularObjective:
    """Query the tabular benchmark instead of training (one seed drawn per trial, as a real
    evaluation would be noisy); reports the recorded per-epoch accuracies."""

    kind = "tabular"

    def __init__(self, *, path: str | None = None, epochs: int | None = None):
        from .tabular import TabularBenchmark

        self.table = TabularBenchmark(path)
        self.kw = {"path": path, "epochs": epochs}
        e = self.table.epochs if epochs is None else epochs
        if not 1 <= e <= self.table.epochs:
            raise ParameterError(f"tabular objective: epochs must be in 1..{self.table.epochs}, got {epochs!r}")
        self._epochs = e

    @property
    def epochs(self) -> int:
        return self._epochs

    def spec(self) -> dict:
        return {"kind": "tabular", "kwargs": dict(self.kw)}

    def __call__(self, G, report, *, space, seed: int = 0) -> float:
        s = seed % len(self.table.record(G)["val_acc"])
        v = 0.0
        for e in range(1, self._epochs + 1):
            v = self.table.query(G, seed=s, epoch=e)
            report(v, e)
        self.last_params = self.table.params(G)
        return v


class FunctionObjective:
    """A user function ``f(G, report, *, space, seed) -> float`` named ``module:function``."""

    kind = "function"

    def __init__(self, *, target: str, epochs: int = 1):
        from ._graphio import import_target

        obj = import_target(target, "objective")
        if not callable(obj):
            raise ParameterError(f"objective {target!r} is not callable")
        self.fn, self.kw = obj, {"target": target, "epochs": epochs}

    @property
    def epochs(self) -> int:
        return self.kw["epochs"]

    def spec(self) -> dict:
        return {"kind": "function", "kwargs": dict(self.kw)}

    def __call__(self, G, report, *, space, seed: int = 0) -> float:
        return self.fn(G, report, space=space, seed=seed)


_KINDS = {"train": TrainObjective, "tabular": TabularObjective, "function": FunctionObjective}


def objective_from_spec(spec: Any, **overrides: Any):
    """An objective from its spec, a kind name, ``module:function``, or an objective instance."""
    if hasattr(spec, "spec") and callable(spec):
        return spec
    if isinstance(spec, str) and spec.lstrip().startswith("{"):
        import json

        try:
            spec = json.loads(spec)
        except ValueError as e:
            raise ParameterError(f"objective: not valid JSON ({e})") from None
    if isinstance(spec, str):
        spec = {"kind": "function", "kwargs": {"target": spec}} if ":" in spec else {"kind": spec, "kwargs": {}}
    if not isinstance(spec, dict) or spec.get("kind") not in _KINDS:
        raise ParameterError(f"objective must be one of {sorted(_KINDS)}, 'module:function' or an objective, "
                             f"got {spec!r}")
    kwargs = dict(spec.get("kwargs") or {})
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return _KINDS[spec["kind"]](**kwargs)
    except TypeError as e:
        raise ParameterError(f"objective {spec['kind']!r}: bad options {kwargs}: {e}") from None
