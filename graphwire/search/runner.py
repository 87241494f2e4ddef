"""The trial engine: Optuna ask -> compile -> fit (report each epoch, prune) -> tell, in one or
several worker processes sharing one storage, with a coordinator for stateful strategies.

Run directory::

    config.json          what the run searches (space, strategy, objective specs; no pickles)
    study.journal        the Optuna journal (default storage)
    graphs/<hash>.json   every tried graph as node-link JSON (workers compile these files)
    strategy_state.json  the coordinator's strategy state (rl, pnas), saved after every update
    updates.jsonl        the strategy's update log (rl: entropy and baseline; pnas: rank correlation)
    logs/worker-<i>.log  each worker process's output

Leases: a worker writes a ``heartbeat`` user attribute when it starts a trial and every
``heartbeat`` seconds from a thread while it runs (Optuna's own heartbeat exists only for RDB
storages and only inside ``study.optimize``, not for ask/tell or the journal). Any process
sweeps RUNNING trials whose heartbeat is older than ``grace`` seconds: it marks them FAIL with
``fail_reason`` (the journal lets only the first ``tell`` win, so two sweepers cannot both
claim one) and re-enqueues the same choices with ``retry_of``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import socket
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from ..errors import GraphwireError, ParameterError
from ..graph import SCHEMA_VERSION
from ..io import atomic_write
from ._graphio import graph_from_text, graph_to_text
from .hashing import HASH_VERSION
from .objective import Pruned, objective_from_spec
from .spaces import space_from_spec
from .storage import _need_optuna, open_storage, storage_url
from .strategies import Proposal, Record, make_strategy

STUDY_NAME = "graphwire-search"
_STATE = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}


# ====================================================================== configuration
def make_pruner(name: str | None, epochs: int):
    optuna = _need_optuna()
    if name in (None, "none"):
        return optuna.pruners.NopPruner()
    if name in ("sha", "successive_halving"):
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1), reduction_factor=3)
    raise ParameterError(f"pruner must be 'none', 'sha' or 'hyperband', got {name!r}")


def load_config(run_dir: str | os.PathLike) -> dict:
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise ParameterError(f"{str(run_dir)!r} is not a search run directory (no config.json); "
                             "start one with `graphwire search run`")
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise ParameterError(f"{path}: config.json is not valid JSON ({e})") from None


# ====================================================================== shared context
class _Run:
    """Everything a coordinator or worker needs, rebuilt from config.json."""

    def __init__(self, run_dir: str | os.PathLike, *, space=None, objective=None, processes: int = 1):
        optuna = _need_optuna()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.dir = Path(run_dir)
        self.cfg = load_config(run_dir)
        self.space = space if space is not None else space_from_spec(self.cfg["space"])
        self.objective = objective if objective is not None else objective_from_spec(self.cfg["objective"])
        self.url = self.cfg["storage"]
        self.storage = open_storage(self.url, processes=processes, lock=self.cfg.get("lock", "symlink"))
        self.study = optuna.load_study(study_name=self.cfg["study_name"], storage=self.storage,
                                       sampler=optuna.samplers.RandomSampler(),
                                       pruner=make_pruner(self.cfg["pruner"], self.cfg["epochs"]))
        self.dims = self.space.dims
        self._graphs: dict[str, Any] = {}
        (self.dir / "graphs").mkdir(exist_ok=True)

    # -------------------------------------------------------------- graphs on disk
    def graph_path(self, h: str) -> Path:
        return self.dir / "graphs" / f"{h}.json"

    def save_graph(self, G, h: str) -> str:
        path = self.graph_path(h)
        if not path.exists():
            atomic_write(path, graph_to_text(G))
        return f"graphs/{h}.json"

    def load_graph(self, info: dict) -> Any:
        """A trial's graph: its stored JSON file (or, on a machine without the file, decoded
        from its recorded choices and written)."""
        h = info.get("hash")
        if h in self._graphs:
            return self._graphs[h]
        path = self.dir / info["graph_file"] if "graph_file" in info else None
        if path is not None and path.exists():
            G = graph_from_text(path.read_text())
        else:
            G = self.space.decode(info["choices"])
            h = self.space.hash(G)
            self.save_graph(G, h)
        self._graphs[h] = G
        return G

    def info(self, G, meta: dict, strategy: str, seed: int, **extra) -> dict:
        """The record stored with every trial (one user attribute, ``graphwire``)."""
        h = self.space.hash(G)
        return {"hash": h, "hash_version": HASH_VERSION, "schema_version": SCHEMA_VERSION, "strategy": strategy,
                "meta": meta, "seed": seed, "graph_file": self.save_graph(G, h), "choices": self.space.encode(G),
                **extra}

    # -------------------------------------------------------------- history
    def history(self, trials=None) -> list[Record]:
        out = []
        for ft in trials if trials is not None else self.study.get_trials(deepcopy=False):
            info = ft.user_attrs.get("graphwire")
            if not info:
                continue
            state = _STATE.get(ft.state.name, "failed")
            value = ft.value if ft.state.name == "COMPLETE" else None
            if ft.state.name == "PRUNED" and ft.intermediate_values:
                value = ft.intermediate_values[max(ft.intermediate_values)]
            try:
                G = self.load_graph(info)
            except GraphwireError:
                continue
            meta = dict(info.get("meta") or {})
            if "retry_of" in info:
                meta["retry_of"] = info["retry_of"]
            if str(ft.user_attrs.get("fail_reason", "")).startswith("stale heartbeat"):
                meta["swept"] = True
            out.append(Record(ft.number, G, info["hash"], value, state, meta))
        return out

    def counts(self, trials=None) -> dict:
        trials = trials if trials is not None else self.study.get_trials(deepcopy=False)
        c = {"complete": 0, "pruned": 0, "failed": 0, "running": 0, "waiting": 0}
        best = None
        for t in trials:
            c[_STATE.get(t.state.name, "failed")] += 1
            if t.state.name == "COMPLETE" and t.value is not None and (best is None or t.value > best[0]):
                best = (t.value, t.number)
        c["done"] = c["complete"] + c["pruned"]
        c["best"] = best
        return c

    def budget_left(self, counts: dict) -> bool:
        return counts["done"] + counts["running"] < self.cfg["trials"] and counts["failed"] < max(
            self.cfg["trials"], 10)

    # -------------------------------------------------------------- leases
    def sweep(self) -> list[int]:
        """Fail RUNNING trials whose heartbeat is stale and re-enqueue their choices."""
        optuna = _need_optuna()
        now, grace = time.time(), float(self.cfg["grace"])
        requeued = []
        for ft in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            beat = (ft.user_attrs.get("lease") or {}).get("heartbeat")
            if beat is None:
                beat = ft.datetime_start.timestamp() if ft.datetime_start else now
            if now - float(beat) <= grace:
                continue
            info = ft.user_attrs.get("graphwire") or {}
            who = (ft.user_attrs.get("lease") or {}).get("worker") or info.get("worker", "?")
            try:
                self.storage.set_trial_user_attr(ft._trial_id, "fail_reason",
                                                 f"stale heartbeat: worker {who} silent for {now - float(beat):.0f} s")
                self.study.tell(ft.number, state=optuna.trial.TrialState.FAIL)
            except (RuntimeError, ValueError):  # another process finished or swept it first
                continue
            if "hash" in info:
                info = {k: v for k, v in info.items() if k != "worker"}
                info.update(retry_of=ft.number, queued_by="sweep")
                self.study.enqueue_trial({}, user_attrs={"graphwire": info})
                requeued.append(ft.number)
        return requeued

    def log_event(self, name: str, entry: dict) -> None:
        with open(self.dir / name, "a") as f:
            f.write(json.dumps(entry) + "\n")


# ====================================================================== worker
class Worker:
    """Evaluates trials: pops a queued one (or, for stateless strategies, proposes its own),
    compiles its stored graph, trains with ``report`` each epoch, tells the result."""

    def __init__(self, run_dir, *, worker_id: int = 0, space=None, objective=None, processes: int = 1):
        self.run = _Run(run_dir, space=space, objective=objective, processes=processes)
        cfg = self.run.cfg
        self.id = worker_id
        self.name = f"{socket.gethostname()}:{os.getpid()}:w{worker_id}"
        self.strategy = make_strategy(cfg["strategy"], **cfg["strategy_options"])
        self.stateful = self.strategy.stateful
        if not self.stateful:
            self.strategy.setup(self.run.space, seed=cfg["seed"] * 1000 + worker_id * 7919 + os.getpid() % 997)
        self.rng = random.Random(cfg["seed"] * 31 + worker_id)
        self.timings: list[dict] = []

    def step(self) -> str:
        """One trial (or one poll). Returns 'done' (budget reached), 'idle', or the trial's state."""
        run, optuna = self.run, _need_optuna()
        t_ask = time.perf_counter()
        run.sweep()
        trials = run.study.get_trials(deepcopy=False)
        counts = run.counts(trials)
        if counts["done"] >= run.cfg["trials"] or counts["failed"] >= max(run.cfg["trials"], 10):
            return "done"
        if not run.budget_left(counts):  # the rest is running elsewhere (it may still fail and come back)
            return "idle"
        proposal = None
        if counts["waiting"] == 0:
            if self.stateful:
                return "idle"
            proposal = self.strategy.propose(run.history(trials), 1)[0]
        trial = run.study.ask()
        storage, tid = run.storage, trial._trial_id
        try:
            info = trial.user_attrs.get("graphwire")
            if info is None:  # a fresh trial: this worker's own proposal
                if proposal is None:  # lost a race for the last queued trial: a random candidate
                    proposal = Proposal(run.space.sample(self.rng), {"op": "fallback-random"})
                info = run.info(proposal.graph, proposal.meta, run.cfg["strategy"], self.rng.randrange(2 ** 31),
                                worker=self.name)
                storage.set_trial_user_attr(tid, "graphwire", info)
            seed = int(info.get("seed", 0))
            path = run.dir / info["graph_file"]
            if not path.exists():
                run.load_graph(info)
            G = graph_from_text(path.read_text())  # the worker compiles the stored JSON
        except Exception as e:
            return self._fail(trial, f"could not prepare the trial: {type(e).__name__}: {e}")
        t_start = time.perf_counter()
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(tid, stop), daemon=True)
        beat.start()
        intermediate: list[float] = []

        def report(value: float, epoch: int) -> None:
            intermediate.append(value)
            if math.isfinite(value):
                trial.report(float(value), int(epoch))
            if trial.should_prune():
                raise Pruned(f"pruned at epoch {epoch}")

        state, value, reason = "complete", None, None
        if hasattr(run.objective, "last_params"):
            run.objective.last_params = None  # never report the previous trial's size
        try:
            value = float(self.run.objective(G, report, space=run.space, seed=seed))
            if not math.isfinite(value):
                state, reason = "failed", f"objective returned {value}"
        except Pruned as e:
            state, reason = "pruned", str(e)
        except Exception as e:
            state, reason = "failed", f"{type(e).__name__}: {str(e)[:500]}"
        finally:
            stop.set()
            beat.join()
        t_end = time.perf_counter()
        try:
            result = {"seconds": round(t_end - t_start, 4)}
            if getattr(run.objective, "last_params", None) is not None:
                result["params"] = int(run.objective.last_params)
            if reason:
                result["reason"] = reason
            storage.set_trial_user_attr(tid, "result", result)
            if state == "complete":
                run.study.tell(trial, value)
            elif state == "pruned":
                run.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                storage.set_trial_user_attr(tid, "fail_reason", reason)
                run.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        except (RuntimeError, ValueError) as e:  # swept as stale meanwhile: the retry owns it now
            print(f"[{self.name}] trial {trial.number}: result not stored ({type(e).__name__}: {e})", flush=True)
            return "lost"
        t_told = time.perf_counter()
        self.timings.append({"trial": trial.number, "engine_before": t_start - t_ask, "objective": t_end - t_start,
                             "engine_after": t_told - t_end})
        print(f"[{self.name}] trial {trial.number} {state} value={value} {reason or ''}", flush=True)
        return state

    def _fail(self, trial, reason: str) -> str:
        optuna = _need_optuna()
        try:
            self.run.storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
            self.run.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        except (RuntimeError, ValueError) as e:
            reason += f" (and it could not be stored: {e})"
        print(f"[{self.name}] trial {trial.number} failed: {reason}", flush=True)
        return "failed"

    def _beat(self, tid: int, stop: threading.Event) -> None:
        every = float(self.run.cfg["heartbeat"])
        while not stop.wait(every):
            try:
                self.run.storage.set_trial_user_attr(tid, "lease", {"worker": self.name, "heartbeat": time.time()})
            except Exception:
                return

    def loop(self, *, poll: float = 0.2, max_idle: float | None = None) -> int:
        """Run trials until the budget is used; returns how many this worker evaluated."""
        n, idle_since = 0, None
        while True:
            r = self.step()
            if r == "done":
                return n
            if r == "idle":
                idle_since = idle_since or time.time()
                if max_idle is not None and time.time() - idle_since > max_idle:
                    return n
                if (self.run.dir / "coordinator.done").exists() and self.stateful:
                    return n
                time.sleep(poll)
                continue
            idle_since = None
            n += 1


