"""ONNX export of a compiled network (static, gated or pruned), checked by ONNX Runtime in the tests.

The network is exported in eval mode (inference masks, BatchNorm running statistics) with a
dynamic batch dimension. Two exporters exist in PyTorch: the ``torch.export``-based one (the
default since PyTorch 2.9; needs ``onnxscript``) and the legacy TorchScript one. ``to_onnx``
tries them in turn and, when the batched executor's ops do not export, the per-node
``reference`` executor, which computes the same numbers; which route worked is stored in the
model's metadata (``graphwire.exporter``, ``graphwire.executor``), next to the wiring graph
as node-link JSON (``graphwire.graph``) when the network has one.
"""

from __future__ import annotations

import contextlib
import io as _io
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from ..errors import GraphwireError, ParameterError
from ._atomic import atomic_write

__all__ = ["to_onnx", "ExportError", "EXPORTERS"]

EXPORTERS = ("auto", "dynamo", "torchscript")


class ExportError(GraphwireError, RuntimeError):
    """Every ONNX export route failed (the message lists each route's error)."""


def _core(net):
    """The compiled network inside ``net`` (recognised by its plan and executor, so that this
    exporter needs nothing from the compiler)."""
    for m in net.modules():
        if hasattr(m, "plan") and hasattr(m, "runtime") and hasattr(m, "executor"):
            return m
    return None


def _have_onnxscript() -> bool:
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _quiet():
    """Silence the exporters' chatter: Python prints, warnings, and what their C++ side writes to
    the stdout/stderr file descriptors (the TorchScript exporter dumps its whole IR on failure)."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    saved: list[tuple[int, int]] = []
    with tempfile.TemporaryFile() as sink:
        for fd in (1, 2):
            try:
                saved.append((fd, os.dup(fd)))
                os.dup2(sink.fileno(), fd)
            except OSError:  # no such descriptor (embedded interpreters): leave it
                pass
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(_io.StringIO()), \
                    contextlib.redirect_stderr(_io.StringIO()):
                warnings.simplefilter("ignore")
                yield
        finally:
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)


def _export(net, args: tuple, file: str, exporter: str, opset: int | None, dynamic_batch: bool) -> None:
    import torch

    names_in = [f"input{i}" if len(args) > 1 else "input" for i in range(len(args))]
    with _quiet():
        if exporter == "dynamo":
            dyn = None
            if dynamic_batch:
                batch = torch.export.Dim("batch")
                dyn = tuple({0: batch} for _ in args)
            torch.onnx.export(net, args, file, dynamo=True, verbose=False, opset_version=opset,
                              input_names=names_in, output_names=["output"], dynamic_shapes=dyn,
                              external_data=False)
        else:
            axes = {n: {0: "batch"} for n in names_in + ["output"]} if dynamic_batch else None
            torch.onnx.export(net, args, file, dynamo=False, opset_version=opset, input_names=names_in,
                              output_names=["output"], dynamic_axes=axes)


def to_onnx(net: Any, sample_input: Any, path: str | os.PathLike, *, exporter: str = "auto",
            opset: int | None = None, dynamic_batch: bool = True, fallback: bool = True,
            metadata: bool = True) -> Path:
    """Export ``net`` (a ``WiredNet`` or a model around one) to an ONNX file; return the path.

    ``sample_input`` is a tensor (or a tuple of tensors) of the shape the network takes; the
    batch dimension stays dynamic unless ``dynamic_batch=False``. The export runs in eval mode
    (the model's mode and executor are restored afterwards). ``exporter`` is ``"dynamo"``
    (``torch.export``-based, needs ``onnxscript``), ``"torchscript"`` (legacy) or ``"auto"``
    (dynamo when onnxscript is installed, then TorchScript). With ``fallback`` a failing batched
    executor is retried with ``executor="reference"``; if every route fails the error lists
    them. The file is written atomically; needs ``pip install 'graphwire[onnx]'``.

    >>> import torch, tempfile, os, graphwire as gw
    >>> net = gw.compile(gw.generators.chain(2), in_channels=4, channels=4, default_op="linear", dims=0)
    >>> p = gw.io.to_onnx(net, torch.randn(2, 4), os.path.join(tempfile.mkdtemp(), "net.onnx"))
    >>> import onnxruntime as ort
    >>> s = ort.InferenceSession(str(p))
    >>> s.run(None, {"input": torch.randn(5, 4).numpy()})[0].shape
    (5, 4)
    """
    import torch

    try:
        import onnx
    except ImportError:
        raise ParameterError("ONNX export needs the onnx package: pip install 'graphwire[onnx]'") from None
    if exporter not in EXPORTERS:
        raise ParameterError(f"exporter must be one of {list(EXPORTERS)}, got {exporter!r}")
    if not isinstance(net, torch.nn.Module):
        raise ParameterError(f"to_onnx needs a torch.nn.Module, got {type(net).__name__}")
    args = tuple(sample_input) if isinstance(sample_input, (tuple, list)) else (sample_input,)
    if not args or not all(isinstance(a, torch.Tensor) for a in args):
        raise ParameterError("sample_input must be a tensor or a tuple of tensors")
    if exporter == "auto":
        exporters = (["dynamo"] if _have_onnxscript() else []) + ["torchscript"]
    else:
        if exporter == "dynamo" and not _have_onnxscript():
            raise ParameterError("exporter='dynamo' needs onnxscript: pip install onnxscript "
                                 "(or use exporter='torchscript')")
        exporters = [exporter]
    core = _core(net)
    executors = [core.executor] if core is not None else [None]
    if core is not None and fallback and core.executor != "reference":
        executors.append("reference")

    was_training = net.training
    saved_executor = core.executor if core is not None else None
    failures: list[str] = []
    model = None
    route = None
    net.eval()
    try:
        with tempfile.TemporaryDirectory(prefix="graphwire-onnx-") as tmp, torch.no_grad():
            for ex in executors:
                if core is not None:
                    core.executor = ex
                for exp in exporters:
                    file = os.path.join(tmp, f"{exp}-{ex}.onnx")
                    try:
                        _export(net, args, file, exp, opset, dynamic_batch)
                        model = onnx.load(file)
                    except Exception as e:
                        failures.append(f"{exp} exporter, {ex or 'plain'} executor: {type(e).__name__}: "
                                        f"{str(e).strip().splitlines()[0][:300] if str(e).strip() else ''}")
                        continue
                    route = (exp, ex)
                    break
                if model is not None:
                    break
    finally:
        net.train(was_training)
        if core is not None:
            core.executor = saved_executor
    if model is None:
        raise ExportError("ONNX export failed on every route:\n  " + "\n  ".join(failures))
    if metadata:
        meta = {"graphwire.exporter": route[0], "graphwire.executor": route[1] or "",
                "graphwire.fallback_errors": "\n".join(failures)}
        if core is not None:
            from .json_format import to_json

            try:
                meta["graphwire.graph"] = to_json(core.graph, indent=None)
                meta["graphwire.wiring"] = core.wiring.name
            except Exception:
                pass
        for key, value in meta.items():
            if value:
                entry = model.metadata_props.add()
                entry.key, entry.value = key, value
    if failures:
        warnings.warn(f"ONNX export used the {route[0]} exporter with the {route[1] or 'plain'} executor after: "
                      + "; ".join(failures), stacklevel=2)
    return atomic_write(path, model.SerializeToString())
