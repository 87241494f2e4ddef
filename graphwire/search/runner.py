"""The trial engine on Optuna's public API: one study per run, workers as OS processes sharing
its storage, a coordinator for stateful strategies.

Run directory::

    config.json          what the run searches (identity, options; no pickles)
    study.journal        the Optuna journal (default storage)
    strategy_state.json  the coordinator's strategy state (rl, pnas), saved after every update
    updates.jsonl        the strategy's update log (rl: entropy and baseline; pnas: rank correlation)
    logs/worker-<i>.log  each worker process's output

A trial is created in one storage write that holds the architecture (its choices as Optuna
params with their distributions), its hash and a short summary (user attributes ``hash``,
``nodes``, ``edges``, ``depth``) and how it was proposed (``op``, ``parent``, ...). Creation
happens under the run lock (:class:`~.storage.RunLock`) after checking, on a fresh view of the
study, that the budget has room and (for de-duplicating strategies) that the hash is new; so
workers never duplicate a graph, never overshoot ``trials`` and never create a trial nobody
asked for. Queued trials (rl, pnas, Optuna's retries) are taken with one atomic
``WAITING -> RUNNING`` storage update, and a worker that finds none stays idle.

Stale trials: on an RDB storage Optuna's own heartbeat does it (``record_heartbeat`` from a
thread, ``fail_stale_trials``, ``RetryHeartbeatStaleTrialCallback``). The journal storage has no
heartbeat, so there a worker writes a ``heartbeat`` user attribute every ``heartbeat`` seconds
while a trial runs, and any process fails a RUNNING trial silent for ``grace`` seconds (reason
in ``fail_reason``) and re-queues it with the same ``RetryHeartbeatStaleTrialCallback``.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import numbers
import os
import platform
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import networkx as nx

from ..errors import FormatError, GraphwireError, ParameterError
from ..graph import SCHEMA_VERSION
from ..io import atomic_write
from .checks import check_choice, check_float, check_int
from .hashing import HASH_VERSION
from .objective import Pruned, objective_from_spec
from .spaces import space_from_spec
from .storage import RunLock, _need_optuna, experimental_apis, open_storage, redact, storage_kind, storage_url
from .strategies import Proposal, Record, make_strategy
from .strategies.base import seen_hashes

CONFIG_FORMAT = "graphwire-search-run"
CONFIG_VERSION = 2
RUN_ATTR = "graphwire_run"        # the study user attribute holding the run's identity
STOP_ATTR = "graphwire_stopped"   # set by the coordinator when the run ends (workers read it)
IDENTITY = ("space", "strategy", "strategy_options", "objective", "pruner", "seed", "hash_version")
PRUNERS = ("none", "sha", "hyperband")
META_KEYS = ("op", "parent", "round", "blocks", "predicted", "logp", "actions", "tries", "why", "duplicate")
SUMMARY_KEYS = ("hash", "nodes", "edges", "depth")
_STATE = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}
MAX_WORKERS = 256
ENUMERATE_LIMIT = 50_000   # spaces with at most this many choice combinations can be listed whole


# ====================================================================== options
def make_pruner(name: str | None, epochs: int):
    optuna = _need_optuna()
    name = "none" if name is None else name
    check_choice("pruner", name, PRUNERS)
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1), reduction_factor=3)


def check_run_options(*, trials: Any, workers: Any = 1, heartbeat: Any = 5.0, grace: Any = 30.0,
                      pruner: Any = "none", seed: Any = 0, lock: Any = "symlink", max_retry: Any = 3,
                      poll: Any = 0.2) -> dict:
    """Every engine option checked (type, range, finiteness) before anything is created."""
    out = {"trials": check_int("trials", trials, lo=1),
           "workers": check_int("workers", workers, lo=1, hi=MAX_WORKERS),
           "heartbeat": check_float("heartbeat", heartbeat, lo=0.05, hi=3600.0),
           "grace": check_float("grace", grace, lo=0.0, lo_open=True, hi=86400.0),
           "pruner": check_choice("pruner", "none" if pruner is None else pruner, PRUNERS),
           "seed": check_int("seed", seed, lo=0, hi=2 ** 31 - 1),
           "lock": check_choice("lock", lock, ("symlink", "open")),
           "max_retry": check_int("max_retry", max_retry, lo=0, hi=1000),
           "poll": check_float("poll", poll, lo=0.0, lo_open=True, hi=60.0)}
    if out["grace"] <= out["heartbeat"]:
        raise ParameterError(f"grace must be longer than heartbeat ({out['heartbeat']} s), got {out['grace']} "
                             "(a trial would be declared dead between two heartbeats)")
    return out


def load_config(run_dir: str | os.PathLike) -> dict:
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise ParameterError(f"{str(run_dir)!r} is not a search run directory (no config.json); "
                             "start one with `graphwire search run`")
    try:
        cfg = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise FormatError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(cfg, dict):
        raise FormatError(f"{path}: expected a JSON object, got {type(cfg).__name__}")
    need = ("format", "run_id", "study_name", "storage", "trials", *IDENTITY)
    missing = [k for k in need if k not in cfg]
    if missing or cfg.get("format") != CONFIG_FORMAT:
        what = f"misses the field(s) {missing}" if missing else f"field 'format' is not {CONFIG_FORMAT!r}"
        raise FormatError(f"{path}: {what}; it was not written by this graphwire version's "
                          "`graphwire search run` (start a new run in another --dir)")
    return cfg


# ====================================================================== params <-> choices
class Codec:
    """A space's choices as Optuna params: one categorical distribution per dimension (values
    that Optuna cannot hold are stored as their JSON text). Only active dimensions become
    params; decoding fills the inactive ones with their first value."""

    def __init__(self, space):
        optuna = _need_optuna()
        self.space = space
        self.dims = space.dims
        self.dists, self.text = {}, set()
        for k, vals in self.dims.items():
            if all(v is None or isinstance(v, (bool, int, float, str)) for v in vals):
                self.dists[k] = optuna.distributions.CategoricalDistribution(list(vals))
            else:
                self.text.add(k)
                self.dists[k] = optuna.distributions.CategoricalDistribution([json.dumps(v) for v in vals])

    def params(self, choices: dict) -> dict:
        active = set(self.space.active(choices))
        return {k: (json.dumps(v) if k in self.text else v) for k, v in choices.items() if k in active}

    def choices(self, params: dict) -> dict:
        out = {}
        for k, vals in self.dims.items():
            if k not in params:
                out[k] = vals[0]
            else:
                out[k] = json.loads(params[k]) if k in self.text else params[k]
        return out

    def distributions(self, params: dict) -> dict:
        return {k: self.dists[k] for k in params}


def graph_summary(G: nx.DiGraph) -> dict:
    """Nodes, edges and depth (edges on the longest path) of a graph."""
    longest: dict = {}
    for n in nx.topological_sort(G):
        longest[n] = max((longest[p] + 1 for p in G.predecessors(n)), default=0)
    return {"nodes": G.number_of_nodes(), "edges": G.number_of_edges(), "depth": max(longest.values(), default=0)}


def _scalar(v: Any) -> Any:
    return v if v is None or isinstance(v, (bool, int, float, str)) else json.dumps(v)


# ====================================================================== one run's context
class Run:
    """Everything a coordinator or worker needs, rebuilt from config.json."""

    def __init__(self, run_dir: str | os.PathLike, *, space=None, objective=None, processes: int = 1):
        optuna = _need_optuna()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.dir = Path(run_dir)
        self.cfg = cfg = load_config(run_dir)
        self.space = space if space is not None else space_from_spec(cfg["space"])
        self.objective = objective if objective is not None else objective_from_spec(cfg["objective"])
        self.url = cfg["storage"]
        self.kind = storage_kind(self.url)
        self.storage = open_storage(self.url, processes=processes, lock=cfg.get("lock", "symlink"),
                                    heartbeat=cfg.get("heartbeat"), grace=cfg.get("grace"),
                                    max_retry=cfg.get("max_retry", 3))
        try:
            self.study = optuna.load_study(study_name=cfg["study_name"], storage=self.storage,
                                           sampler=optuna.samplers.RandomSampler(seed=cfg["seed"]),
                                           pruner=make_pruner(cfg["pruner"], cfg.get("epochs") or 1))
        except KeyError:
            raise ParameterError(f"storage {redact(self.url)!r} holds no study {cfg['study_name']!r} "
                                 f"(run {cfg['run_id']}); rerun `graphwire search run` to create it") from None
        ident = self.study.user_attrs.get(RUN_ATTR) or {}
        if ident.get("run_id") != cfg["run_id"]:
            raise ParameterError(f"storage {redact(self.url)!r}: study {cfg['study_name']!r} belongs to run "
                                 f"{ident.get('run_id')!r}, not to this run ({cfg['run_id']})")
        self.study_id = self.storage.get_study_id_from_name(cfg["study_name"])
        self.lock = RunLock(self.url, cfg["study_name"], lock=cfg.get("lock", "symlink"))
        self.codec = Codec(self.space)
        self._graphs: dict[Any, nx.DiGraph] = {}
        self._records: dict[int, Record] = {}
        # finished trials never change: counts and history over the finished trials 0..n-1 are
        # kept, so reading a study costs the same at trial 10 and at trial 10,000
        self._tally: dict = {"n": 0, "complete": 0, "pruned": 0, "failed": 0, "best": None}
        self._done_records: tuple[int, list[Record]] = (0, [])
        self._last_sweep = 0.0
        self._universe: dict | None = None

    # -------------------------------------------------------------- graphs
    def graph(self, params: dict) -> nx.DiGraph:
        """The graph a trial's params make (decoded once per distinct params)."""
        key = tuple(sorted((k, json.dumps(v)) for k, v in params.items()))
        G = self._graphs.get(key)
        if G is None:
            G = self._graphs[key] = self.space.decode(self.codec.choices(params))
        return G

    def universe(self) -> dict | None:
        """Every distinct graph of a small space by hash (None when the space is too large to list)."""
        if self._universe is None:
            sp = self.space
            if hasattr(sp, "enumerate") and callable(sp.enumerate) and sp.size() <= 10 ** 7:
                graphs = sp.enumerate()
            elif sp.size() <= ENUMERATE_LIMIT:
                import itertools

                graphs = []
                keys = list(sp.dims)
                for combo in itertools.product(*(sp.dims[k] for k in keys)):
                    try:
                        graphs.append(sp.decode(dict(zip(keys, combo))))
                    except GraphwireError:
                        continue
            else:
                return None
            self._universe = {}
            for G in graphs:
                self._universe.setdefault(sp.hash(G), G)
        return self._universe

    # -------------------------------------------------------------- trials
    def trials(self, states=None) -> list:
        return self.study.get_trials(deepcopy=False, states=states)

    def record(self, ft) -> Record | None:
        rec = self._records.get(ft.number)
        if rec is not None:
            return rec
        attrs = ft.user_attrs
        if "hash" not in attrs or not ft.params:
            return None
        try:
            G = self.graph(ft.params)
        except GraphwireError:
            return None
        state = _STATE.get(ft.state.name, "failed")
        value = ft.value if ft.state.name == "COMPLETE" else None
        if ft.state.name == "PRUNED" and ft.intermediate_values:
            value = ft.intermediate_values[max(ft.intermediate_values)]
        meta = {k: attrs[k] for k in META_KEYS if k in attrs}
        retry = ft.system_attrs.get("failed_trial")
        if retry is not None:
            meta["retry_of"] = retry
        if str(attrs.get("fail_reason", "")).startswith("stale"):
            meta["stale"] = True
        finished = ft.datetime_complete.timestamp() if ft.datetime_complete else None
        rec = Record(ft.number, G, attrs["hash"], value, state, meta, finished=finished,
                     intermediate=dict(ft.intermediate_values))
        if ft.state.is_finished():
            self._records[ft.number] = rec
        return rec

    @staticmethod
    def _finished_prefix(trials: list, n: int) -> int:
        """How far the finished trials 0..n-1 extend into ``trials`` (a study's trials in number
        order); -1 when ``trials`` does not start with trials 0..n-1 (a filtered list)."""
        if n and (len(trials) < n or trials[n - 1].number != n - 1):
            return -1
        while n < len(trials) and trials[n].number == n and trials[n].state.is_finished():
            n += 1
        return n

    def history(self, trials=None) -> list[Record]:
        trials = trials if trials is not None else self.trials()
        n, done = self._done_records
        end = self._finished_prefix(trials, n)
        if end < 0:
            n, done, end = 0, [], 0
        elif end > n:
            done = done + [r for r in map(self.record, trials[n:end]) if r is not None]
            self._done_records = (end, done)
        return done + [r for r in map(self.record, trials[end:]) if r is not None]

    @staticmethod
    def _count(c: dict, t) -> None:
        c[_STATE.get(t.state.name, "failed")] += 1
        if t.state.name == "COMPLETE" and t.value is not None and (c["best"] is None or t.value > c["best"][0]):
            c["best"] = (t.value, t.number)

    def counts(self, trials=None) -> dict:
        trials = trials if trials is not None else self.trials()
        tally = self._tally
        start = tally["n"]
        end = self._finished_prefix(trials, start)
        if end < 0:  # not the study's full list: count it all
            tally, end = {"n": 0, "complete": 0, "pruned": 0, "failed": 0, "best": None}, 0
        elif end > start:
            tally = dict(tally, n=end)
            for t in trials[start:end]:
                self._count(tally, t)
            self._tally = tally
        c = {"complete": tally["complete"], "pruned": tally["pruned"], "failed": tally["failed"], "running": 0,
             "waiting": 0, "best": tally["best"]}
        for t in trials[end:]:
            self._count(c, t)
        best = c.pop("best")
        c["done"] = c["complete"] + c["pruned"]
        c["best"] = best
        return c

    def failure_cap(self) -> int:
        return max(self.cfg["trials"], 10)

    def finished(self, c: dict) -> bool:
        return c["done"] >= self.cfg["trials"] or c["failed"] >= self.failure_cap()

    def room(self, c: dict) -> int:
        """How many more trials may be created now (never past ``trials``)."""
        return self.cfg["trials"] - c["done"] - c["running"] - c["waiting"]

    def stopped(self) -> str | None:
        return self.study.user_attrs.get(STOP_ATTR)

    def stop(self, reason: str | None) -> None:
        self.study.set_user_attr(STOP_ATTR, reason)

    def create(self, proposal: Proposal, *, state: str, seed: int, worker: str | None = None,
               number: int | None = None):
        """Create a trial holding the proposal (params, distributions, hash, summary, meta) in one
        storage write; returns (trial id, frozen trial). ``number``: the number the trial should
        get (the study's trial count, read under the run lock), checked with one storage read."""
        optuna = _need_optuna()
        G = proposal.graph
        params = self.codec.params(self.space.encode(G))
        attrs = {"hash": self.space.hash(G), **graph_summary(self.space.network(G)), "seed": seed}
        attrs.update({k: _scalar(v) for k, v in proposal.meta.items() if k in META_KEYS})
        if worker:
            attrs["worker"] = worker
        st = optuna.trial.TrialState.RUNNING if state == "running" else optuna.trial.TrialState.WAITING
        dists = self.codec.distributions(params)
        ft = optuna.trial.create_trial(state=st, params=params, distributions=dists, user_attrs=attrs)
        tid = self.storage.create_new_trial(self.study_id, template_trial=ft)
        # the trial as stored, without reading it back (on an RDB storage a read is 6 statements)
        return tid, optuna.trial.FrozenTrial(
            number=self._number(tid, number), state=st, value=None, datetime_start=ft.datetime_start,
            datetime_complete=None, params=params, distributions=dists, user_attrs=attrs, system_attrs={},
            intermediate_values={}, trial_id=tid)

    def _number(self, tid: int, guess: int | None) -> int:
        if guess is not None and self.kind != "journal":
            try:
                if self.storage.get_trial_id_from_study_id_trial_number(self.study_id, guess) == tid:
                    return guess
            except KeyError:
                pass
        return self.storage.get_trial_number_from_id(tid)

    def tell(self, tid: int, state: str, value: float | None = None, intermediate: dict | None = None) -> None:
        """Finish a running trial: ``complete`` with ``value``, ``pruned`` (its value is the last
        finite intermediate value, as Optuna's ``Study.tell`` stores it) or ``failed``; one
        storage write. Raises RuntimeError when the trial is finished already (failed as stale
        by another process)."""
        optuna = _need_optuna()
        TS = optuna.trial.TrialState
        values = None
        if state == "complete":
            st, values = TS.COMPLETE, [float(value)]
        elif state == "pruned":
            st = TS.PRUNED
            if intermediate:
                last = intermediate[max(intermediate)]
                values = [float(last)] if math.isfinite(last) else None
        else:
            st = TS.FAIL
        if self.kind == "journal" and self.storage.get_trial(tid).state.is_finished():  # in memory: free
            raise optuna.exceptions.UpdateFinishedTrialError(f"trial {tid} is finished already")
        self.storage.set_trial_state_values(tid, st, values)

    def pop_waiting(self, trials) -> tuple[int, Any] | None:
        """Take a queued trial (one atomic WAITING -> RUNNING update); None when there is none."""
        optuna = _need_optuna()
        for ft in trials:
            if ft.state.name != "WAITING":
                continue
            tid = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, ft.number)
            try:
                if self.storage.set_trial_state_values(tid, optuna.trial.TrialState.RUNNING):
                    if ft.params and "hash" in ft.user_attrs:  # queued by the engine: complete already
                        return tid, ft
                    return tid, self._complete_queued(tid)
            except (RuntimeError, ValueError):  # finished or taken by another process meanwhile
                continue
        return None

    def _complete_queued(self, tid: int):
        """A trial queued by ``study.enqueue_trial(choices)`` gets its params and summary written."""
        ft = self.storage.get_trial(tid)
        if ft.params and "hash" in ft.user_attrs:
            return ft
        fixed = ft.system_attrs.get("fixed_params") or {}
        choices = self.codec.choices({k: v for k, v in fixed.items() if k in self.codec.dims})
        G = self.space.decode(choices)
        params = self.codec.params(self.space.encode(G))
        for k, v in params.items():
            d = self.codec.dists[k]
            self.storage.set_trial_param(tid, k, d.to_internal_repr(v), d)
        attrs = {"hash": self.space.hash(G), **graph_summary(self.space.network(G)), "op": "enqueued",
                 "seed": random.Random(tid).randrange(2 ** 31)}
        for k, v in attrs.items():
            if k not in ft.user_attrs:
                self.storage.set_trial_user_attr(tid, k, v)
        return self.storage.get_trial(tid)

    # -------------------------------------------------------------- stale trials
    def sweep(self, *, force: bool = False) -> list[int]:
        """Fail stale RUNNING trials and re-queue them (throttled to once per heartbeat)."""
        now = time.time()
        if not force and now - self._last_sweep < float(self.cfg["heartbeat"]):
            return []
        self._last_sweep = now
        optuna = _need_optuna()
        if self.kind != "journal":
            if self.kind != "sqlite":
                with experimental_apis():
                    optuna.storages.fail_stale_trials(self.study)
            return []
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        grace, failed = float(self.cfg["grace"]), []
        for ft in self.trials(states=(optuna.trial.TrialState.RUNNING,)):
            last = max(float(ft.user_attrs.get("heartbeat", 0.0)),
                       ft.datetime_start.timestamp() if ft.datetime_start else now)
            if now - last <= grace:
                continue
            tid = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, ft.number)
            who = ft.user_attrs.get("worker", "?")
            try:
                self.storage.set_trial_user_attr(tid, "fail_reason",
                                                 f"stale: worker {who} silent for {now - last:.0f} s")
                self.study.tell(ft.number, state=optuna.trial.TrialState.FAIL)
            except (RuntimeError, ValueError, KeyError):  # finished, or failed by another process first
                continue
            failed.append(ft.number)
            gone = copy.deepcopy(ft)
            gone.user_attrs = {k: v for k, v in ft.user_attrs.items() if k not in ("heartbeat", "worker")}
            with experimental_apis():
                RetryHeartbeatStaleTrialCallback(max_retry=int(self.cfg.get("max_retry", 3)))(self.study, gone)
        return failed

    def log_event(self, name: str, entry: dict) -> None:
        with open(self.dir / name, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def close(self) -> None:
        self.lock.close()


# ====================================================================== proposals
def _propose_new(run: Run, strategy, history: list[Record], n: int) -> tuple[list[Proposal], str | None]:
    """Up to ``n`` proposals whose hashes are new (for de-duplicating strategies); returns them
    and, when the space has no untried graph left, the reason to stop."""
    dedup = bool(getattr(strategy, "dedup", False))
    avoid = seen_hashes(history) if dedup else set()
    out: list[Proposal] = []
    props = strategy.propose(history, n)
    if not props:
        return [], "the strategy has nothing more to propose"
    for p in props:
        h = run.space.hash(p.graph)
        if dedup and h in avoid:
            p = _replace_duplicate(run, strategy, history, avoid, p)
            if p is None:
                return out, f"the space is exhausted: all {len(run.universe() or {})} distinct graphs were tried"
            h = run.space.hash(p.graph)
        avoid.add(h)
        out.append(p)
    return out, None


def _replace_duplicate(run: Run, strategy, history, avoid: set, p: Proposal) -> Proposal | None:
    for _ in range(4):
        q = strategy.propose(history, 1)
        if q and run.space.hash(q[0].graph) not in avoid:
            return q[0]
    universe = run.universe()
    if universe is not None:
        fresh = sorted(h for h in universe if h not in avoid)
        if not fresh:
            return None
        h = strategy.rng.choice(fresh)
        return Proposal(universe[h], {"op": "sample", "why": f"{strategy.name} proposed tried graphs only"})
    for t in range(1000):
        G = run.space.sample(strategy.rng)
        if run.space.hash(G) not in avoid:
            return Proposal(G, {"op": "sample", "tries": t + 1, "why": f"{strategy.name} proposed tried graphs only"})
    return None


# ====================================================================== worker
class Heartbeat:
    """One thread per worker that keeps its running trial alive: ``beat(trial id)`` every
    ``every`` seconds, and at once when a trial starts if ``immediate`` (Optuna's RDB heartbeat
    never counts a trial without any heartbeat as stale). Starting and stopping a trial costs no
    thread start; ``stop()`` waits for a beat in flight when ``wait`` (a journal beat is a user
    attribute, which must not land after the trial's result)."""

    def __init__(self, beat, every: float, *, immediate: bool, wait: bool):
        self._beat, self._every, self._immediate, self._wait = beat, float(every), immediate, wait
        self._cv = threading.Condition()
        self._busy = threading.Lock()
        self._tid: int | None = None
        self._gen = 0
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self, tid: int) -> None:
        with self._cv:
            self._tid, self._gen = tid, self._gen + 1
            self._cv.notify()
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="graphwire-heartbeat", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._tid, self._gen = None, self._gen + 1
            self._cv.notify()
        if self._wait:
            with self._busy:  # a beat that began before stop() has finished
                pass

    def close(self) -> None:
        with self._cv:
            self._tid, self._gen, self._closed = None, self._gen + 1, True
            self._cv.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        gen, tid, due = -1, None, 0.0
        while True:
            with self._cv:
                while True:
                    if self._closed:
                        return
                    if self._gen != gen:
                        gen, tid = self._gen, self._tid
                        due = time.monotonic() + (0.0 if self._immediate else self._every)
                    left = due - time.monotonic()
                    if tid is not None and left <= 0:
                        break
                    self._cv.wait(None if tid is None else left)
                self._busy.acquire()  # under the condition: stop() cannot slip in between
            try:
                self._beat(tid)
                due = time.monotonic() + self._every
            except Exception:  # the trial finished (or was failed as stale) meanwhile
                tid = None
            finally:
                self._busy.release()


