"""Classic, deterministic edge sets: chain (VGG), ResNet, DenseNet / complete DAG.

``n`` counts hidden nodes: node 0 is the input, node ``n + 1`` the output, nodes ``1..n`` hidden.
"""

from __future__ import annotations

import networkx as nx

from ._common import build, check_int, record

__all__ = ["chain", "resnet", "densenet", "complete"]


def _roles(n: int) -> list[str]:
    return ["input"] + ["hidden"] * n + ["output"]


def _classic(name: str, n: int, edges) -> nx.DiGraph:
    return record(build(_roles(n), edges), name, {"n": n}, None)


def _all_pairs(n: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(n + 2) for j in range(i + 1, n + 2)]


def chain(n: int) -> nx.DiGraph:
    """A plain chain (VGG): edges ``i -> i+1`` over the ``n + 2`` nodes.

    >>> sorted(chain(2).edges())
    [(0, 1), (1, 2), (2, 3)]
    """
    n = check_int("n", n, 0)
    return _classic("chain", n, [(i, i + 1) for i in range(n + 1)])


def resnet(n: int) -> nx.DiGraph:
    """The ResNet edge set: ``i -> i+1`` and ``i -> i+2`` over the ``n + 2`` nodes.

    >>> sorted(resnet(1).edges())
    [(0, 1), (0, 2), (1, 2)]
    """
    n = check_int("n", n, 0)
    last = n + 1
    edges = [(i, j) for i in range(last) for j in (i + 1, i + 2) if j <= last]
    return _classic("resnet", n, edges)


def densenet(n: int) -> nx.DiGraph:
    """The DenseNet edge set: ``i -> j`` for every ``i < j`` over the ``n + 2`` nodes.

    Same edges as :func:`complete`; only the recorded generator name differs.

    >>> densenet(2).number_of_edges()
    6
    """
    n = check_int("n", n, 0)
    return _classic("densenet", n, _all_pairs(n))


def complete(n: int) -> nx.DiGraph:
    """The complete DAG: ``i -> j`` for every ``i < j`` over the ``n + 2`` nodes (input -> output too).

    >>> sorted(complete(1).edges())
    [(0, 1), (0, 2), (1, 2)]
    """
    n = check_int("n", n, 0)
    return _classic("complete", n, _all_pairs(n))
