"""The strategy contract: propose graphs, learn from finished trials, never train."""

from __future__ import annotations

import abc
import random
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from ...errors import ParameterError


@dataclass
class Record:
    """One trial as a strategy sees it. ``value`` is higher-is-better (accuracy); ``state`` is
    ``complete``, ``pruned``, ``failed``, ``running`` or ``waiting``."""

    number: int
    graph: nx.DiGraph
    hash: str
    value: float | None
    state: str
    meta: dict = field(default_factory=dict)
    #: when the trial finished (seconds since the epoch; None while it runs): the order in which
    #: finished trials joined the population
    finished: float | None = None
    #: the values reported after each epoch (epoch -> value)
    intermediate: dict = field(default_factory=dict)


@dataclass
class Proposal:
    graph: nx.DiGraph
    meta: dict = field(default_factory=dict)


class Strategy(abc.ABC):
    """Base class. ``stateful`` strategies run only in the coordinator (their state cannot be
    rebuilt from the trial history alone) and save ``state_dict()`` after every update."""

    name = "strategy"
    stateful = False
    #: whether the engine refuses a proposal whose graph was already tried (checked atomically
    #: with the trial's creation, across every worker)
    dedup = False

    def __init__(self, **options: Any):
        if options:
            raise ParameterError(f"strategy {self.name!r}: unknown option(s) {sorted(options)}")
        self.space = None
        self.rng = random.Random(0)

    def setup(self, space, *, seed: int = 0) -> Strategy:
        self.space, self.rng = space, random.Random(seed)
        self.seed = seed
        return self

    @abc.abstractmethod
    def propose(self, history: list[Record], n: int) -> list[Proposal]:
        """Up to ``n`` new proposals, given every trial so far."""

    def observe(self, records: list[Record]) -> dict | None:
        """Learn from newly finished trials; returns a log entry when the strategy updated."""
        return None

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def options(self) -> dict:
        return {}


def seen_hashes(history: list[Record]) -> set[str]:
    """Hashes already evaluated, running or queued (failed ones may be tried again)."""
    return {r.hash for r in history if r.state != "failed"}


def completed(history: list[Record]) -> list[Record]:
    return [r for r in history if r.state in ("complete", "pruned") and r.value is not None]


def by_join_time(records: list[Record]) -> list[Record]:
    """Finished records in the order they finished (trial number breaks ties and stands in
    for records without a time)."""
    return sorted(records, key=lambda r: (r.finished if r.finished is not None else float("inf"), r.number))


def fresh_sample(space, rng: random.Random, avoid: set[str], tries: int = 100) -> tuple[nx.DiGraph, dict]:
    """A random graph whose hash is not in ``avoid`` (bounded tries, then any sample)."""
    for t in range(tries):
        G = space.sample(rng)
        if space.hash(G) not in avoid:
            return G, {"op": "sample", "tries": t + 1}
    return G, {"op": "sample", "tries": tries, "duplicate": True}
