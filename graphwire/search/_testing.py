"""Objectives and a space used by graphwire's own tests (importable by worker processes)."""

from __future__ import annotations

import os
import time

import networkx as nx

from .. import generators
from .spaces import space


def _value(space_, G) -> float:
    return int(space_.hash(G)[:6], 16) / 0xFFFFFF


def sleepy(G, report, *, space, seed: int = 0) -> float:
    """``GW_TEST_EPOCHS`` epochs of ``GW_TEST_SLEEP`` seconds each; the value comes from the hash."""
    epochs, pause = int(os.environ.get("GW_TEST_EPOCHS", "3")), float(os.environ.get("GW_TEST_SLEEP", "0.3"))
    v = _value(space, G)
    for e in range(1, epochs + 1):
        time.sleep(pause)
        report(v * e / epochs, e)
    return v


def flaky(G, report, *, space, seed: int = 0) -> float:
    """Raises for a third of the seeds, returns NaN for another third (a diverged training)."""
    if seed % 3 == 0:
        raise RuntimeError("boom: the objective raised")
    if seed % 3 == 1:
        report(float("nan"), 1)
        return float("nan")
    v = _value(space, G)
    report(v, 1)
    return v


def instant(G, report, *, space, seed: int = 0) -> float:
    """No training at all: the value comes from the hash (for engine-cost measurements)."""
    return _value(space, G)


def text_value(G, report, *, space, seed: int = 0):
    """Returns text instead of a number (a user bug the engine must catch)."""
    return "0.75"


@space(depth=[1, 2, 3], fanout=[0, 1])
def broken_chains(depth: int, fanout: int) -> nx.DiGraph:
    """A user space whose fanout=1 choice makes a cycle (an invalid graph)."""
    G = generators.chain(depth)
    if fanout:
        order = list(nx.topological_sort(G))
        G.add_edge(order[-2], order[1])
    return G
