"""Optimizer parameter groups for your own training loop: the wiring's parameters (edge gates...)
on their own learning rate, without weight decay.

Edge gates need larger steps than weights: a gate has to travel several logit units to decide
(``sigmoid(3) = 0.95``), in the few hundred steps of a short training. ``docs/training-loop.md``
has the whole loop, ``docs/gates.md`` the learning rates measured for SGD and Adam.
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from ..errors import ParameterError
from ..wiring.base import Wiring

__all__ = ["param_groups", "wiring_parameters", "weight_parameters"]


def wiring_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of every wiring inside ``model`` (edge gates, edge weights, routers...), each once.

    >>> import graphwire as gw
    >>> net = gw.compile(gw.generators.resnet(2), in_channels=3, channels=4, wiring="sigmoid")
    >>> [tuple(p.shape) for p in wiring_parameters(net)]
    [(5,)]
    """
    seen: set[int] = set()
    out: list[nn.Parameter] = []
    for m in model.modules():
        if isinstance(m, Wiring):
            for p in m.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append(p)
    return out


def weight_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every parameter of ``model`` that is not a wiring parameter (the network's weights), each once."""
    wired = {id(p) for p in wiring_parameters(model)}
    return [p for p in model.parameters() if id(p) not in wired]


def param_groups(model: nn.Module, *, wiring_lr: float, wiring_weight_decay: float = 0.0) -> list[dict[str, Any]]:
    """Two parameter groups for any ``torch.optim`` optimizer: every other parameter (the
    optimizer's own ``lr`` and ``weight_decay`` apply), then the wiring's parameters with ``lr=wiring_lr``
    and ``weight_decay=wiring_weight_decay`` (0 by default: decay would pull every gate back to 0.5).

    >>> import torch, graphwire as gw
    >>> net = gw.compile(gw.generators.resnet(2), in_channels=3, channels=4, wiring="sigmoid")
    >>> opt = torch.optim.Adam(param_groups(net, wiring_lr=0.1), lr=1e-3)
    >>> [g["lr"] for g in opt.param_groups], len(opt.param_groups[1]["params"])
    ([0.001, 0.1], 1)
    """
    for name, value in (("wiring_lr", wiring_lr), ("wiring_weight_decay", wiring_weight_decay)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
                or (name == "wiring_lr" and value == 0):
            raise ParameterError(f"{name} must be a finite number {'> 0' if name == 'wiring_lr' else '>= 0'}, "
                                 f"got {value!r}")
    if not isinstance(model, nn.Module):
        raise ParameterError(f"param_groups takes a torch module (a compiled network or a model holding one), "
                             f"got {type(model).__name__}")
    wired = wiring_parameters(model)
    if not wired:
        raise ParameterError("the model has no wiring parameters (its wiring learns nothing, e.g. 'static'); "
                             "pass model.parameters() to the optimizer instead")
    return [{"params": weight_parameters(model)},
            {"params": wired, "lr": float(wiring_lr), "weight_decay": float(wiring_weight_decay)}]
