"""Random search with de-duplication by graph hash."""

from __future__ import annotations

from ..checks import check_bool
from .base import Proposal, Record, Strategy, fresh_sample, seen_hashes


class RandomSearch(Strategy):
    """Uniform samples of the space, skipping graphs already tried (``dedup=False`` keeps them)."""

    name = "random"

    def __init__(self, *, dedup: bool = True):
        super().__init__()
        self.dedup = check_bool("random: dedup", dedup)

    def options(self) -> dict:
        return {"dedup": self.dedup}

    def propose(self, history: list[Record], n: int) -> list[Proposal]:
        avoid = seen_hashes(history) if self.dedup else set()
        out = []
        for _ in range(n):
            G, meta = fresh_sample(self.space, self.rng, avoid, 100 if self.dedup else 1)
            avoid.add(self.space.hash(G))
            out.append(Proposal(G, meta))
        return out
