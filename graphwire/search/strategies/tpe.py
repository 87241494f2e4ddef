"""Optuna's TPE over the space's flat encoding, for comparison.

The inner in-memory study is rebuilt incrementally from the trial history (every finished
record becomes an Optuna trial with the record's choices), so nothing needs saving.
"""

from __future__ import annotations

from ...errors import GraphwireError
from ..storage import experimental_apis
from .base import Proposal, Record, Strategy


class TPE(Strategy):
    name = "tpe"

    def __init__(self, *, startup: int = 10, multivariate: bool = True):
        super().__init__()
        self.startup, self.multivariate = startup, multivariate
        self._study = None
        self._added: set[int] = set()

    def options(self) -> dict:
        return {"startup": self.startup, "multivariate": self.multivariate}

    def _ensure(self):
        import optuna

        if self._study is None:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            with experimental_apis():
                sampler = optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=self.startup,
                                                     multivariate=self.multivariate, constant_liar=True)
            self._study = optuna.create_study(direction="maximize", sampler=sampler)
            self._dists = {k: optuna.distributions.CategoricalDistribution(v) for k, v in self.space.dims.items()}
        return self._study

    def _sync(self, history: list[Record]) -> None:
        import optuna

        study = self._ensure()
        for r in history:
            if r.number in self._added or r.state not in ("complete", "pruned", "failed") or r.hash is None:
                continue
            try:
                params = self.space.encode(r.graph)
            except GraphwireError:  # not a graph of this space (e.g. from a user's own proposal)
                continue
            self._added.add(r.number)
            if r.state == "failed" or r.value is None:
                t = optuna.trial.create_trial(params=params, distributions=self._dists,
                                              state=optuna.trial.TrialState.FAIL)
            else:
                t = optuna.trial.create_trial(params=params, distributions=self._dists, value=float(r.value))
            study.add_trial(t)

    def propose(self, history: list[Record], n: int) -> list[Proposal]:
        import optuna

        self._sync(history)
        study = self._study
        out = []
        while len(out) < n:
            trial = study.ask(self._dists)
            try:
                G = self.space.decode(trial.params)
            except GraphwireError:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            # the asked trial only lied about being RUNNING; the record comes back through history
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            out.append(Proposal(G, {"op": "tpe"}))
        return out
