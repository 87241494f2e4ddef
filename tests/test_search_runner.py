"""The trial engine: one study per run, trials created atomically with their architecture, workers
as OS processes on one journal, leases, failures, resume."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

optuna = pytest.importorskip("optuna")

from graphwire.cli import main
from graphwire.errors import ParameterError
from graphwire.search import _testing, runner

SLEEPY = "graphwire.search._testing:sleepy"
TABULAR = "tabular"


def _trials(d):
    r = runner.Run(d)
    return r, r.study.get_trials(deepcopy=True)


def _env(**kw):
    e = dict(os.environ, OMP_NUM_THREADS="1")
    e.update({k: str(v) for k, v in kw.items()})
    return e


def test_trials_hold_params_distributions_and_a_sortable_summary(tmp_path, monkeypatch):
    monkeypatch.setenv("GW_TEST_SLEEP", "0")
    out = runner.run("cell", "evolution", SLEEPY, trials=6, dir=tmp_path, progress=False,
                     strategy_options={"population": 3, "sample": 2})
    assert out["counts"]["complete"] == 6 and out["stopped"] == "budget"
    run, trials = _trials(tmp_path)
    space = run.space
    for t in trials:
        assert t.params and set(t.params) == set(space.active(space.encode(run.graph(t.params))))
        assert all(isinstance(d, optuna.distributions.CategoricalDistribution) for d in t.distributions.values())
        assert t.distributions["blocks"].choices == (1, 2)
        G = run.graph(t.params)
        assert t.user_attrs["hash"] == space.hash(G)
        net = space.network(G)
        assert t.user_attrs["nodes"] == net.number_of_nodes() and t.user_attrs["edges"] == net.number_of_edges()
        assert isinstance(t.user_attrs["depth"], int) and t.user_attrs["depth"] >= 2
        assert all(not isinstance(v, (dict, list)) for v in t.user_attrs.values())  # flat, sortable
        assert sorted(t.intermediate_values) == [1, 2, 3]
    assert any(t.user_attrs["op"] == "mutate" and isinstance(t.user_attrs["parent"], int) for t in trials[3:])
    ident = run.study.user_attrs[runner.RUN_ATTR]
    assert ident["run_id"] == run.cfg["run_id"] and ident["strategy"] == "evolution"
    assert run.study.study_name == run.cfg["study_name"] and run.cfg["run_id"] in run.study.study_name


def test_a_trivial_trial_costs_two_journal_writes(tmp_path):
    """Creation (architecture, hash, summary, meta in one record) and tell: nothing else."""
    runner.run("cell", "random", "graphwire.search._testing:instant", trials=5, dir=tmp_path / "a", progress=False)
    lines = (tmp_path / "a" / "study.journal").read_text().splitlines()
    ops = [json.loads(x)["op_code"] for x in lines]
    per_trial = [op for op in ops if op in (4, 5, 6, 7, 8, 9, 10)]  # trial operations
    assert len(per_trial) == 2 * 5, ops


@pytest.mark.parametrize("mode", ["finished", "all"])
def test_a_trivial_trial_costs_one_fsync(tmp_path, monkeypatch, mode):
    """The record that finishes a trial is flushed to the disk before tell returns; its creation
    (still running) is written without its own fsync and reaches the disk with it. With
    GRAPHWIRE_JOURNAL_FSYNC=all every record is flushed."""
    from graphwire.search.storage import _in_flight

    monkeypatch.setenv("GRAPHWIRE_JOURNAL_FSYNC", mode)
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_ino), real(fd))[1])
    runner.run("cell", "random", "graphwire.search._testing:instant", trials=6, dir=tmp_path, progress=False)
    journal = tmp_path / "study.journal"
    recs = [json.loads(x) for x in journal.read_text().splitlines()]
    on_journal = synced.count(journal.stat().st_ino)
    trial_ops = [r for r in recs if r["op_code"] in (4, 6)]
    assert len(trial_ops) == 2 * 6
    if mode == "all":
        assert on_journal == len(recs)
    else:
        assert on_journal == sum(not _in_flight(r) for r in recs)
        assert sum(not _in_flight(r) for r in trial_ops) == 6  # one per trial: its result
        assert all(_in_flight(r) for r in trial_ops if r["op_code"] == 4)


def test_counts_and_history_are_kept_for_finished_trials(tmp_path):
    """Counts and history over the finished trials are kept between reads; a partial list (one
    state only) is counted on its own, never mixed with what is kept."""
    calls = []

    def alternating(G, report, *, space, seed=0):
        calls.append(seed)
        if len(calls) % 3 == 0:
            raise RuntimeError("every third trial fails")
        return len(calls) / 10

    alternating.spec = lambda: {"kind": "function", "kwargs": {"target": "graphwire.search._testing:instant"}}
    alternating.epochs = 1
    runner.run("cell", "random", alternating, trials=6, dir=tmp_path, progress=False)
    run, trials = _trials(tmp_path)

    def recount(ts):
        best = max(((t.value, t.number) for t in ts if t.state.name == "COMPLETE"), key=lambda x: x[0], default=None)
        return {"complete": sum(t.state.name == "COMPLETE" for t in ts), "failed": sum(t.state.name == "FAIL" for t in ts),
                "best": best}

    for ts in (trials, trials, trials[:4], [t for t in trials if t.state.name == "COMPLETE"], trials):
        c = run.counts(ts)
        assert {k: c[k] for k in ("complete", "failed", "best")} == recount(ts)
        assert [r.number for r in run.history(ts)] == [t.number for t in ts]
    assert run.counts()["complete"] == 6 and run.counts()["failed"] == 2


def test_the_heartbeat_thread_serves_every_trial():
    def hearts():
        return sum(t.name == "graphwire-heartbeat" for t in threading.enumerate())

    beats = []
    before = hearts()
    hb = runner.Heartbeat(beats.append, 0.05, immediate=True, wait=False)
    hb.start(1)
    time.sleep(0.3)
    hb.stop()
    assert len(beats) >= 2 and set(beats) == {1}  # at once, then every 0.05 s
    for tid in (2, 3, 4):  # the same thread for every trial
        hb.start(tid)
        time.sleep(0.03)
        hb.stop()
        assert hearts() == before + 1
    time.sleep(0.1)
    n = len(beats)
    time.sleep(0.15)
    assert len(beats) == n  # stopped: no more beats
    hb.close()
    assert hearts() == before

    later = []  # journal style: the first beat after one period; stop() waits for a beat in flight
    hb = runner.Heartbeat(lambda tid: (time.sleep(0.3), later.append(tid)), 0.5, immediate=False, wait=True)
    hb.start(7)
    time.sleep(0.1)
    assert later == []
    time.sleep(0.55)  # the beat began at 0.5 s and lasts 0.3 s
    hb.stop()
    assert later == [7]
    hb.close()


def test_report_writes_best_graphs_and_plots(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("GW_TEST_SLEEP", "0")
    for name in ("random", "evolution"):
        runner.run("cell", name, SLEEPY, trials=5, dir=tmp_path / name, progress=False,
                   strategy_options={"population": 2, "sample": 2} if name == "evolution" else None)
    rc = main(["search", "report", "--dir", str(tmp_path / "random"), "--dir", str(tmp_path / "evolution"),
               "-o", str(tmp_path / "rep"), "--top", "2", "--no-svg"])
    out = capsys.readouterr().out
    assert rc == 0 and "== " in out and "rank trial" in out
    files = sorted(p.name for p in (tmp_path / "rep").iterdir())
    assert "search.png" in files and "report.txt" in files
    assert sum(f.startswith("random-best") and f.endswith(".json") for f in files) == 2
    best = max(t.value for t in _trials(tmp_path / "random")[1])
    assert f"{best:.4f}" in out


def test_resume_continues_without_rerunning(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GW_TEST_SLEEP", "0")
    runner.run("cell", "random", SLEEPY, trials=4, dir=tmp_path, progress=False)
    runner.run("cell", "random", SLEEPY, trials=7, dir=tmp_path)
    out = capsys.readouterr().out
    assert "resuming run" in out and "trials 4 -> 7" in out and "unchanged" in out
    _, trials = _trials(tmp_path)
    assert [t.number for t in trials] == list(range(7))
    assert len({t.user_attrs["hash"] for t in trials}) == 7
    with pytest.raises(ParameterError, match="started with strategy='random'"):
        runner.run("cell", "evolution", SLEEPY, trials=8, dir=tmp_path, progress=False)
    with pytest.raises(ParameterError, match="started with pruner='none', not 'sha'"):
        runner.run("cell", "random", SLEEPY, trials=8, dir=tmp_path, progress=False, pruner="sha")
    with pytest.raises(ParameterError, match="started with seed=0, not 3"):
        runner.run("cell", "random", SLEEPY, trials=8, dir=tmp_path, progress=False, seed=3)


def test_storage_holding_another_run_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("GW_TEST_SLEEP", "0")
    a = runner.run("cell", "random", SLEEPY, trials=3, dir=tmp_path / "a", progress=False)
    # a second run pointed at the first run's journal
    with pytest.raises(ParameterError, match=f"holds run {a['run_id']}.*not this run"):
        runner.run("cell", "random", SLEEPY, trials=3, dir=tmp_path / "b", progress=False,
                   storage=str(tmp_path / "a" / "study.journal"))
    # a cell run's journal copied into a macro run's directory
    runner.run("macro", "random", SLEEPY, trials=2, dir=tmp_path / "m", progress=False)
    (tmp_path / "m" / "study.journal").write_bytes((tmp_path / "a" / "study.journal").read_bytes())
    with pytest.raises(ParameterError, match="holds run .* not this run"):
        runner.run("macro", "random", SLEEPY, trials=3, dir=tmp_path / "m", progress=False)
    _, trials = _trials(tmp_path / "a")
    assert len(trials) == 3  # the other run is untouched


def test_failures_are_recorded_and_the_search_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(_testing.flaky, "calls", 0)  # raises, diverges, succeeds, in turn
    out = runner.run("cell", "random", "graphwire.search._testing:flaky", trials=4, dir=tmp_path, progress=False)
    assert out["counts"]["complete"] == 4 and out["counts"]["failed"] == 8
    _, trials = _trials(tmp_path)
    reasons = [t.user_attrs.get("fail_reason", "") for t in trials if t.state.name == "FAIL"]
    assert any(r.startswith("RuntimeError: boom") for r in reasons)
    assert any(r == "objective returned nan" for r in reasons)


def test_a_non_number_value_fails_the_trial_naming_its_type(tmp_path):
    out = runner.run("cell", "random", "graphwire.search._testing:text_value", trials=2, dir=tmp_path,
                     progress=False)
    assert out["counts"]["complete"] == 0 and out["stopped"] == "failures"
    _, trials = _trials(tmp_path)
    assert all(t.state.name == "FAIL" for t in trials)
    assert "objective returned str '0.75', expected a number" in trials[0].user_attrs["fail_reason"]


def test_no_completed_trial_exits_non_zero(tmp_path, capsys):
    rc = main(["search", "run", "cell", "--strategy", "random", "--objective", "graphwire.search._testing:text_value",
               "--trials", "2", "--dir", str(tmp_path)])
    assert rc == 1 and "no completed trial" in capsys.readouterr().err


def test_pruner_prunes_with_reports(tmp_path, monkeypatch):
    monkeypatch.setenv("GW_TEST_SLEEP", "0")
    monkeypatch.setenv("GW_TEST_EPOCHS", "9")
    out = runner.run("cell", "random", SLEEPY, trials=12, dir=tmp_path, progress=False, pruner="sha")
    assert out["counts"]["pruned"] > 0 and out["counts"]["done"] == 12


def test_a_finite_space_stops_when_exhausted(tmp_path):
    from graphwire.search import _testing

    distinct = {_testing.broken_chains.hash(_testing.broken_chains.decode({"depth": d, "fanout": 0}))
                for d in (1, 2, 3)}
    out = runner.run("graphwire.search._testing:broken_chains", "random", "graphwire.search._testing:instant",
                     trials=10 ** 12, dir=tmp_path, progress=False)
    assert out["counts"]["complete"] == len(distinct) == 3
    assert "exhausted" in out["stopped"] and "all 3 distinct graphs" in out["stopped"]


def test_evolution_warns_when_the_budget_never_leaves_the_first_generation(tmp_path, capsys):
    rc = main(["search", "run", "cell", "--strategy", "evolution", "--option", "population=5", "--objective",
               TABULAR, "--trials", "5", "--dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 0 and "warning: evolution: the budget (5 trials) does not exceed the population (5)" in err
    _, trials = _trials(tmp_path)
    assert all(t.user_attrs["op"] == "sample" for t in trials)
    rc = main(["search", "run", "cell", "--strategy", "evolution", "--option", "population=5", "--objective",
               TABULAR, "--trials", "9", "--dir", str(tmp_path / "b")])
    assert rc == 0 and "warning" not in capsys.readouterr().err


def test_enqueued_choices_are_trained_with_their_params(tmp_path, monkeypatch):
    monkeypatch.setenv("GW_TEST_SLEEP", "0")
    runner.run("cell", "random", SLEEPY, trials=1, dir=tmp_path, progress=False)
    run, _ = _trials(tmp_path)
    choices = {"blocks": 1, "b0_in1": 0, "b0_op1": "conv_k5", "b0_in2": 0, "b0_op2": "conv_k5"}
    run.study.enqueue_trial(choices)
    runner.run("cell", "random", SLEEPY, trials=2, dir=tmp_path, progress=False)
    _, trials = _trials(tmp_path)
    t = trials[1]
    assert t.state.name == "COMPLETE" and t.params["b0_op1"] == "conv_k5" and t.user_attrs["op"] == "enqueued"
    assert t.user_attrs["hash"] == run.space.hash(run.graph(choices))


def _hashes(trials):
    return [t.user_attrs["hash"] for t in trials if t.state.name in ("COMPLETE", "RUNNING", "WAITING")]


@pytest.mark.slow
def test_three_workers_never_duplicate_or_overshoot(tmp_path):
    """random (each worker proposes) and pnas (the coordinator queues): no duplicated graph, no
    trial nobody asked for, exactly --trials finished."""
    for strategy, opts, n in (("random", [], 45), ("pnas", ["--option", "beam=8"], 30)):
        d = tmp_path / strategy
        cmd = [sys.executable, "-m", "graphwire", "search", "run", "cell", "--strategy", strategy, *opts,
               "--objective", SLEEPY, "--trials", str(n), "--workers", "3", "--dir", str(d)]
        subprocess.run(cmd, check=True, env=_env(GW_TEST_SLEEP=0.01, GW_TEST_EPOCHS=1), capture_output=True,
                       timeout=300)
        _, trials = _trials(d)
        assert sum(t.state.name == "COMPLETE" for t in trials) == n == len(trials), [t.state for t in trials]
        hashes = _hashes(trials)
        assert len(hashes) == len(set(hashes))
        ops = {t.user_attrs["op"] for t in trials}
        assert ops <= ({"sample"} if strategy == "random" else {"pnas"}), ops
        workers = {t.user_attrs.get("worker", "").rsplit(":", 1)[-1] for t in trials} - {""}
        if strategy == "random":
            assert len(workers) >= 2  # the work was shared
    assert (tmp_path / "pnas" / "strategy_state.json").exists() and (tmp_path / "pnas" / "updates.jsonl").exists()


@pytest.mark.slow
def test_kill_9_mid_trial_then_resume(tmp_path):
    """SIGKILL the whole run (coordinator and both workers) mid-trial, rerun the same command:
    completed trials are kept and not rerun, the killed ones are failed and re-queued once."""
    cmd = [sys.executable, "-m", "graphwire", "search", "run", "cell", "--strategy", "random",
           "--objective", SLEEPY, "--trials", "8", "--workers", "2", "--dir", str(tmp_path),
           "--heartbeat", "0.3", "--grace", "1.5"]
    env = _env(GW_TEST_SLEEP=0.4, GW_TEST_EPOCHS=3)
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 90
    while time.time() < deadline:
        time.sleep(0.3)
        if not (tmp_path / "config.json").exists():
            continue
        try:
            _, trials = _trials(tmp_path)
        except ParameterError:  # the study is being created
            continue
        states = [t.state.name for t in trials]
        if states.count("COMPLETE") >= 2 and "RUNNING" in states:
            break
    os.killpg(p.pid, signal.SIGKILL)  # kill -9 the coordinator and its workers
    p.wait()
    _, before = _trials(tmp_path)
    completed_before = {t.number: t.user_attrs["hash"] for t in before if t.state.name == "COMPLETE"}
    killed = [t.number for t in before if t.state.name == "RUNNING"]
    assert completed_before and killed
    time.sleep(1.6)  # the killed trials' leases expire
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=120)
    _, after = _trials(tmp_path)
    by_number = {t.number: t for t in after}
    for n, h in completed_before.items():  # nothing completed is lost
        assert by_number[n].state.name == "COMPLETE" and by_number[n].user_attrs["hash"] == h
    for n in killed:  # the dead ones failed with the reason and were re-queued once, same architecture
        assert by_number[n].state.name == "FAIL"
        assert by_number[n].user_attrs["fail_reason"].startswith("stale: worker")
        retries = [t for t in after if t.system_attrs.get("failed_trial") == n]
        assert len(retries) == 1 and retries[0].state.name == "COMPLETE"
        assert retries[0].params == by_number[n].params
    complete = [t for t in after if t.state.name == "COMPLETE"]
    hashes = [t.user_attrs["hash"] for t in complete]
    assert len(hashes) == len(set(hashes)) and len(complete) == 8


@pytest.mark.slow
def test_kill_9_one_worker_the_other_requeues_its_trial(tmp_path):
    cmd = [sys.executable, "-m", "graphwire", "search", "run", "cell", "--strategy", "random",
           "--objective", SLEEPY, "--trials", "6", "--workers", "2", "--dir", str(tmp_path),
           "--heartbeat", "0.3", "--grace", "1.5"]
    p = subprocess.Popen(cmd, env=_env(GW_TEST_SLEEP=0.4, GW_TEST_EPOCHS=3), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    victim = None
    deadline = time.time() + 90
    while victim is None and time.time() < deadline:
        time.sleep(0.2)
        if not (tmp_path / "config.json").exists():
            continue
        try:
            _, trials = _trials(tmp_path)
        except ParameterError:
            continue
        for t in trials:
            who = t.user_attrs.get("worker", "")
            if t.state.name == "RUNNING" and who.endswith(":w1") and 1 in t.intermediate_values:
                victim = (t.number, int(who.split(":")[1]))  # mid-trial: one epoch reported
    assert victim is not None
    os.kill(victim[1], signal.SIGKILL)
    assert p.wait(timeout=120) == 0  # the run finishes with the surviving worker
    _, after = _trials(tmp_path)
    dead = next(t for t in after if t.number == victim[0])
    assert dead.state.name == "FAIL" and dead.user_attrs["fail_reason"].startswith("stale: worker")
    retry = [t for t in after if t.system_attrs.get("failed_trial") == victim[0]]
    assert len(retry) == 1 and retry[0].state.name == "COMPLETE"
    assert retry[0].user_attrs["hash"] == dead.user_attrs["hash"]
    complete = [t for t in after if t.state.name == "COMPLETE"]
    hashes = [t.user_attrs["hash"] for t in complete]
    assert len(complete) == 6 and len(set(hashes)) == len(hashes)


def test_dashboard_api_lists_the_architecture_params(tmp_path, monkeypatch):
    """optuna-dashboard's own API (what its trial table, best-trial card, slice, importance and
    parallel-coordinate views read) sees the choices as params and the summary as attributes."""
    dash = pytest.importorskip("optuna_dashboard")
    import io
    from wsgiref.util import setup_testing_defaults

    monkeypatch.setenv("GW_TEST_SLEEP", "0")
    runner.run("cell", "random", SLEEPY, trials=8, dir=tmp_path, progress=False)
    run, _ = _trials(tmp_path)
    app = dash.wsgi(run.storage)

    def get(path):
        env = {}
        setup_testing_defaults(env)
        env.update(PATH_INFO=path, REQUEST_METHOD="GET", QUERY_STRING="", **{"wsgi.input": io.BytesIO()})
        status = []
        body = b"".join(app(env, lambda s, h, *a: status.append(s)))
        assert status[0].startswith("200"), (path, status)
        return json.loads(body)

    studies = get("/api/studies")["study_summaries"]
    sid = next(s["study_id"] for s in studies if s["study_name"] == run.cfg["study_name"])
    detail = get(f"/api/studies/{sid}")
    names = {p["name"] for p in detail["union_search_space"]}
    assert {"blocks", "b0_op1", "b0_op2"} <= names
    t = detail["trials"][0]
    assert {p["name"] for p in t["params"]} >= {"blocks", "b0_op1"}
    assert {a["key"] for a in t["user_attrs"]} >= {"hash", "nodes", "edges", "depth", "op"}
    sortable = {a["key"] for a in detail["union_user_attrs"] if a["sortable"]}
    assert {"nodes", "edges", "depth"} <= sortable
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the importance evaluator is experimental in Optuna
        imp = get(f"/api/studies/{sid}/param_importances")["param_importances"][0]
    assert {i["name"] for i in imp} >= {"blocks", "b0_op1"} and sum(i["importance"] for i in imp) > 0

