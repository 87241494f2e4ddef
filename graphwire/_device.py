"""One check for a ``device`` argument: a usable torch device, or a graphwire error that says what to use."""

from __future__ import annotations

from typing import Any

import torch

from .errors import ParameterError

__all__ = ["resolve_device"]


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
