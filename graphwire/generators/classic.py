"""Classic, deterministic edge sets: chain (VGG), ResNet, DenseNet / complete DAG.

``n`` counts hidden nodes: node 0 is the input, node ``n + 1`` the output, nodes ``1..n`` hidden.
Edges are built as numpy arrays and added to networkx in one call, and the size is checked
against the memory available before anything is allocated.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from ._common import build_arrays, check_int, check_size, gc_paused, record, show_int

__all__ = ["chain", "complete", "densenet", "resnet"]


def _roles(n: int) -> list[str]:
    return ["input"] + ["hidden"] * n + ["output"]


def _classic(name: str, n: int, src: np.ndarray, dst: np.ndarray) -> nx.DiGraph:
    return record(build_arrays(_roles(n), src, dst), name, {"n": n}, None)


def _all_pairs(name: str, n: int) -> nx.DiGraph:
    N = n + 2
    check_size(f"n = {show_int(n, False)}", N, N * (N - 1) // 2)
    src, dst = np.triu_indices(N, k=1)
    return _classic(name, n, src, dst)


@gc_paused
def chain(n: int) -> nx.DiGraph:
    """A plain chain (VGG): edges ``i -> i+1`` over the ``n + 2`` nodes.

    >>> sorted(chain(2).edges())
    [(0, 1), (1, 2), (2, 3)]
    """
    n = check_int("n", n, 0)
    check_size(f"n = {show_int(n, False)}", n + 2, n + 1)
    src = np.arange(n + 1, dtype=np.int64)
    return _classic("chain", n, src, src + 1)


@gc_paused
def resnet(n: int) -> nx.DiGraph:
    """The ResNet edge set: ``i -> i+1`` and ``i -> i+2`` over the ``n + 2`` nodes.

    >>> sorted(resnet(1).edges())
    [(0, 1), (0, 2), (1, 2)]
    """
    n = check_int("n", n, 0)
    check_size(f"n = {show_int(n, False)}", n + 2, 2 * n + 1)
    one = np.arange(n + 1, dtype=np.int64)
    two = np.arange(n, dtype=np.int64)
    return _classic("resnet", n, np.concatenate([one, two]), np.concatenate([one + 1, two + 2]))


@gc_paused
def densenet(n: int) -> nx.DiGraph:
    """The DenseNet edge set: ``i -> j`` for every ``i < j`` over the ``n + 2`` nodes.

    Same edges as :func:`complete`; only the recorded generator name differs.

    >>> densenet(2).number_of_edges()
    6
    """
    n = check_int("n", n, 0)
    return _all_pairs("densenet", n)


@gc_paused
def complete(n: int) -> nx.DiGraph:
    """The complete DAG: ``i -> j`` for every ``i < j`` over the ``n + 2`` nodes (input -> output too).

    >>> sorted(complete(1).edges())
    [(0, 1), (0, 2), (1, 2)]
    """
    n = check_int("n", n, 0)
    return _all_pairs("complete", n)
