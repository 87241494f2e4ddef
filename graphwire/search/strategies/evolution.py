"""Aging (regularized) evolution, Real et al. 2019: population P, tournament of S, mutate one
choice, the oldest dies. ``aging=False`` removes the worst instead (only for noise-free
objectives: it keeps lucky evaluations forever)."""

from __future__ import annotations

from .base import Proposal, Record, Strategy, completed, fresh_sample, seen_hashes


class Evolution(Strategy):
    """Stateless: the population is rebuilt from the history on every call (the newest P
    finished trials, or the best P with ``aging=False``), so any worker can propose."""

    name = "evolution"

    def __init__(self, *, population: int = 20, sample: int = 5, aging: bool = True, dedup: bool = True):
        super().__init__()
        if population < 2 or not 1 <= sample <= population:
            from ...errors import ParameterError

            raise ParameterError(f"evolution: need population >= 2 and 1 <= sample <= population, "
                                 f"got population={population}, sample={sample}")
        self.population, self.sample, self.aging, self.dedup = population, sample, aging, dedup

    def options(self) -> dict:
        return {"population": self.population, "sample": self.sample, "aging": self.aging, "dedup": self.dedup}

    def propose(self, history: list[Record], n: int) -> list[Proposal]:
        done = sorted(completed(history), key=lambda r: r.number)
        avoid = seen_hashes(history) if self.dedup else set()
        issued = sum(1 for r in history if r.state != "failed")
        out = []
        for _ in range(n):
            if len(done) < self.population and issued < self.population:  # the random first generation
                G, meta = fresh_sample(self.space, self.rng, avoid, 100 if self.dedup else 1)
            else:
                pop = done[-self.population:] if self.aging else \
                    sorted(done, key=lambda r: r.value)[-self.population:]
                if not pop:  # the first generation is still running
                    G, meta = fresh_sample(self.space, self.rng, avoid, 100 if self.dedup else 1)
                else:
                    parent = max(self.rng.sample(pop, min(self.sample, len(pop))), key=lambda r: r.value)
                    meta = {"op": "mutate", "parent": parent.number}
                    for t in range(20):
                        G = self.space.mutate(parent.graph, self.rng)
                        if self.space.hash(G) not in avoid:
                            break
                    else:
                        meta["duplicate"] = True
            issued += 1
            avoid.add(self.space.hash(G))
            out.append(Proposal(G, meta))
        return out
