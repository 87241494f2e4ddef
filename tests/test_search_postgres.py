"""Search against a real PostgreSQL server on 127.0.0.1: a throw-away cluster made with initdb
(as the 'postgres' user when the tests run as root, since the server refuses root), 3 workers,
kill -9 of the whole run, resume."""

import importlib.util
import os
import signal
import subprocess
import sys
import time

import pytest

optuna = pytest.importorskip("optuna")

from graphwire.search._testing import start_postgres


@pytest.fixture(scope="module")
def pg_url():
    if not any(importlib.util.find_spec(m) for m in ("psycopg", "psycopg2")):
        pytest.skip("no PostgreSQL driver (pip install 'graphwire[postgres]')")
    try:
        url, stop = start_postgres(durable=False, max_connections=60)
    except RuntimeError as e:
        pytest.skip(str(e))
    try:
        yield url
    finally:
        stop()


SLEEPY = "graphwire.search._testing:sleepy"


def _trials(d):
    from graphwire.search import runner

    r = runner.Run(d)
    try:
        return r.study.get_trials(deepcopy=True)
    finally:
        r.close()


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_both_drivers_run_a_search(pg_url, tmp_path, monkeypatch, driver):
    pytest.importorskip(driver)
    from graphwire.search import runner

    monkeypatch.setenv("GW_TEST_SLEEP", "0")
    url = pg_url.replace("postgresql://", f"postgresql+{driver}://")
    out = runner.run("cell", "random", SLEEPY, trials=3, dir=tmp_path, storage=url, progress=False)
    assert out["counts"]["complete"] == 3
    assert len({t.user_attrs["hash"] for t in _trials(tmp_path)}) == 3
    # another run on the same server gets its own study; nothing merges
    other = runner.run("cell", "random", SLEEPY, trials=2, dir=tmp_path / "b", storage=url, progress=False)
    assert other["study_name"] != out["study_name"] and other["counts"]["complete"] == 2
    assert len(_trials(tmp_path)) == 3


def test_a_trivial_trial_costs_few_sql_statements(pg_url, tmp_path):
    """Per trial: the study read under the run lock (Optuna's cache re-reads only the trials
    that changed), the trial's creation with its params and attributes (Optuna's
    create_new_trial: about 40 statements for a cell), one statement to confirm its number, the
    tell and the lock itself: no read-back of the new trial, no second study read, no
    Study.tell (which reads the trial again), no heartbeat write for a trial this short."""
    import sqlalchemy
    from sqlalchemy import event

    from graphwire.search import runner

    statements = []
    runner.run("cell", "random", "graphwire.search._testing:instant", trials=3, dir=tmp_path, storage=pg_url,
               progress=False, strategy_options={"dedup": False})  # tables and study exist: setup not counted

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", count)
    try:
        out = runner.run("cell", "random", "graphwire.search._testing:instant", trials=53, dir=tmp_path,
                         progress=False, strategy_options={"dedup": False})
    finally:
        event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", count)
    assert out["counts"]["complete"] == 53 and len(out["timings"]) == 50
    per_trial = len(statements) / 50  # the resumed run's own opening included
    assert 0 < per_trial <= 64, f"{per_trial:.1f} SQL statements per trial"


@pytest.mark.slow
def test_three_workers_kill_9_and_resume(pg_url, tmp_path):
    """3 worker processes on PostgreSQL; kill -9 the whole run mid-trial; rerun the same command:
    Optuna's heartbeat fails the dead trials and RetryHeartbeatStaleTrialCallback re-queues them;
    nothing completed is lost, nothing runs twice, exactly --trials complete."""
    cmd = [sys.executable, "-m", "graphwire", "search", "run", "cell", "--strategy", "random", "--objective", SLEEPY,
           "--trials", "12", "--workers", "3", "--dir", str(tmp_path), "--storage", pg_url,
           "--heartbeat", "1", "--grace", "2"]
    env = dict(os.environ, OMP_NUM_THREADS="1", GW_TEST_SLEEP="0.3", GW_TEST_EPOCHS="3")
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    before = []
    while time.time() < deadline:
        time.sleep(0.4)
        if not (tmp_path / "config.json").exists():
            continue
        try:
            before = _trials(tmp_path)
        except Exception:
            continue
        states = [t.state.name for t in before]
        if states.count("COMPLETE") >= 3 and states.count("RUNNING") >= 2:
            break
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    before = _trials(tmp_path)
    done_before = {t.number: t.user_attrs["hash"] for t in before if t.state.name == "COMPLETE"}
    killed = [t.number for t in before if t.state.name == "RUNNING"]
    assert len(done_before) >= 3 and killed
    time.sleep(2.5)  # the dead trials' heartbeats go stale
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    after = _trials(tmp_path)
    by = {t.number: t for t in after}
    for n, h in done_before.items():
        assert by[n].state.name == "COMPLETE" and by[n].user_attrs["hash"] == h
    for n in killed:
        assert by[n].state.name == "FAIL"
        retries = [t for t in after if t.system_attrs.get("failed_trial") == n]
        assert len(retries) == 1 and retries[0].state.name == "COMPLETE" and retries[0].params == by[n].params
    complete = [t for t in after if t.state.name == "COMPLETE"]
    hashes = [t.user_attrs["hash"] for t in complete]
    assert len(complete) == 12 and len(set(hashes)) == 12
    workers = {t.user_attrs.get("worker", "").rsplit(":", 1)[-1] for t in complete} - {""}
    assert len(workers) >= 2
