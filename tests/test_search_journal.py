"""A journal that no crash can kill: torn or corrupt tails are repaired on resume, a damaged middle
is one error naming file and line, nothing is appended to a partial line."""

import json
import os

import pytest

optuna = pytest.importorskip("optuna")

from graphwire.cli import main
from graphwire.errors import FormatError
from graphwire.search import runner
from graphwire.search.storage import _journal_backend_class, check_journal

SLEEPY = "graphwire.search._testing:sleepy"


@pytest.fixture
def done_run(tmp_path, monkeypatch):
    monkeypatch.setenv("GW_TEST_SLEEP", "0")
    runner.run("cell", "random", SLEEPY, trials=3, dir=tmp_path, progress=False)
    return tmp_path


def _complete(d):
    return [t for t in runner.Run(d).study.get_trials() if t.state.name == "COMPLETE"]


@pytest.mark.parametrize("tail", [
    b'{"op_code":5,"worker_id":"x","trial_id":0,"param_na',   # kill -9 mid-write: a torn last line
    b"\x8f\xff\x00random bytes\n\x01\x02",                    # random bytes, newlines included
    b"garbage line\n",                                          # a complete garbage line
    b'{"valid": "json but no journal record"}\n',
])
def test_a_damaged_tail_is_cut_and_kept_aside_on_resume(done_run, tail, capsys):
    journal = done_run / "study.journal"
    good = journal.read_bytes()
    journal.write_bytes(good + tail)
    out = runner.run("cell", "random", SLEEPY, trials=5, dir=done_run, progress=False)
    assert out["counts"]["complete"] == 5  # the 3 earlier trials were kept, 2 more ran
    msg = capsys.readouterr().out
    assert f"repaired {journal}" in msg and f"cut a damaged tail of {len(tail)} bytes" in msg
    saved = [p for p in done_run.iterdir() if p.name.startswith("study.journal.tail-")]
    assert len(saved) == 1 and saved[0].read_bytes() == tail
    assert journal.read_bytes().startswith(good)
    for line in journal.read_bytes().splitlines():  # every line is a record again
        assert isinstance(json.loads(line)["op_code"], int)


def test_a_damaged_middle_line_is_one_error_naming_file_and_line(done_run, capsys):
    journal = done_run / "study.journal"
    lines = journal.read_bytes().splitlines(keepends=True)
    lines[3] = b"this is not a record\n"
    journal.write_bytes(b"".join(lines))
    rc = main(["search", "run", "cell", "--strategy", "random", "--objective", SLEEPY, "--trials", "5",
               "--dir", str(done_run)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert f"journal '{journal}' line 4: not a complete journal record" in err[0]
    with pytest.raises(FormatError, match="line 4"):
        check_journal(journal)


def test_an_append_never_lands_on_a_partial_line(tmp_path):
    from optuna.storages.journal import JournalFileSymlinkLock

    path = str(tmp_path / "j.journal")
    backend = _journal_backend_class()(path, JournalFileSymlinkLock(path))
    backend.append_logs([{"op_code": 0, "worker_id": "a", "study_name": "s", "directions": [1]}])
    with open(path, "ab") as f:  # another writer killed mid-line
        f.write(b'{"op_code":4,"worker_id":"dead","stu')
    assert len(list(backend.read_logs(0))) == 1  # a partial line is not read as a record
    backend.append_logs([{"op_code": 1, "worker_id": "a", "study_id": 0}])
    recs = [json.loads(x) for x in open(path, "rb").read().splitlines()]
    assert [r["op_code"] for r in recs] == [0, 1]
    assert [p.name for p in tmp_path.iterdir() if ".tail-" in p.name]  # the torn bytes were kept aside
    assert [r["op_code"] for r in backend.read_logs(0)] == [0, 1]


def test_reading_a_live_journal_names_a_bad_record(tmp_path):
    from optuna.storages.journal import JournalFileSymlinkLock

    path = str(tmp_path / "j.journal")
    with open(path, "wb") as f:
        f.write(b'{"op_code":0,"worker_id":"a","study_name":"s","directions":[1]}\n[1, 2]\n')
    backend = _journal_backend_class()(path, JournalFileSymlinkLock(path))
    with pytest.raises(FormatError, match=r"line 2: not a journal record"):
        list(backend.read_logs(0))
    assert os.path.getsize(path) > 0
