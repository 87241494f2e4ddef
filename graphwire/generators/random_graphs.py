"""RandWire random graphs: networkx's undirected ER / BA / WS graphs turned into DAGs.

Each function samples networkx's undirected graph for the given seed on ``n`` nodes (ER's
``fast_gnp``, WS and BA replay networkx's own draws on plain lists and sets, giving the same
edges without building networkx's graph; ER's ``gnp`` calls networkx), shifts its nodes ``0..n-1`` to ``1..n``, points every edge from the lower to the higher index, lets input
node 0 feed every hidden node without a predecessor and lets every hidden node without a
successor feed output node ``n + 1`` (Xie et al. 2019). An isolated hidden node (possible with
ER) becomes ``0 -> i -> n + 1``.

``seed`` must be None or a non-negative int (random-state objects are refused). With None a
fresh seed is drawn and recorded, so ``G.graph["graphwire"]["generator"]["seed"]`` always
regenerates the same graph. networkx's generators may change between networkx versions
(Barabási-Albert did between 2.5 and 3.x), so the networkx version is recorded too.

Erdős–Rényi has two samplers with different random streams: networkx's ``gnp_random_graph``
(a coin flip per node pair, O(n²); the only sampler before the algorithm was recorded) and
``fast_gnp_random_graph`` (geometric skips, O(n + m)). The one used is recorded as
``G.graph["graphwire"]["generator"]["algorithm"]``; a record without it means ``"gnp"``.
"""

from __future__ import annotations

import math
import random

import networkx as nx
import numpy as np

from ..errors import ParameterError
from ._common import (
    check_int,
    check_size,
    check_unit,
    gc_paused,
    is_int,
    randwire_dag,
    randwire_dag_arrays,
    record,
    resolve_seed,
    safe_sum,
    scaled,
    show_int,
)

__all__ = ["ER_ALGORITHMS", "FAST_GNP_BELOW", "barabasi_albert", "erdos_renyi", "watts_strogatz"]

#: Erdős–Rényi samplers: the recorded name -> the networkx function whose graphs it gives
#: (``fast_gnp`` walks the same random draws in :func:`fast_gnp_edges`, without the graph).
ER_ALGORITHMS = {"gnp": nx.gnp_random_graph, "fast_gnp": nx.fast_gnp_random_graph}
#: ``algorithm="auto"`` samples with ``fast_gnp`` when the expected edge count is below this share
#: of the n(n-1)/2 node pairs (that is, p < 0.2). Measured (benchmarks/generators.py, networkx
#: 3.6, one CPU thread): networkx's own fast_gnp_random_graph crosses its gnp_random_graph at
#: p ~ 0.3; graphwire's fast_gnp, which skips networkx's graph, is faster than gnp at every p
#: measured. The threshold stays at 0.2 on purpose: it keeps ER(n, 0.2) (the RandWire paper's,
#: the CLI's and the models' setting) on the classic sampler, so those graphs do not change for a
#: seed; dense graphs are small ones in practice (p = 0.2 at 10k nodes is 10M edges), where the
#: difference is milliseconds. Pass ``algorithm="fast_gnp"`` for speed at any p.
FAST_GNP_BELOW = 0.2


