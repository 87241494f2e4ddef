"""Every search option is checked up front: one error line naming it, exit status 2, nothing left behind."""

import json

import numpy as np

import pytest

optuna = pytest.importorskip("optuna")

from graphwire.cli import main
from graphwire.errors import ParameterError
from graphwire.search import runner
from graphwire.search.storage import resolve_driver

SLEEPY = "graphwire.search._testing:sleepy"


def _run(tmp_path, *extra, strategy="random"):
    return main(["search", "run", "cell", "--strategy", strategy, "--objective", SLEEPY, "--trials", "2",
                 "--dir", str(tmp_path / "run"), *extra])


@pytest.mark.parametrize("extra, strategy, expect", [
    (["--workers", "-3"], "random", "--workers must be an integer >= 1, got -3"),
    (["--workers", str(10 ** 9)], "random", "workers must be an integer in [1, 256]"),
    (["--workers", "two"], "random", "--workers must be an integer >= 1, got 'two'"),
    (["--trials", "0"], "random", "--trials must be an integer >= 1, got 0"),
    (["--heartbeat", "0"], "random", "heartbeat must be a finite number in [0.05, 3600.0], got 0.0"),
    (["--heartbeat", "nan"], "random", "--heartbeat must be a finite number"),
    (["--grace", "-1"], "random", "grace must be a finite number in (0.0, 86400.0], got -1.0"),
    (["--grace", "2", "--heartbeat", "5"], "random", "grace must be longer than heartbeat"),
    (["--pruner", "median"], "random", "pruner must be one of 'none', 'sha', 'hyperband', got 'median'"),
    (["--option", "population=3.5"], "evolution", "evolution: population must be an integer in [2, 1000000], got 3.5"),
    (["--option", "sample=25"], "evolution", "evolution: sample must be an integer in [1, 20], got 25"),
    (["--option", "batch=2.5"], "rl", "rl: batch must be an integer in [1, 100000], got 2.5"),
    (["--option", "lr=NaN"], "rl", "--option lr: must be a finite number"),
    (["--option", "lr=-1"], "rl", "rl: lr must be a finite number in (0.0, 10.0], got -1"),
    (["--option", "hidden=0"], "rl", "rl: hidden must be an integer in [1, 4096], got 0"),
    (["--option", "reward=best"], "rl", "rl: reward must be one of 'value', 'paper', got 'best'"),
    (["--option", "explore=5"], "pnas", "pnas: explore must be a finite number in [0.0, 1.0], got 5"),
    (["--option", "predictor=gp"], "pnas", "pnas: predictor must be one of 'mlp', 'lstm', got 'gp'"),
    (["--option", "dedup=maybe"], "random", "random: dedup must be true or false, got 'maybe'"),
    (["--option", "populaton=3"], "evolution", "bad options"),
    (["--storage", "sqlite:///:memory:"], "random", "in-memory SQLite database keeps nothing"),
    (["--seed", "-1"], "random", "--seed must be an integer >= 0, got -1"),
], ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_bad_run_option_is_one_line_and_leaves_nothing(tmp_path, capsys, extra, strategy, expect):
    rc = _run(tmp_path, *extra, strategy=strategy)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("graphwire: error: "), err
    assert expect in err[0], err[0]
    assert not (tmp_path / "run").exists()  # nothing half-created


def test_bogus_strategy_leaves_no_run_dir(tmp_path, capsys):
    rc = _run(tmp_path, strategy="annealing")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "unknown strategy 'annealing'" in err[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, expect", [
    (["worker", "--max-idle", "nan"], "--max-idle must be a finite number"),
    (["worker", "--id", "-2"], "--id must be an integer >= 0, got -2"),
    (["report", "--top", "-1"], "--top must be an integer >= 1, got -1"),
    (["retrain", "--epochs", "0"], "--epochs must be an integer >= 1, got 0"),
])
def test_bad_worker_report_retrain_option(tmp_path, capsys, args, expect):
    rc = main(["search", *args, "--dir", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and expect in err[0], err


@pytest.mark.parametrize("content, expect", [
    ("{}", "misses the field(s)"),
    ('{"format": "graphwire-sea', "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
])
def test_damaged_config_is_named(tmp_path, capsys, content, expect):
    (tmp_path / "config.json").write_text(content)
    rc = main(["search", "report", "--dir", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and str(tmp_path / "config.json") in err[0] and expect in err[0], err


def test_truncated_strategy_state_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GW_TEST_SLEEP", "0")
    runner.run("cell", "pnas", SLEEPY, trials=3, dir=tmp_path, progress=False, strategy_options={"beam": 3})
    state = tmp_path / "strategy_state.json"
    state.write_text(state.read_text()[:40])
    rc = main(["search", "run", "cell", "--strategy", "pnas", "--option", "beam=3", "--objective", SLEEPY,
               "--trials", "5", "--dir", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and f"{state}: the pnas strategy's saved state cannot be read" in err[0]


def test_postgresql_url_picks_an_installed_driver(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    have = {"psycopg": True, "psycopg2": True}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: (object() if have.get(name) else None)
                        if name in have else real(name, *a))
    assert resolve_driver("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    have["psycopg"] = False
    assert resolve_driver("postgresql://u:p@h/db") == "postgresql+psycopg2://u:p@h/db"
    assert resolve_driver("postgres://u:p@h/db") == "postgresql+psycopg2://u:p@h/db"
    have["psycopg2"] = False
    with pytest.raises(ParameterError, match=r"needs a postgresql driver and none is installed: psycopg .*psycopg2"):
        resolve_driver("postgresql://u:secret@h/db")
    with pytest.raises(ParameterError, match=r"needs the psycopg2 driver, which is not installed: pip install psycopg2"):
        resolve_driver("postgresql+psycopg2://u:secret@h/db")
    with pytest.raises(ParameterError) as refused:
        resolve_driver("postgresql://u:secret@h/db")
    assert "secret" not in str(refused.value) and "u:***@h" in str(refused.value)


def test_unreachable_postgresql_is_one_line(tmp_path, capsys):
    pytest.importorskip("psycopg")
    rc = _run(tmp_path, "--storage", "postgresql://u:pw@127.0.0.1:9/db")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("graphwire: error: storage 'postgresql://u:***@127.0.0.1:9")
    assert "pw" not in err[0]


def test_sqlite_is_refused_for_several_processes(tmp_path):
    with pytest.raises(ParameterError, match="SQLite is safe for one process only"):
        runner.run("cell", "random", SLEEPY, trials=2, workers=2, dir=tmp_path / "c",
                   storage=f"sqlite:///{tmp_path}/s.db", progress=False)


def test_options_text_is_checked_in_python_too():
    with pytest.raises(ParameterError, match="trials must be an integer >= 1, got 2.5"):
        runner.check_run_options(trials=2.5)
    with pytest.raises(ParameterError, match="max_retry must be an integer"):
        runner.check_run_options(trials=2, max_retry=True)
    assert json.dumps(runner.check_run_options(trials="3"))  # command-line text is accepted
    opts = runner.check_run_options(trials=np.int64(3))  # numbers from a numpy sweep too, as plain ints
    assert opts["trials"] == 3 and type(opts["trials"]) is int and json.dumps(opts)