class Worker:
    """Evaluates trials: takes a queued one or (stateless strategies) creates its own proposal,
    trains it with a report each epoch, tells the result."""

    def __init__(self, run_dir, *, worker_id: int = 0, space=None, objective=None, processes: int = 1,
                 run: Run | None = None, verbose: bool = True):
        self.run = run if run is not None else Run(run_dir, space=space, objective=objective, processes=processes)
        cfg = self.run.cfg
        self.id = worker_id
        self.verbose = verbose
        self.name = f"{socket.gethostname()}:{os.getpid()}:w{worker_id}"
        self.strategy = make_strategy(cfg["strategy"], **cfg["strategy_options"])
        self.stateful = self.strategy.stateful
        if not self.stateful:
            self.strategy.setup(self.run.space, seed=cfg["seed"] * 1000 + worker_id * 7919 + os.getpid() % 997)
        self.rng = random.Random(f"{cfg['seed']}:{worker_id}:{os.getpid()}")
        self.timings: list[dict] = []
        self.stop_reason: str | None = None
        self.counts: dict | None = None  # the study's counts as this worker's last step read them
        rdb = self.run.kind in ("postgresql", "mysql")
        if rdb:
            every = float(self.run.storage.get_heartbeat_interval() or cfg["heartbeat"])
            self._heart = Heartbeat(self.run.storage.record_heartbeat, every, immediate=True, wait=False)
        else:
            self._heart = Heartbeat(lambda tid: self.run.storage.set_trial_user_attr(tid, "heartbeat", time.time()),
                                    float(cfg["heartbeat"]), immediate=False, wait=True)

    def step(self) -> str:
        """One trial or one poll: 'done' (budget used, or the run stopped), 'idle', or the trial's state.

        A stateless strategy's worker reads the study once, under the run lock, and there takes a
        queued trial or creates its own; a stateful strategy's worker only takes queued trials
        (an atomic update, no lock)."""
        run = self.run
        t0 = time.perf_counter()
        run.sweep()
        if self.stateful:
            trials = run.trials()
            c = self.counts = run.counts(trials)
            if run.finished(c):
                return "done"
            got = run.pop_waiting(trials)
            if got is None:
                return self._idle()
            return self.evaluate(*got, t0=t0)
        with run.lock:
            trials = run.trials()
            c = self.counts = run.counts(trials)
            if run.finished(c):
                return "done"
            got = run.pop_waiting(trials) if c["waiting"] else None
            if got is None:
                if run.room(c) <= 0:
                    return self._idle()
                props, why = _propose_new(run, self.strategy, run.history(trials), 1)
                if not props:
                    self.stop_reason = why
                    if c["running"] == 0 and c["waiting"] == 0:
                        run.stop(why)
                        return "done"
                    return "idle"
                got = run.create(props[0], state="running", seed=self.rng.randrange(2 ** 31), worker=self.name,
                                 number=len(trials))
        return self.evaluate(*got, t0=t0)

    def _idle(self) -> str:
        reason = self.run.stopped()
        if reason:
            self.stop_reason = reason
            return "done"
        return "idle"

    def evaluate(self, tid: int, ft, *, t0: float | None = None) -> str:
        run = self.run
        t_start = time.perf_counter()
        try:
            G = run.graph(ft.params)
            seed = int(ft.user_attrs.get("seed", 0))
        except (GraphwireError, ValueError, TypeError) as e:
            return self._fail(tid, ft.number, f"could not rebuild the graph: {type(e).__name__}: {e}")
        self._heart.start(tid)
        reported: dict[int, float] = {}
        prunes = run.cfg["pruner"] != "none"

        def report(value: float, epoch: int) -> None:
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"report: value must be a number, got {type(value).__name__} {value!r}")
            if math.isfinite(value):
                run.storage.set_trial_intermediate_value(tid, int(epoch), float(value))
                reported[int(epoch)] = float(value)
                if prunes and run.study.pruner.prune(run.study, run.storage.get_trial(tid)):
                    raise Pruned(f"pruned at epoch {epoch}")

        state, value, reason = "complete", None, None
        if hasattr(run.objective, "last_params"):
            run.objective.last_params = None  # never report the previous trial's size
        try:
            value = run.objective(G, report, space=run.space, seed=seed)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                state, reason = "failed", (f"objective returned {type(value).__name__} {value!r:.80}, "
                                           "expected a number (int or float)")
            elif not math.isfinite(value):
                state, reason = "failed", f"objective returned {value}"
            else:
                value = float(value)
        except Pruned as e:
            state, reason = "pruned", str(e)
        except Exception as e:
            state, reason = "failed", f"{type(e).__name__}: {str(e)[:500]}"
        finally:
            self._heart.stop()
        t_end = time.perf_counter()
        try:
            n_params = getattr(run.objective, "last_params", None)
            if n_params is not None:
                run.storage.set_trial_user_attr(tid, "parameters", int(n_params))
            if state == "failed":
                run.storage.set_trial_user_attr(tid, "fail_reason", reason)
            run.tell(tid, state, value, reported)
        except (RuntimeError, ValueError) as e:  # failed as stale meanwhile: its retry owns the graph now
            print(f"[{self.name}] trial {ft.number}: result not stored ({type(e).__name__}: {e})", flush=True)
            return "lost"
        t_told = time.perf_counter()
        self.timings.append({"trial": ft.number, "engine_before": t_start - (t0 if t0 is not None else t_start),
                             "objective": t_end - t_start, "engine_after": t_told - t_end, "told": t_told,
                             "cpu": time.process_time()})
        if self.verbose:
            print(f"[{self.name}] trial {ft.number} {state} value={value} {reason or ''}", flush=True)
        return state

    def _fail(self, tid: int, number: int, reason: str) -> str:
        try:
            self.run.storage.set_trial_user_attr(tid, "fail_reason", reason)
            self.run.tell(tid, "failed")
        except (RuntimeError, ValueError) as e:
            reason += f" (and it could not be stored: {e})"
        print(f"[{self.name}] trial {number} failed: {reason}", flush=True)
        return "failed"

    def close(self) -> None:
        """Stop the heartbeat thread (a worker that runs no more trials)."""
        self._heart.close()

    def loop(self, *, poll: float = 0.2, max_idle: float | None = None) -> int:
        """Run trials until the run is over; returns how many this worker evaluated."""
        n, idle_since = 0, None
        while True:
            r = self.step()
            if r == "done":
                return n
            if r == "idle":
                idle_since = idle_since or time.time()
                if max_idle is not None and time.time() - idle_since > max_idle:
                    return n
                time.sleep(poll)
                continue
            idle_since = None
            n += 1


