"""Aging (regularized) evolution, Real et al. 2019, "Regularized Evolution for Image Classifier
Architecture Search": population P, tournament of S, mutate one choice, the oldest dies.
``aging=False`` removes the worst instead (only for noise-free objectives: it keeps lucky
evaluations forever)."""

from __future__ import annotations

from ..checks import check_bool, check_int
from .base import Proposal, Record, Strategy, by_join_time, completed, fresh_sample, seen_hashes


class Evolution(Strategy):
    """Stateless: the population is rebuilt from the history on every call (the P trials that
    finished last, in the order they finished, or the best P with ``aging=False``), so any
    worker can propose. Until P trials were issued, proposals are the random first generation
    (``op: sample``); after that each is a mutation of a tournament winner (``op: mutate``,
    ``parent``), or, when no untried mutation of the parent exists, an honest ``op: sample``
    with the reason in ``why``."""

    name = "evolution"

    def __init__(self, *, population: int = 20, sample: int = 5, aging: bool = True, dedup: bool = True):
        super().__init__()
        self.population = check_int("evolution: population", population, lo=2, hi=10 ** 6)
        self.sample = check_int("evolution: sample", sample, lo=1, hi=self.population)
        self.aging = check_bool("evolution: aging", aging)
        self.dedup = check_bool("evolution: dedup", dedup)

    def options(self) -> dict:
        return {"population": self.population, "sample": self.sample, "aging": self.aging, "dedup": self.dedup}

    def budget_warning(self, trials: int) -> str | None:
        if trials <= self.population:
            return (f"evolution: the budget ({trials} trials) does not exceed the population ({self.population}), "
                    "so every trial is a random sample of the first generation and nothing is ever mutated; "
                    "raise --trials or lower --option population=")
        return None

    def propose(self, history: list[Record], n: int) -> list[Proposal]:
        done = by_join_time(completed(history))
        avoid = seen_hashes(history) if self.dedup else set()
        issued = sum(1 for r in history if r.state != "failed")
        tries = 100 if self.dedup else 1
        out = []
        for _ in range(n):
            if issued < self.population or not done:  # the random first generation (or it is still running)
                G, meta = fresh_sample(self.space, self.rng, avoid, tries)
            else:
                pop = done[-self.population:] if self.aging else sorted(done, key=lambda r: r.value)[-self.population:]
                parent = max(self.rng.sample(pop, min(self.sample, len(pop))), key=lambda r: r.value)
                G, meta = None, {}
                for _t in range(20):
                    child = self.space.mutate(parent.graph, self.rng, fallback=False)
                    if child is None:
                        break
                    if self.space.hash(child) not in avoid:
                        G, meta = child, {"op": "mutate", "parent": parent.number}
                        break
                if G is None:
                    G, meta = fresh_sample(self.space, self.rng, avoid, tries)
                    meta["why"] = f"no untried mutation of trial {parent.number} found"
            issued += 1
            avoid.add(self.space.hash(G))
            out.append(Proposal(G, meta))
        return out