# ====================================================================== coordinator
class Coordinator:
    """Owns a stateful strategy (rl, pnas): observes finished trials, queues proposals so each
    worker has one waiting, saves the strategy state after every update."""

    def __init__(self, run_dir, *, workers: int, space=None, objective=None, processes: int = 1):
        self.run = _Run(run_dir, space=space, objective=objective, processes=processes)
        cfg = self.run.cfg
        self.workers = workers
        self.strategy = make_strategy(cfg["strategy"], **cfg["strategy_options"])
        self.strategy.setup(self.run.space, seed=cfg["seed"])
        self.observed: set[int] = set()
        self.state_path = self.run.dir / "strategy_state.json"
        if self.strategy.stateful and self.state_path.exists():
            state = json.loads(self.state_path.read_text())
            self.strategy.load_state_dict(state["strategy"])
            self.observed = set(state["observed"])

    def save(self) -> None:
        atomic_write(self.state_path, json.dumps({"strategy": self.strategy.state_dict(),
                                                  "observed": sorted(self.observed)}))

    def step(self) -> dict:
        run = self.run
        run.sweep()
        trials = run.study.get_trials(deepcopy=False)
        counts = run.counts(trials)
        if not self.strategy.stateful:
            return counts
        history = run.history(trials)
        new = [r for r in history if r.number not in self.observed and r.state in ("complete", "pruned", "failed")
               and not (r.state == "failed" and r.meta.get("swept"))]
        if new:
            self.observed.update(r.number for r in new)
            entry = self.strategy.observe(new)
            if entry:
                run.log_event("updates.jsonl", dict(entry, strategy=self.strategy.name, at=time.time()))
            self.save()
        room = min(self.workers - counts["waiting"],
                   run.cfg["trials"] - counts["done"] - counts["running"] - counts["waiting"])
        if room > 0:
            props = self.strategy.propose(history, room)
            for p in props:
                info = run.info(p.graph, p.meta, self.strategy.name,
                                random.Random(f"{run.cfg['seed']}:{len(trials)}:{run.space.hash(p.graph)}").randrange(
                                    2 ** 31), queued_by="coordinator")
                run.study.enqueue_trial({}, user_attrs={"graphwire": info})
            if props:
                self.save()
            counts["waiting"] += len(props)
        return counts