# ====================================================================== coordinator
class Coordinator:
    """Owns a stateful strategy (rl, pnas): observes finished trials, queues proposals so each
    worker has one waiting (never past the budget), saves the strategy state after every update."""

    def __init__(self, run_dir, *, workers: int, space=None, objective=None, processes: int = 1,
                 run: Run | None = None):
        self.run = run if run is not None else Run(run_dir, space=space, objective=objective, processes=processes)
        cfg = self.run.cfg
        self.workers = workers
        self.strategy = make_strategy(cfg["strategy"], **cfg["strategy_options"])
        self.strategy.setup(self.run.space, seed=cfg["seed"])
        self.observed: set[int] = set()
        self.stop_reason: str | None = None
        self.state_path = self.run.dir / "strategy_state.json"
        if self.strategy.stateful and self.state_path.exists():
            try:
                state = json.loads(self.state_path.read_text())
                self.strategy.load_state_dict(state["strategy"])
                self.observed = set(state["observed"])
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
                raise FormatError(f"{self.state_path}: the {self.strategy.name} strategy's saved state cannot be "
                                  f"read ({type(e).__name__}: {str(e)[:200]}); move the file away to restart the "
                                  "strategy from scratch (its finished trials stay in the study)") from None

    def save(self) -> None:
        atomic_write(self.state_path, json.dumps({"strategy": self.strategy.state_dict(),
                                                  "observed": sorted(self.observed)}))

    def step(self) -> dict:
        run = self.run
        run.sweep()
        trials = run.trials()
        c = run.counts(trials)
        if not self.strategy.stateful or run.finished(c):
            return c
        history = run.history(trials)
        new = [r for r in history if r.number not in self.observed and r.state in ("complete", "pruned", "failed")
               and not r.meta.get("stale")]
        if new:
            self.observed.update(r.number for r in new)
            entry = self.strategy.observe(new)
            if entry:
                run.log_event("updates.jsonl", dict(entry, strategy=self.strategy.name, at=time.time()))
            self.save()
        if min(self.workers - c["waiting"], run.room(c)) <= 0 or self.stop_reason:
            return c
        with run.lock:
            trials = run.trials()
            c = run.counts(trials)
            room = min(self.workers - c["waiting"], run.room(c))
            if room <= 0:
                return c
            props, why = _propose_new(run, self.strategy, run.history(trials), room)
            for i, p in enumerate(props):
                seed = random.Random(f"{run.cfg['seed']}:{len(trials)}:{run.space.hash(p.graph)}").randrange(2 ** 31)
                run.create(p, state="waiting", seed=seed, number=len(trials) + i)
            c["waiting"] += len(props)
        if props:
            self.save()
        if why and c["waiting"] == 0 and c["running"] == 0:
            self.stop_reason = why
            run.stop(why)
        return c


