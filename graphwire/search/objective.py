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


class TrainObjective:
    """Train the compiled graph for ``epochs`` epochs; the value is the last validation accuracy."""

    kind = "train"

    def __init__(self, *, dataset: str = "mnist1d", epochs: int = 1, channels: int = 16, lr: float = 0.05,
                 batch: int = 128, wiring: str = "static", device: str | None = None, threads: int | None = 1):
        if dataset not in ("mnist1d", "digits"):
            raise ParameterError(f"train objective: dataset must be 'mnist1d' or 'digits', got {dataset!r}")
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ParameterError(f"train objective: epochs must be a positive int, got {epochs!r}")
        self.kw = {"dataset": dataset, "epochs": epochs, "channels": channels, "lr": lr, "batch": batch,
                   "wiring": wiring, "device": device, "threads": threads}
        self._data = None

    @property
    def epochs(self) -> int:
        return self.kw["epochs"]

    def spec(self) -> dict:
        return {"kind": "train", "kwargs": dict(self.kw)}

    def data(self):
        if self._data is None:
            from .. import data

            if self.kw["dataset"] == "mnist1d":
                s = data.mnist1d()
            else:
                s = data.digits()
                s = type(s)(s.x_train[:, None] if s.x_train.dim() == 3 else s.x_train, s.y_train,
                            s.x_test[:, None] if s.x_test.dim() == 3 else s.x_test, s.y_test)
            train = data.loader(s.x_train, s.y_train, self.kw["batch"])
            val = data.loader(s.x_test, s.y_test, 500, shuffle=False)
            self._data = (train, val, s.x_train.shape[1], int(s.y_train.max()) + 1, s.x_train.dim() - 2)
        return self._data

    def build(self, G, *, space):
        from .. import models
        from . import ops

        net_graph = space.network(G)
        ops.ensure_ops(net_graph)
        _, _, cin, classes, dims = self.data()
        make = models.wired_conv1d if dims == 1 else models.wired_conv2d
        return make(net_graph, in_channels=cin, num_classes=classes, channels=self.kw["channels"], wiring=self.kw["wiring"])

    def __call__(self, G, report: Callable[[float, int], None], *, space, seed: int = 0) -> float:
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

        fit(model, train, self.kw["epochs"], val_loader=val, lr=self.kw["lr"], progress=False,
            device=self.kw["device"], on_epoch=on_epoch)
        self.last_params = sum(p.numel() for p in model.parameters())
        return float(last["val_acc"])


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