def fast_gnp_edges(n: int, p: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The edges ``nx.fast_gnp_random_graph(n, p, seed=seed)`` has, without building its graph.

    The same geometric-skip walk over the pairs ``w < v`` (Batagelj and Brandes 2005) and the
    same ``random.Random(seed)`` draws as networkx 3.x, so the edge set is identical (tested
    against networkx), but only two integer lists are filled: building networkx's undirected
    graph, only to read its edges back, was half the time at 100k nodes. ``0 < p < 1``.
    """
    rng = random.Random(seed)
    lp = math.log(1.0 - p)
    ws: list[int] = []
    vs: list[int] = []
    v, w = 1, -1
    while v < n:
        w += 1 + int(math.log(1.0 - rng.random()) / lp)
        while w >= v and v < n:
            w -= v
            v += 1
        if v < n:
            ws.append(w)
            vs.append(v)
    return np.array(ws, dtype=np.int64), np.array(vs, dtype=np.int64)


def watts_strogatz_edges(n: int, k: int, p: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The edges ``nx.watts_strogatz_graph(n, k, p, seed=seed)`` has, without building its graph.

    The same ring, the same rewiring order and the same ``random.Random(seed)`` draws as
    networkx 3.x (tested against it), on one Python set of neighbours per node instead of a
    networkx graph, whose per-edge bookkeeping was most of the time at 100k nodes.
    ``2 <= k < n``, k even.
    """
    rng = random.Random(seed)
    nodes = list(range(n))
    adj: list[set[int]] = [set() for _ in nodes]
    for j in range(1, k // 2 + 1):
        for u in nodes:
            v = (u + j) % n
            adj[u].add(v)
            adj[v].add(u)
    choice = rng.choice
    for j in range(1, k // 2 + 1):  # neighbours by distance, then nodes in label order
        for u in nodes:
            if rng.random() < p:
                v = (u + j) % n
                w = choice(nodes)
                while w == u or w in adj[u]:  # no self loops, no parallel edges
                    w = choice(nodes)
                    if len(adj[u]) >= n - 1:
                        break  # nowhere to go: keep the edge
                else:
                    adj[u].discard(v)
                    adj[v].discard(u)
                    adj[u].add(w)
                    adj[w].add(u)
    a = [u for u in nodes for w in adj[u] if u < w]
    b = [w for u in nodes for w in adj[u] if u < w]
    return np.array(a, dtype=np.int64), np.array(b, dtype=np.int64)


def barabasi_albert_edges(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The edges ``nx.barabasi_albert_graph(n, m, seed=seed)`` has, without building its graph.

    networkx 3.x's process replayed with the same ``random.Random(seed)`` draws (tested against
    it): a star on nodes ``0..m``, then each new node picks ``m`` distinct targets uniformly from
    the list of edge endpoints (preferential attachment). The targets are gathered in a set as
    networkx does, since the set's iteration order feeds the later draws. ``1 <= m < n``.
    """
    rng = random.Random(seed)
    choice = rng.choice
    a = [0] * m
    b = list(range(1, m + 1))
    repeated = [0] * m + list(range(1, m + 1))  # every node once per edge end, in node order
    for source in range(m + 1, n):
        targets: set[int] = set()
        while len(targets) < m:
            targets.add(choice(repeated))
        a.extend(targets)
        b.extend([source] * m)
        repeated.extend(targets)
        repeated.extend([source] * m)
    return np.array(a, dtype=np.int64), np.array(b, dtype=np.int64)


def _finish(U: nx.Graph, n: int, name: str, params: dict, seed: int, algorithm: str | None = None) -> nx.DiGraph:
    return record(randwire_dag(U, n), name, params, seed, algorithm)


def _check_randwire_size(what: str, n: int, edges: float) -> None:
    # hidden edges plus at most one input and one output edge per hidden node; the undirected
    # networkx graph is held at the same time
    check_size(what, n + 2, safe_sum(edges, 2 * n), undirected_edges=edges)


def _er_algorithm(algorithm: str, n: int, p: float) -> str:
    if algorithm == "auto":
        return "fast_gnp" if 0 < p < FAST_GNP_BELOW else "gnp"  # expected edges p * pairs < 0.2 * pairs
    if algorithm not in ER_ALGORITHMS:
        raise ParameterError(
            f"algorithm must be one of {['auto', *ER_ALGORITHMS]}, got {algorithm!r}"
        )
    return algorithm


@gc_paused
def erdos_renyi(n: int, p: float, seed: int | None = None, *, algorithm: str = "auto") -> nx.DiGraph:
    """RandWire Erdős–Rényi DAG: networkx's G(n, p) on the hidden nodes.

    ``n >= 1`` hidden nodes, each undirected edge present with probability ``p`` in [0, 1].
    ``algorithm``: ``"gnp"`` (``nx.gnp_random_graph``, a coin flip per pair: O(n²)),
    ``"fast_gnp"`` (``nx.fast_gnp_random_graph``: O(n + m)), or ``"auto"``: ``fast_gnp`` for
    sparse graphs (expected edges below :data:`FAST_GNP_BELOW` of the pairs, i.e. p < 0.2),
    else ``gnp``. Both give the same distribution but different graphs for one seed, so the
    choice is recorded in the generator record's ``"algorithm"``.

    >>> G = erdos_renyi(16, 0.2, seed=1)
    >>> G.number_of_nodes(), G.graph["graphwire"]["generator"]["algorithm"]
    (18, 'gnp')
    >>> erdos_renyi(10000, 0.0004, seed=1).graph["graphwire"]["generator"]["algorithm"]
    'fast_gnp'
    """
    n = check_int("n", n, 1)
    p = check_unit("p", p)
    algorithm = _er_algorithm(algorithm, n, p)
    _check_randwire_size(f"n = {show_int(n, False)}, p = {p}", n, scaled(p, n * (n - 1) // 2))
    seed = resolve_seed(seed)
    params = {"n": n, "p": p}
    if algorithm == "fast_gnp" and 0.0 < p < 1.0:  # (networkx itself falls back to gnp outside)
        a, b = fast_gnp_edges(n, p, seed)
        return record(randwire_dag_arrays(a, b, n), "erdos_renyi", params, seed, algorithm)
    U = ER_ALGORITHMS[algorithm](n, p, seed=seed)
    return _finish(U, n, "erdos_renyi", params, seed, algorithm)


@gc_paused
def barabasi_albert(n: int, m: int, seed: int | None = None) -> nx.DiGraph:
    """RandWire Barabási–Albert DAG: ``nx.barabasi_albert_graph(n, m, seed=seed)`` on the hidden nodes.

    ``n >= 2`` hidden nodes; each new node attaches to ``m`` existing ones, ``1 <= m < n``.

    >>> G = barabasi_albert(16, 3, seed=1)
    >>> G.number_of_edges() - G.out_degree(0) - G.in_degree(17)   # BA has m * (n - m) edges
    39
    """
    n = check_int("n", n, 2, why="Barabási–Albert needs at least 2 nodes")
    m = check_int("m", m, 1, n - 1, why=f"n = {n}")
    _check_randwire_size(f"n = {show_int(n, False)}, m = {m}", n, m * (n - m))
    seed = resolve_seed(seed)
    a, b = barabasi_albert_edges(n, m, seed)
    return record(randwire_dag_arrays(a, b, n), "barabasi_albert", {"n": n, "m": m}, seed)


@gc_paused
def watts_strogatz(n: int, k: int, p: float, seed: int | None = None) -> nx.DiGraph:
    """RandWire Watts–Strogatz DAG: ``nx.watts_strogatz_graph(n, k, p, seed=seed)`` on the hidden nodes.

    ``n >= 3`` hidden nodes on a ring, each joined to its ``k`` nearest neighbours, then every
    edge rewired with probability ``p`` in [0, 1]. ``k`` must be even with ``2 <= k < n``:
    networkx silently uses ``k - 1`` neighbours for odd ``k`` and returns a complete graph for
    ``k == n``, so both are refused here rather than recorded under a misleading ``k``.

    >>> G = watts_strogatz(32, 4, 0.75, seed=1)
    >>> G.number_of_edges() - G.out_degree(0) - G.in_degree(33)   # WS keeps n * k / 2 edges
    64
    """
    n = check_int("n", n, 3, why="Watts–Strogatz needs at least 3 nodes")
    if not is_int(k) or not 2 <= k < n or k % 2:
        shown = f"{k!r}" if is_int(k) else f"{k!r} ({type(k).__name__})"
        hint = f"; networkx would silently join each node to {k - 1} neighbours" if is_int(k) and k % 2 else ""
        raise ParameterError(f"k must be an even integer with 2 <= k < n (n = {n}), got {shown}{hint}")
    k = int(k)
    p = check_unit("p", p)
    _check_randwire_size(f"n = {show_int(n, False)}, k = {k}", n, n * k // 2)
    seed = resolve_seed(seed)
    a, b = watts_strogatz_edges(n, k, p, seed)
    return record(randwire_dag_arrays(a, b, n), "watts_strogatz", {"n": n, "k": k, "p": p}, seed)