# ====================================================================== entry points
def _progress_line(c: dict, total: int) -> str:
    best = "-" if c["best"] is None else f"{c['best'][0]:.4f} (#{c['best'][1]})"
    return (f"trials {c['done']}/{total} done, {c['running']} running, {c['waiting']} queued, "
            f"{c['failed']} failed, {c['pruned']} pruned; best {best}")


def _identity(cfg: dict) -> dict:
    return {"run_id": cfg["run_id"], **{k: cfg[k] for k in IDENTITY}, "created": cfg["created"],
            "storage": redact(cfg["storage"]), "schema_version": cfg["schema_version"]}


def init_run(run_dir, *, space, strategy: str, objective, trials: int, epochs: int | None = None,
             storage: str | None = None, pruner: str | None = "none", seed: int = 0,
             strategy_options: dict | None = None, heartbeat: float = 5.0, grace: float = 30.0,
             lock: str = "symlink", workers: int = 1, max_retry: int = 3, quiet: bool = False) -> dict:
    """Check every option, then create the run directory and its study, or check that an
    existing one is the same search (resume). Returns the config."""
    optuna = _need_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    opts = check_run_options(trials=trials, workers=workers, heartbeat=heartbeat, grace=grace, pruner=pruner,
                             seed=seed, lock=lock, max_retry=max_retry)
    if epochs is not None:
        check_int("epochs", epochs, lo=1, hi=100_000)
    sp = space_from_spec(space)
    obj = objective_from_spec(objective, **({"epochs": epochs} if epochs is not None else {}))
    strat = make_strategy(strategy, **(strategy_options or {}))
    strat.setup(sp, seed=opts["seed"])  # a strategy that cannot search this space says so now
    run_dir = Path(run_dir)
    cfg = {"format": CONFIG_FORMAT, "version": CONFIG_VERSION, "space": sp.spec(), "strategy": strat.name,
           "strategy_options": strat.options(), "objective": obj.spec(), "epochs": obj.epochs,
           "trials": opts["trials"], "pruner": opts["pruner"], "seed": opts["seed"],
           "storage": storage_url(storage, run_dir), "heartbeat": opts["heartbeat"], "grace": opts["grace"],
           "lock": opts["lock"], "max_retry": opts["max_retry"], "hash_version": HASH_VERSION,
           "schema_version": SCHEMA_VERSION}
    path = run_dir / "config.json"
    notes = []
    if path.exists():  # resume: the same search (the budget and the engine's timing may change)
        old = load_config(run_dir)
        for k in IDENTITY:
            if old.get(k) != cfg[k]:
                raise ParameterError(f"{run_dir}: this run was started with {k}={old.get(k)!r}, not {cfg[k]!r}; "
                                     f"resume with the same {k}, or start a new run in another --dir")
        if storage is not None and old["storage"] != cfg["storage"]:
            raise ParameterError(f"{run_dir}: this run's storage is {redact(old['storage'])!r}, not "
                                 f"{redact(cfg['storage'])!r}; resume without --storage or with the same one")
        for k in ("trials", "heartbeat", "grace", "lock", "max_retry"):
            if old.get(k) != cfg[k]:
                notes.append(f"{k} {old.get(k)} -> {cfg[k]}")
        cfg = dict(old, **{k: cfg[k] for k in ("trials", "heartbeat", "grace", "lock", "max_retry")})
    else:
        cfg.update(run_id=uuid.uuid4().hex[:12], created=datetime.datetime.now().isoformat(timespec="seconds"))
        cfg["study_name"] = f"graphwire-{cfg['strategy']}-{cfg['run_id']}"
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        st = open_storage(cfg["storage"], processes=opts["workers"], lock=cfg["lock"])
        _claim_study(optuna, st, cfg)
    except GraphwireError:
        if not path.exists():
            _remove_if_empty(run_dir)
        raise
    atomic_write(path, json.dumps(cfg, indent=2))
    if notes and not quiet:
        print(f"resuming run {cfg['run_id']} with {', '.join(notes)}; its search (space, strategy, objective, "
              "pruner, seed) is unchanged", flush=True)
    return cfg


