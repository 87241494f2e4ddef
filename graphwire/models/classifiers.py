"""Ready-made networks around a wired core: stem -> WiredNet -> head.

``WiredClassifier.recompile(pruned_graph)`` rebuilds the same classifier on a pruned graph,
carrying the stem, the head and (by node label) every surviving node's parameters over.
"""

from __future__ import annotations

import copy
from typing import Any

import networkx as nx
import torch
from torch import nn

from ..compiler import WiredNet, compile
from ..compiler.module import check_input
from ..errors import ParameterError

__all__ = ["WiredClassifier", "wired_mlp", "wired_conv1d", "wired_conv2d"]


class WiredClassifier(nn.Module):
    """``head(wired(stem(x)))``; ``wired`` is the compiled graph."""

    def __init__(self, stem: nn.Module, wired: WiredNet, head: nn.Module):
        super().__init__()
        self.stem, self.wired, self.head = stem, wired, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = getattr(self, "input_spec", None)
        if spec is not None:
            p = next(self.parameters())
            check_input(x, channels=spec[0], dims=spec[1], dtype=p.dtype, where="the classifier's stem")
        return self.head(self.wired(self.stem(x)))

    def regularizer(self) -> torch.Tensor:
        return self.wired.regularizer()

    def write_back(self) -> nx.DiGraph:
        return self.wired.write_back()

    def count_flops(self, input_shape) -> int:
        """FLOPs of one forward pass (see :func:`graphwire.compiler.flops.count_flops`)."""
        from ..compiler.flops import count_flops

        return count_flops(self, input_shape)

    def inference_cost(self, input_shape=None):
        """The chosen wiring's cost (see :func:`graphwire.compiler.flops.inference_cost`)."""
        from ..compiler.flops import inference_cost

        return inference_cost(self, input_shape)

    def training_cost(self, input_shape=None):
        """What runs (see :func:`graphwire.compiler.flops.training_cost`)."""
        from ..compiler.flops import training_cost

        return training_cost(self, input_shape)

    @property
    def graph(self) -> nx.DiGraph:
        return self.wired.graph

    def recompile(self, graph: nx.DiGraph, *, wiring: Any = None, **options) -> "WiredClassifier":
        """The same classifier on ``graph`` (e.g. a pruned write-back), parameters carried over. The
        core is rebuilt with what ``graph`` records (:meth:`WiredNet.recompile`); ``wiring=`` and
        wiring options override it."""
        new = self._around(self.wired.recompile(graph, wiring=wiring, **options))
        for name in ("input_spec", "input_shape"):  # the recompiled classifier takes the same input
            if getattr(self, name, None) is not None:
                setattr(new, name, getattr(self, name))
        return new.to(next(self.parameters()).device)

    def _around(self, wired: WiredNet) -> "WiredClassifier":
        """This classifier's other parts (copies) around a recompiled core ``wired``."""
        return type(self)(copy.deepcopy(self.stem), wired, copy.deepcopy(self.head))


_COMPILE_KEYS = {"in_channels", "channels", "default_op", "output_op", "dims", "executor", "resize", "op_options"}


def _split_kwargs(kwargs: dict) -> tuple[dict, dict]:
    return ({k: v for k, v in kwargs.items() if k in _COMPILE_KEYS},
            {k: v for k, v in kwargs.items() if k not in _COMPILE_KEYS})


def wired_mlp(graph: nx.DiGraph, *, in_channels: int, num_classes: int = 10, channels: int = 64,
              wiring: Any = "sigmoid", **options) -> WiredClassifier:
    """A classifier for vector data whose hidden layers are the graph's nodes (``linear`` op)."""
    kw, wopts = _split_kwargs(options)
    kw = dict(in_channels=in_channels, channels=channels, default_op="linear", dims=0) | kw
    wired = compile(graph, wiring=wiring, **kw, **wopts)
    _check_classes(num_classes)
    model = WiredClassifier(nn.Identity(), wired, nn.Linear(wired.out_channels, num_classes))
    model.input_spec = (in_channels, 0)
    return model


def _check_classes(num_classes: Any) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ParameterError(f"num_classes must be a positive integer, got {num_classes!r}")


def _wired_conv(graph, in_channels, num_classes, width, wiring, op, dims, stem_kernel, options):
    """Conv stem -> wired core at ``width`` channels -> ReLU, global average pool, linear head."""
    _check_classes(num_classes)
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ParameterError(f"in_channels must be a positive integer, got {in_channels!r}")
    kw, wopts = _split_kwargs(options)
    kw = dict(in_channels=width, channels=width, default_op=op, dims=dims) | kw
    wired = compile(graph, wiring=wiring, **kw, **wopts)
    conv, bn, pool = (nn.Conv1d, nn.BatchNorm1d, nn.AdaptiveAvgPool1d) if dims == 1 else \
        (nn.Conv2d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d)
    stem = nn.Sequential(conv(in_channels, width, stem_kernel, 1, stem_kernel // 2, bias=False), bn(width))
    head = nn.Sequential(nn.ReLU(), pool(1), nn.Flatten(), nn.Linear(wired.out_channels, num_classes))
    model = WiredClassifier(stem, wired, head)
    model.input_spec = (in_channels, dims)
    return model


def wired_conv1d(graph: nx.DiGraph, *, in_channels: int, num_classes: int = 10, channels: int = 32,
                 wiring: Any = "sigmoid", op: str = "conv", **options) -> WiredClassifier:
    """A classifier for 1-D sequences (``[B, C, L]``, e.g. MNIST-1D): conv stem, wired core, pooled head."""
    return _wired_conv(graph, in_channels, num_classes, channels, wiring, op, 1, 5, options)


def wired_conv2d(graph: nx.DiGraph, *, in_channels: int, num_classes: int = 10, channels: int = 32,
                 wiring: Any = "sigmoid", op: str = "sepconv", **options) -> WiredClassifier:
    """A small image classifier (``[B, C, H, W]``): conv stem, wired core at ``channels``, pooled head."""
    return _wired_conv(graph, in_channels, num_classes, channels, wiring, op, 2, 3, options)