# ====================================================================== entry points
def _progress_line(c: dict, total: int) -> str:
    best = "-" if c["best"] is None else f"{c['best'][0]:.4f} (#{c['best'][1]})"
    return (f"trials {c['done']}/{total} done, {c['running']} running, {c['waiting']} queued, "
            f"{c['failed']} failed, {c['pruned']} pruned; best {best}")


def init_run(run_dir, *, space, strategy: str, objective, trials: int, epochs: int | None = None,
             storage: str | None = None, pruner: str | None = "none", seed: int = 0,
             strategy_options: dict | None = None, heartbeat: float = 5.0, grace: float = 30.0,
             lock: str = "symlink", workers: int = 1) -> dict:
    """Create (or check and reuse, on resume) the run directory and its study."""
    optuna = _need_optuna()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    sp = space_from_spec(space)
    obj = objective_from_spec(objective, **({"epochs": epochs} if epochs is not None else {}))
    strat = make_strategy(strategy, **(strategy_options or {}))
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ParameterError(f"trials must be a positive int, got {trials!r}")
    cfg = {"space": sp.spec(), "strategy": strat.name, "strategy_options": strat.options(),
           "objective": obj.spec(), "epochs": obj.epochs, "trials": trials, "pruner": pruner or "none",
           "seed": seed, "storage": storage_url(storage, run_dir), "study_name": STUDY_NAME,
           "heartbeat": heartbeat, "grace": grace, "lock": lock, "hash_version": HASH_VERSION,
           "schema_version": SCHEMA_VERSION}
    path = run_dir / "config.json"
    if path.exists():  # resume: the run must be the same search (the budget may grow)
        old = json.loads(path.read_text())
        for k in ("space", "strategy", "strategy_options", "objective", "storage", "hash_version"):
            if old.get(k) != cfg[k]:
                raise ParameterError(f"{run_dir}: this run was started with {k}={old.get(k)!r}, not {cfg[k]!r}; "
                                     "use a new --dir")
        old.update(trials=trials)
        cfg = old
    make_pruner(cfg["pruner"], cfg["epochs"])
    st = open_storage(cfg["storage"], processes=workers, lock=lock)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=STUDY_NAME, storage=st, direction="maximize", load_if_exists=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.set_metric_names(["value"])
    atomic_write(path, json.dumps(cfg, indent=2))
    return cfg