def _claim_study(optuna, st, cfg: dict) -> None:
    """Create this run's study, or check that the storage's study is this run's; refuse storage
    that holds another run (a journal holds one run)."""
    summaries = optuna.get_all_study_summaries(st, include_best_trial=False)
    for s in summaries:
        ident = s.user_attrs.get(RUN_ATTR)
        if s.study_name == cfg["study_name"]:
            if not ident or ident.get("run_id") != cfg["run_id"]:
                raise ParameterError(f"storage {redact(cfg['storage'])!r} already holds a study named "
                                     f"{cfg['study_name']!r} that is not this run; use another storage")
        elif storage_kind(cfg["storage"]) == "journal":
            what = (f"run {ident['run_id']} ({ident.get('strategy')} on {ident.get('space', {}).get('kind')}, "
                    f"started {ident.get('created')})" if ident else f"the study {s.study_name!r}")
            raise ParameterError(f"storage {redact(cfg['storage'])!r} holds {what}, not this run "
                                 f"({cfg['run_id']}); give this run its own journal (a new --dir or --storage)")
    if not any(s.study_name == cfg["study_name"] for s in summaries):
        study = optuna.create_study(study_name=cfg["study_name"], storage=st, direction="maximize")
        study.set_user_attr(RUN_ATTR, _identity(cfg))
        with experimental_apis():
            study.set_metric_names(["value"])


