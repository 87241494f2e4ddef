"""The trial engine: Optuna journal storage, workers as OS processes, leases, failures, resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from graphwire.cli import main
from graphwire.contract import SCHEMA_VERSION
from graphwire.errors import ParameterError
from graphwire.search import runner
from graphwire.search._graphio import graph_from_text

ROOT = Path(__file__).resolve().parents[1]
SLEEPY = "graphwire.search._testing:sleepy"


def _trials(d):
    r = runner._Run(d)
    return r, r.study.get_trials(deepcopy=True)


def _env(**kw):
    e = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    e.update({k: str(v) for k, v in kw.items()})
    return e


def test_in_process_run_stores_each_trial_as_a_graph(tmp_path, monkeypatch):
    monkeypatch.setenv("GW_TEST_SLEEP", "0")
    out = runner.run("cell", "evolution", SLEEPY, trials=6, dir=tmp_path, progress=False,
                     strategy_options={"population": 3, "sample": 2}, pruner="none")
    assert out["counts"]["complete"] == 6
    run, trials = _trials(tmp_path)
    for t in trials:
        info = t.user_attrs["graphwire"]
        assert info["hash_version"] == runner.HASH_VERSION and info["schema_version"] == SCHEMA_VERSION
        assert info["strategy"] == "evolution" and "op" in info["meta"] and isinstance(info["seed"], int)
        G = graph_from_text((tmp_path / info["graph_file"]).read_text())
        assert run.space.hash(G) == info["hash"]
        assert sorted(t.intermediate_values) == [1, 2, 3]  # trial.report every epoch
    assert any(t.user_attrs["graphwire"]["meta"]["op"] == "mutate" for t in trials[3:])
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["storage"].startswith("journal:") and (tmp_path / "study.journal").exists()


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


def test_resume_continues_without_rerunning(tmp_path, monkeypatch):
    monkeypatch.setenv("GW_TEST_SLEEP", "0")
    runner.run("cell", "random", SLEEPY, trials=4, dir=tmp_path, progress=False)
    runner.run("cell", "random", SLEEPY, trials=7, dir=tmp_path, progress=False)
    _, trials = _trials(tmp_path)
    assert [t.number for t in trials] == list(range(7))
    assert len({t.user_attrs["graphwire"]["hash"] for t in trials}) == 7
    with pytest.raises(ParameterError, match="started with strategy='random'"):
        runner.run("cell", "evolution", SLEEPY, trials=8, dir=tmp_path, progress=False)


def test_failures_are_recorded_and_the_search_goes_on(tmp_path):
    out = runner.run("cell", "random", "graphwire.search._testing:flaky", trials=4, dir=tmp_path,
                     progress=False)
    assert out["counts"]["complete"] == 4
    _, trials = _trials(tmp_path)
    reasons = [t.user_attrs.get("fail_reason", "") for t in trials if t.state.name == "FAIL"]
    assert any(r.startswith("RuntimeError: boom") for r in reasons)
    assert any(r == "objective returned nan" for r in reasons)


def test_pruner_prunes_with_reports(tmp_path, monkeypatch):
    monkeypatch.setenv("GW_TEST_SLEEP", "0")
    monkeypatch.setenv("GW_TEST_EPOCHS", "9")
    out = runner.run("cell", "random", SLEEPY, trials=12, dir=tmp_path, progress=False, pruner="sha")
    assert out["counts"]["pruned"] > 0 and out["counts"]["done"] == 12


def test_bad_storage_is_one_line(tmp_path, capsys):
    rc = main(["search", "run", "cell", "--objective", SLEEPY, "--dir", str(tmp_path / "a"),
               "--storage", "journal:/no/such/dir/x.journal"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "cannot be opened" in err[0] and "/no/such/dir" in err[0]
    rc = main(["search", "run", "cell", "--objective", SLEEPY, "--dir", str(tmp_path / "b"),
               "--storage", "postgresql://u:p@127.0.0.1:9/db"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("graphwire: error: storage 'postgresql://")
    with pytest.raises(ParameterError, match="SQLite is safe for one process only"):
        runner.run("cell", "random", SLEEPY, trials=2, workers=2, dir=tmp_path / "c",
                   storage=f"sqlite:///{tmp_path}/s.db", progress=False)


def _numbers_in_logs(d):
    seen = []
    for log in (Path(d) / "logs").glob("worker-*.log"):
        for line in log.read_text().splitlines():
            if " trial " in line and line.startswith("[") and ("complete" in line or "pruned" in line):
                seen.append(int(line.split(" trial ")[1].split()[0]))
    return seen


@pytest.mark.slow
def test_two_workers_never_evaluate_the_same_queued_trial(tmp_path):
    # pnas runs in the coordinator, which queues every trial; two worker processes pop them
    cmd = [sys.executable, "-m", "graphwire", "search", "run", "cell", "--strategy", "pnas", "--option", "beam=6",
           "--objective", SLEEPY, "--trials", "16", "--workers", "2", "--dir", str(tmp_path)]
    subprocess.run(cmd, check=True, env=_env(GW_TEST_SLEEP=0.02, GW_TEST_EPOCHS=1), capture_output=True,
                   timeout=120)
    _, trials = _trials(tmp_path)
    done = [t.number for t in trials if t.state.name == "COMPLETE"]
    seen = _numbers_in_logs(tmp_path)
    assert len(done) >= 16 and sorted(seen) == sorted(done) and len(seen) == len(set(seen))
    workers = {t.user_attrs.get("lease", {}).get("worker", "") for t in trials}
    logs = [p.read_text() for p in (tmp_path / "logs").glob("worker-*.log")]
    assert all(" complete " in text for text in logs)  # both workers did evaluate
    assert (tmp_path / "strategy_state.json").exists() and (tmp_path / "updates.jsonl").exists()
    del workers


@pytest.mark.slow
def test_kill_9_mid_trial_then_resume(tmp_path):
    """SIGKILL the whole run (coordinator and both workers) mid-trial, rerun the same command:
    completed trials are kept and not rerun, the killed ones are marked failed and re-queued."""
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
        _, trials = _trials(tmp_path)
        states = [t.state.name for t in trials]
        if states.count("COMPLETE") >= 2 and "RUNNING" in states:
            break
    os.killpg(p.pid, signal.SIGKILL)  # kill -9 the coordinator and its workers
    p.wait()
    _, before = _trials(tmp_path)
    completed_before = {t.number: t.user_attrs["graphwire"]["hash"] for t in before if t.state.name == "COMPLETE"}
    running = [t.number for t in before if t.state.name == "RUNNING"]
    # a trial killed between ask and its record holds no proposal to re-queue (the strategy proposes again)
    killed = [t.number for t in before if t.state.name == "RUNNING" and "graphwire" in t.user_attrs]
    assert completed_before and running
    time.sleep(1.6)  # the killed trials' leases expire
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=120)
    _, after = _trials(tmp_path)
    by_number = {t.number: t for t in after}
    for n, h in completed_before.items():  # nothing completed is lost
        assert by_number[n].state.name == "COMPLETE" and by_number[n].user_attrs["graphwire"]["hash"] == h
    for n in killed:  # the dead ones failed with the reason and were re-queued once
        assert by_number[n].state.name == "FAIL"
        assert by_number[n].user_attrs["fail_reason"].startswith("stale heartbeat")
        retries = [t for t in after if t.user_attrs.get("graphwire", {}).get("retry_of") == n]
        assert len(retries) == 1 and retries[0].state.name == "COMPLETE"
    assert all(by_number[n].state.name != "RUNNING" for n in running)  # none is left hanging
    complete = [t for t in after if t.state.name == "COMPLETE"]
    hashes = [t.user_attrs["graphwire"]["hash"] for t in complete]
    assert len(hashes) == len(set(hashes))  # nothing ran twice
    assert len(complete) >= 8


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
        _, trials = _trials(tmp_path)
        for t in trials:
            who = (t.user_attrs.get("graphwire") or {}).get("worker", "")
            if t.state.name == "RUNNING" and who.endswith(":w1") and 1 in t.intermediate_values:
                victim = (t.number, int(who.split(":")[1]))  # mid-trial: one epoch reported
    assert victim is not None
    os.kill(victim[1], signal.SIGKILL)
    assert p.wait(timeout=120) == 0  # the run finishes with the surviving worker
    _, after = _trials(tmp_path)
    dead = next(t for t in after if t.number == victim[0])
    assert dead.state.name == "FAIL" and dead.user_attrs["fail_reason"].startswith("stale heartbeat: worker")
    retry = [t for t in after if t.user_attrs["graphwire"].get("retry_of") == victim[0]]
    assert len(retry) == 1 and retry[0].state.name == "COMPLETE"
    assert retry[0].user_attrs["graphwire"]["hash"] == dead.user_attrs["graphwire"]["hash"]
    complete = [t for t in after if t.state.name == "COMPLETE"]
    hashes = [t.user_attrs["graphwire"]["hash"] for t in complete]
    # two workers may both start the last trial (at most workers - 1 extra); nothing runs twice
    assert 6 <= len(complete) <= 7 and len(set(hashes)) == len(hashes), [
        (t.number, t.state.name, t.user_attrs["graphwire"]) for t in after]
