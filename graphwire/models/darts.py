"""A small DARTS search network: stem -> stacked normal cells -> head, ``wiring="darts"``."""

from __future__ import annotations

import torch  # noqa: F401  (doctest)

from .. import generators
from ..errors import ParameterError
from ..generators._common import check_int
from .classifiers import WiredClassifier, wired_conv2d

__all__ = ["darts_search_net"]


def darts_search_net(*, in_channels: int, num_classes: int = 10, n_nodes: int = 4, channels: int = 16,
                     ops=None, cells: int = 1,
                     partial_channels: int = 1, dims: int = 2, **wiring_options) -> WiredClassifier:
    """A small DARTS search network: conv stem -> ``cells`` normal cells (stacked, alphas shared)
    -> ReLU, global pool, linear head; ``wiring="darts"`` with ``wiring_options`` (``gate``,
    ``edge_norm``...). Derive with ``graphwire.derive(model.write_back())`` and build the
    discrete network with ``model.recompile(derived)``.

    >>> m = darts_search_net(in_channels=1, num_classes=10, n_nodes=2, channels=4)
    >>> m(torch.randn(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """
    from ..generators.darts_cell import DARTS_OPS

    cell_kw = dict(n_nodes=n_nodes, ops=list(ops or DARTS_OPS), channels=channels, partial_channels=partial_channels)
    cells = check_int("cells", cells, 1)
    if cells == 1:
        G = generators.darts_cell(**cell_kw)
    else:
        G = generators.darts_cells(cells, n_nodes=n_nodes, ops=list(ops or DARTS_OPS), channels=channels,
                         partial_channels=partial_channels)
    if dims not in (1, 2):
        raise ParameterError(f"dims must be 1 or 2, got {dims!r}")
    if dims == 2:
        return wired_conv2d(G, in_channels=in_channels, num_classes=num_classes, channels=channels, wiring="darts", op="identity",
                            **wiring_options)
    from .classifiers import wired_conv1d

    return wired_conv1d(G, in_channels=in_channels, num_classes=num_classes, channels=channels, wiring="darts", op="identity",
                        **wiring_options)