def spawn_worker(run_dir, worker_id: int, *, env: dict | None = None) -> subprocess.Popen:
    """Start ``graphwire search worker`` as a separate OS process (its output to logs/)."""
    logs = Path(run_dir) / "logs"
    logs.mkdir(exist_ok=True)
    out = open(logs / f"worker-{worker_id}.log", "a")
    e = dict(os.environ)
    e.setdefault("OMP_NUM_THREADS", "1")
    pkg_root = str(Path(__file__).resolve().parents[2])
    e["PYTHONPATH"] = pkg_root + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "graphwire", "search", "worker", "--dir", str(run_dir),
                             "--id", str(worker_id)], stdout=out, stderr=subprocess.STDOUT, env=e)


def run(space, strategy: str = "random", objective: Any = "train", *, trials: int = 20, epochs: int | None = None,
        workers: int = 1, dir: str | os.PathLike = "runs/search", storage: str | None = None,
        pruner: str | None = "none", seed: int = 0, strategy_options: dict | None = None,
        progress: bool = True, heartbeat: float = 5.0, grace: float = 30.0, poll: float = 0.2,
        lock: str = "symlink") -> dict:
    """Run (or resume: call it again with the same ``dir``) a search; returns a summary.

    ``space``: a :class:`~graphwire.search.spaces.SearchSpace`, a built-in name (``macro``,
    ``cell``, ``generator``) or ``module:function`` of a decorated space. ``strategy``: random,
    evolution, rl, pnas or tpe. ``objective``: ``train`` (MNIST-1D), ``tabular``, a
    ``module:function`` or an objective instance. With ``workers > 1`` every worker is its own
    OS process that rebuilds space and objective from their specs, so both must be built-ins or
    importable by name. ``lock``: the journal file lock, ``symlink`` (default) or ``open``
    (for NFSv3+ shared file systems).
    """
    cfg = init_run(dir, space=space, strategy=strategy, objective=objective, trials=trials, epochs=epochs,
                   storage=storage, pruner=pruner, seed=seed, strategy_options=strategy_options,
                   heartbeat=heartbeat, grace=grace, workers=workers, lock=lock)
    done_flag = Path(dir) / "coordinator.done"
    if done_flag.exists():
        done_flag.unlink()
    in_process = workers <= 1
    sp_obj = space if in_process and not isinstance(space, (str, dict)) else None
    ob_obj = objective if in_process and callable(objective) and hasattr(objective, "spec") else None
    coord = Coordinator(dir, workers=max(workers, 1), space=sp_obj, objective=ob_obj, processes=max(workers, 1))
    t0, last_print, last_line = time.time(), 0.0, ""
    procs: list[subprocess.Popen] = []
    worker = None
    try:
        if in_process:
            worker = Worker(dir, worker_id=0, space=coord.run.space, objective=coord.run.objective)
        else:
            procs = [spawn_worker(dir, i) for i in range(workers)]
        while True:
            counts = coord.step()
            line = _progress_line(counts, cfg["trials"])
            if progress and (line != last_line and time.time() - last_print > 1.0 or time.time() - last_print > 60):
                print(line, flush=True)  # on change (at most once a second), else once a minute
                last_print, last_line = time.time(), line
            if counts["done"] >= cfg["trials"] or counts["failed"] >= max(cfg["trials"], 10):
                break
            if in_process:
                r = worker.step()
                if r == "done":
                    continue
                if r == "idle":
                    c = coord.step()
                    if c["waiting"] == 0 and c["running"] == 0:
                        break  # the strategy has nothing more to propose (e.g. pnas exhausted the space)
                    time.sleep(poll)
            else:
                if all(p.poll() is not None for p in procs):
                    counts = coord.step()
                    if counts["done"] < cfg["trials"] and coord.run.budget_left(counts):
                        raise ParameterError(f"all {workers} workers exited early; see {Path(dir) / 'logs'}")
                    break
                time.sleep(poll)
    finally:
        done_flag.write_text("done\n")
        for p in procs:
            try:
                p.wait(timeout=600)
            except subprocess.TimeoutExpired:
                p.kill()
    counts = coord.run.counts()
    if progress:
        print(_progress_line(counts, cfg["trials"]), flush=True)
    return {"dir": str(dir), "counts": counts, "seconds": round(time.time() - t0, 2),
            "best": counts["best"], "timings": worker.timings if worker else None,
            "machine": platform.node()}


def worker_main(run_dir, *, worker_id: int = 0, max_idle: float | None = 600.0) -> int:
    """Entry point of ``graphwire search worker``."""
    cfg = load_config(run_dir)
    w = Worker(run_dir, worker_id=worker_id, processes=2)
    try:
        n = w.loop(max_idle=max_idle)
    except KeyboardInterrupt:
        return 130
    except Exception:
        traceback.print_exc()
        return 1
    print(f"[{w.name}] finished: {n} trial(s) of {cfg['trials']}", flush=True)
    return 0