def _remove_if_empty(d: Path) -> None:
    try:
        d.rmdir()
    except OSError:
        pass


def spawn_worker(run_dir, worker_id: int, *, env: dict | None = None) -> subprocess.Popen:
    """Start ``graphwire search worker`` as a separate OS process (its output to logs/)."""
    logs = Path(run_dir) / "logs"
    logs.mkdir(exist_ok=True)
    out = open(logs / f"worker-{worker_id}.log", "a")
    e = dict(os.environ)
    e.setdefault("OMP_NUM_THREADS", "1")
    e.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "graphwire", "search", "worker", "--dir", str(run_dir),
                             "--id", str(worker_id)], stdout=out, stderr=subprocess.STDOUT, env=e)


def budget_warning(strategy, trials: int) -> str | None:
    hook = getattr(strategy, "budget_warning", None)
    return hook(trials) if callable(hook) else None


def run(space, strategy: str = "random", objective: Any = "train", *, trials: int = 20, epochs: int | None = None,
        workers: int = 1, dir: str | os.PathLike = "runs/search", storage: str | None = None,
        pruner: str | None = "none", seed: int = 0, strategy_options: dict | None = None,
        progress: bool = True, heartbeat: float = 5.0, grace: float = 30.0, poll: float = 0.2,
        lock: str = "symlink", max_retry: int = 3) -> dict:
    """Run (or resume: call it again with the same ``dir``) a search; returns a summary.

    ``space``: a :class:`~graphwire.search.spaces.SearchSpace`, a built-in name (``macro``,
    ``cell``, ``generator``) or ``module:function`` of a decorated space. ``strategy``: random,
    evolution, rl, pnas or tpe. ``objective``: ``train``, ``tabular``, a ``module:function`` or
    an objective instance. With ``workers > 1`` every worker is its own OS process that rebuilds
    space and objective from their specs, so both must be built-ins or importable by name.
    ``lock``: the journal file lock, ``symlink`` (default) or ``open`` (NFSv3+). The summary's
    ``stopped`` says why the run ended (``budget``, ``failures``, or the strategy's reason).
    """
    opts = check_run_options(trials=trials, workers=workers, heartbeat=heartbeat, grace=grace, pruner=pruner,
                             seed=seed, lock=lock, max_retry=max_retry, poll=check_float("poll", poll, lo=0.001))
    cfg = init_run(dir, space=space, strategy=strategy, objective=objective, trials=trials, epochs=epochs,
                   storage=storage, pruner=pruner, seed=seed, strategy_options=strategy_options,
                   heartbeat=heartbeat, grace=grace, workers=workers, lock=lock, max_retry=max_retry,
                   quiet=not progress)
    workers, poll = opts["workers"], opts["poll"]
    in_process = workers <= 1
    sp_obj = space if in_process and not isinstance(space, (str, dict)) else None
    ob_obj = objective if in_process and callable(objective) and hasattr(objective, "spec") else None
    main = Run(dir, space=sp_obj, objective=ob_obj, processes=workers)
    coord = Coordinator(dir, workers=workers, run=main)
    warn = budget_warning(coord.strategy, cfg["trials"])
    if warn and progress:
        print(f"graphwire: warning: {warn}", file=sys.stderr, flush=True)
    main.stop(None)
    t0, last_print, last_line = time.time(), 0.0, ""
    procs: list[subprocess.Popen] = []
    worker = None
    stopped = None
    idle = 0
    # one in-process worker of a stateless strategy reads the study itself at every step: the
    # coordinator's own read is needed only when the worker found nothing to do
    lean = in_process and not coord.strategy.stateful
    counts = None
    try:
        if in_process:
            worker = Worker(dir, worker_id=0, run=main, verbose=progress)
        else:
            procs = [spawn_worker(dir, i) for i in range(workers)]
        while True:
            if counts is None or not lean:
                counts = coord.step()
            line = _progress_line(counts, cfg["trials"])
            if progress and (line != last_line and time.time() - last_print > 1.0 or time.time() - last_print > 60):
                print(line, flush=True)  # on change (at most once a second), else once a minute
                last_print, last_line = time.time(), line
            if main.finished(counts):
                stopped = "budget" if counts["done"] >= cfg["trials"] else "failures"
                break
            if coord.stop_reason:
                stopped = coord.stop_reason
                break
            if in_process:
                r = worker.step()
                counts = worker.counts if r != "idle" else None
                if r == "done" and worker.stop_reason:
                    stopped = worker.stop_reason
                    break
                if r == "idle":
                    c = worker.counts  # what the step just read
                    idle = idle + 1 if c["waiting"] == 0 and c["running"] == 0 else 0
                    if idle >= 3:  # nothing queued, nothing running, nothing proposed: nothing left to do
                        stopped = coord.stop_reason or "the strategy has nothing more to propose"
                        break
                    time.sleep(poll)
            else:
                if all(p.poll() is not None for p in procs):
                    counts = coord.step()
                    reason = main.stopped()
                    if reason or main.finished(counts):
                        stopped = reason or "budget"
                        break
                    raise ParameterError(f"all {workers} workers exited early; see {Path(dir) / 'logs'}")
                time.sleep(poll)
    finally:
        if worker is not None:
            worker.close()
        if stopped:
            main.stop(stopped)
        for p in procs:
            try:
                p.wait(timeout=600)
            except subprocess.TimeoutExpired:
                p.kill()
    counts = main.counts()
    if stopped not in (None, "budget", "failures") and progress:
        print(f"graphwire: the run stopped early: {stopped}", flush=True)
    if progress:
        print(_progress_line(counts, cfg["trials"]), flush=True)
    main.close()
    return {"dir": str(dir), "counts": counts, "seconds": round(time.time() - t0, 2), "best": counts["best"],
            "stopped": stopped, "timings": worker.timings if worker else None, "machine": platform.node(),
            "run_id": cfg["run_id"], "study_name": cfg["study_name"]}


def worker_main(run_dir, *, worker_id: int = 0, max_idle: float | None = 600.0) -> int:
    """Entry point of ``graphwire search worker``."""
    if max_idle is not None:
        max_idle = check_float("max-idle", max_idle, lo=0.0)
    check_int("id", worker_id, lo=0, hi=10 ** 6)
    cfg = load_config(run_dir)
    w = Worker(run_dir, worker_id=worker_id, processes=2)
    try:
        n = w.loop(max_idle=max_idle)
    except KeyboardInterrupt:
        return 130
    finally:
        w.close()
    print(f"[{w.name}] finished: {n} trial(s) of {cfg['trials']}" +
          (f" ({w.stop_reason})" if w.stop_reason else ""), flush=True)
    return 0

