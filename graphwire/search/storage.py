"""Where a search's trials live: Optuna storages behind one function, and the run lock.

* default: one journal file ``<run dir>/study.journal`` (append-only JSON lines, no server);
  several worker processes on one machine share it, and machines can share it on a network file
  system (``journal:PATH`` with ``lock=open`` for NFSv3+, the symlink lock otherwise);
* ``postgresql://...``: a PostgreSQL server, for machines without a shared file system (the
  driver is psycopg 3 when installed, else psycopg2; ``postgresql+psycopg2://`` names one);
  ``mysql://...`` likewise with its own drivers;
* ``sqlite:///FILE``: one process only (SQLite's file locks break under concurrent writers).

The journal goes through :class:`SafeJournalFileBackend`, a backend on Optuna's public
``BaseJournalBackend`` interface that no crash can make unreadable: a torn or corrupt tail (a
writer killed mid-line, a full disk, bytes appended by something else) is cut off and kept
beside the journal when a run opens it, a corrupt line in the middle is one error naming the
file and line, and an append never lands on a partial line. Every record is written to the file
before its call returns, so killing any process loses nothing it stored. Records that finish a
trial, queue one or change the study are also flushed to the disk (``fsync``) before the call
returns; those of a trial still running (its creation as RUNNING, its heartbeats, intermediate
values and attributes) are flushed with the record that finishes it, so a power cut can lose
only trials that were running (``fsync="all"`` flushes every record).

:class:`RunLock` makes "check the proposal is new, then create its trial" atomic across every
process of a run: a lock file beside the journal, a PostgreSQL advisory lock, a MySQL named
lock, or (SQLite, one process) a thread lock.

A storage that cannot be opened is one :class:`~graphwire.errors.ParameterError` line.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import threading
import time
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import FormatError, ParameterError
from ..io import atomic_write


@contextlib.contextmanager
def experimental_apis() -> Iterator[None]:
    """Optuna's ExperimentalWarning silenced: graphwire uses these APIs (heartbeats, stale-trial
    retries, metric names, multivariate TPE) on purpose; every other warning still shows."""
    import optuna

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        yield

JOURNAL_NAME = "study.journal"
_DRIVERS = {  # dialect -> [(SQLAlchemy driver name, DBAPI module, pip name)] in order of preference
    "postgresql": [("psycopg", "psycopg", "psycopg[binary]"), ("psycopg2", "psycopg2", "psycopg2-binary")],
    "mysql": [("mysqldb", "MySQLdb", "mysqlclient"), ("pymysql", "pymysql", "PyMySQL")],
}
_DRIVER_MODULES = {d: m for opts in _DRIVERS.values() for d, m, _ in opts}
_DRIVER_MODULES.update({"pg8000": "pg8000", "asyncpg": "asyncpg", "mysqlconnector": "mysql.connector"})


def _need_optuna():
    try:
        import optuna
    except ImportError:
        raise ParameterError("graphwire.search needs Optuna: pip install 'graphwire[search]'") from None
    return optuna


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and records)."""
    return re.sub(r"(://[^:/@]+:)[^@/]*@", r"\1***@", str(url))


def storage_url(storage: str | None, run_dir: str | os.PathLike) -> str:
    """The storage URL a run uses (``journal:<run dir>/study.journal`` by default)."""
    if storage is None or storage == "":
        return f"journal:{Path(run_dir).resolve() / JOURNAL_NAME}"
    if not isinstance(storage, str):
        raise ParameterError(f"storage must be a URL string, got {storage!r}")
    if storage.startswith("journal:"):
        return f"journal:{Path(storage[len('journal:'):]).resolve()}"
    if storage.endswith(".journal") and "://" not in storage:
        return f"journal:{Path(storage).resolve()}"
    return storage


def storage_kind(url: str) -> str:
    """``journal``, ``postgresql``, ``mysql``, ``sqlite`` or the URL's scheme."""
    if url.startswith("journal:"):
        return "journal"
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    return "postgresql" if scheme == "postgres" else scheme


def resolve_driver(url: str) -> str:
    """The SQLAlchemy URL with an installed driver named (``postgresql://`` -> psycopg 3, else
    psycopg2); a ParameterError naming the driver(s) to install when none is."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ParameterError(f"storage {redact(url)!r}: not a URL (expected 'postgresql://user:pass@host/db')")
    dialect, _, driver = scheme.lower().partition("+")
    dialect = "postgresql" if dialect == "postgres" else dialect
    if dialect not in _DRIVERS:
        return url
    if driver:
        module = _DRIVER_MODULES.get(driver)
        if module is not None and importlib.util.find_spec(module.split(".")[0]) is None:
            pip = {d: p for opts in _DRIVERS.values() for d, _, p in opts}.get(driver, module)
            raise ParameterError(f"storage {redact(url)!r} needs the {driver} driver, which is not installed: "
                                 f"pip install {pip}")
        return url
    for name, module, _ in _DRIVERS[dialect]:
        if importlib.util.find_spec(module) is not None:
            return f"{dialect}+{name}://{rest}"
    names = " or ".join(f"{m} (pip install {p!r})" for _, m, p in _DRIVERS[dialect])
    extra = " or pip install 'graphwire[postgres]'" if dialect == "postgresql" else ""
    raise ParameterError(f"storage {redact(url)!r} needs a {dialect} driver and none is installed: {names}{extra}")


# ====================================================================== the journal
def _record(line: bytes) -> dict | None:
    """The journal record one line holds, or None when it holds none (what repair and replay agree on)."""
    try:
        rec = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both
        return None
    return rec if isinstance(rec, dict) and isinstance(rec.get("op_code"), int) and "worker_id" in rec else None


def check_journal(path: str | os.PathLike) -> dict:
    """Scan a journal file: every line must be one complete Optuna journal record.

    A tail of bad lines after the last good record (a torn last write, random bytes, a garbage
    line) is cut off and saved next to the journal as
    ``<journal>.tail-<unix time>``; a bad line with a good record after it raises one
    FormatError naming the file and line. Returns ``{"records", "cut_bytes", "saved"}``.
    """
    path = Path(path)
    if not path.exists():
        return {"records": 0, "cut_bytes": 0, "saved": None}
    data = path.read_bytes()
    records, last_good_end, first_bad = 0, 0, None
    pos, lineno = 0, 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        lineno += 1
        line = data[pos:] if end < 0 else data[pos:end + 1]
        if end >= 0 and _record(line) is not None:
            if first_bad is not None:
                raise FormatError(f"journal {str(path)!r} line {first_bad}: not a complete journal record, and "
                                  f"records follow it (line {lineno}); the file is damaged in the middle: restore "
                                  "it from a copy, or delete that line by hand if you accept losing its operation")
            records += 1
            last_good_end = end + 1
        elif first_bad is None:
            first_bad = lineno
        pos = len(data) if end < 0 else end + 1
    cut = len(data) - last_good_end
    saved = None
    if cut:
        saved = path.with_name(f"{path.name}.tail-{int(time.time())}")
        atomic_write(saved, data[last_good_end:])
        with open(path, "r+b") as f:
            f.truncate(last_good_end)
            f.flush()
            os.fsync(f.fileno())
    return {"records": records, "cut_bytes": cut, "saved": None if saved is None else str(saved)}


_TRIAL_RUNNING = 0  # optuna.trial.TrialState.RUNNING
_IN_FLIGHT_OPS = (5, 7, 8, 9)  # trial param, intermediate value, trial user / system attribute
FSYNC_MODES = ("finished", "all")


def _in_flight(log: dict[str, Any]) -> bool:
    """Whether a journal record only changes a trial that is still running (its creation as
    RUNNING, its taking from the queue, its params, attributes, heartbeats, intermediate values):
    such a record reaches the disk with the fsync of the record that finishes the trial."""
    op = log.get("op_code")
    if op in _IN_FLIGHT_OPS:
        return True
    if op in (4, 6):  # create trial, set state: in flight when the state is RUNNING
        return int(log.get("state", _TRIAL_RUNNING)) == _TRIAL_RUNNING
    return False


def _journal_backend_class():
    from optuna.storages.journal import BaseJournalBackend

    class SafeJournalFileBackend(BaseJournalBackend):
        """Optuna's file journal (same format, same locks), except that reading names the file
        and line of a damaged record, appending first cuts a partial last line (a writer killed
        mid-line) instead of gluing the new record onto it, and (``fsync="finished"``) records
        of a running trial are written without their own fsync (see the module docstring)."""

        def __init__(self, file_path: str, lock_obj: Any, *, fsync: str = "finished") -> None:
            if fsync not in FSYNC_MODES:
                raise ParameterError(f"journal fsync must be one of {FSYNC_MODES}, got {fsync!r}")
            self._path = str(file_path)
            self._lock = lock_obj
            self._fsync_all = fsync == "all"
            if not os.path.exists(self._path):
                open(self._path, "ab").close()
            self._offset: dict[int, int] = {0: 0}

        def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
            known = self._offset.get(log_number_from)
            if known is not None and os.stat(self._path).st_size == known:
                return  # nothing appended since: one stat instead of opening the file
            with open(self._path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                start = 0
                if log_number_from in self._offset:
                    start = log_number_from
                    f.seek(self._offset[log_number_from])
                    size -= self._offset[log_number_from]
                for number, line in enumerate(f, start=start):
                    size -= len(line)
                    if size < 0 or not line.endswith(b"\n"):  # being written (or torn): not yet a record
                        break
                    rec = _record(line)
                    if rec is None:
                        raise FormatError(f"journal {self._path!r} line {number + 1}: not a journal record "
                                          f"({line[:60]!r}); rerun the command to repair a damaged tail")
                    if number + 1 not in self._offset:
                        self._offset[number + 1] = self._offset[number] + len(line)
                    if number >= log_number_from:
                        yield rec

        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            payload = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode()
            self._lock.acquire()
            try:
                with open(self._path, "r+b") as f:
                    size = os.fstat(f.fileno()).st_size
                    if size and os.pread(f.fileno(), 1, size - 1) != b"\n":
                        keep = _last_newline(f.fileno(), size)
                        atomic_write(f"{self._path}.tail-{int(time.time())}", os.pread(f.fileno(), size - keep, keep))
                        f.truncate(keep)
                    f.seek(0, os.SEEK_END)
                    f.write(payload)
                    f.flush()
                    if self._fsync_all or not all(_in_flight(log) for log in logs):
                        os.fsync(f.fileno())
            finally:
                self._lock.release()

    return SafeJournalFileBackend


def _last_newline(fd: int, size: int) -> int:
    """The offset just after the last ``\\n`` of the file (0 when it has none)."""
    pos = size
    while pos > 0:
        n = min(65536, pos)
        chunk = os.pread(fd, n, pos - n)
        i = chunk.rfind(b"\n")
        if i >= 0:
            return pos - n + i + 1
        pos -= n
    return 0


def _file_lock(path: str, lock: str):
    from optuna.storages.journal import JournalFileOpenLock, JournalFileSymlinkLock

    if lock not in ("symlink", "open"):
        raise ParameterError(f"journal lock must be 'symlink' or 'open', got {lock!r}")
    return (JournalFileOpenLock if lock == "open" else JournalFileSymlinkLock)(path)


def open_storage(url: str, *, processes: int = 1, lock: str = "symlink",
                 heartbeat: float | None = None, grace: float | None = None, max_retry: int = 3,
                 fsync: str | None = None) -> Any:
    """Open an Optuna storage from ``url`` (see the module docstring); ``processes`` is how many
    processes will write to it (SQLite is refused for more than one). A journal's damaged tail
    is repaired first (see :func:`check_journal`); its ``fsync`` is ``finished`` (default) or ``all`` (default
    from the ``GRAPHWIRE_JOURNAL_FSYNC`` environment variable). An RDB storage gets Optuna's
    heartbeat (``heartbeat`` and ``grace`` seconds, rounded up to whole seconds) with stale
    trials re-queued by ``RetryHeartbeatStaleTrialCallback(max_retry)``."""
    optuna = _need_optuna()
    kind = storage_kind(url)
    if kind == "journal":
        fsync = fsync or os.environ.get("GRAPHWIRE_JOURNAL_FSYNC") or "finished"
        if fsync not in FSYNC_MODES:
            raise ParameterError(f"journal fsync (GRAPHWIRE_JOURNAL_FSYNC) must be one of {FSYNC_MODES}, "
                                 f"got {fsync!r}")
        from optuna.storages.journal import JournalStorage

        path = url[len("journal:"):]
        parent = Path(path).parent
        if not parent.is_dir():
            raise ParameterError(f"storage {url!r} cannot be opened: directory {str(parent)!r} does not exist")
        lock_obj = _file_lock(path, lock)
        lock_obj.acquire()
        try:
            fixed = check_journal(path)
        finally:
            lock_obj.release()
        if fixed["cut_bytes"]:
            print(f"graphwire: repaired {path}: cut a damaged tail of {fixed['cut_bytes']} bytes after "
                  f"{fixed['records']} complete records (kept in {fixed['saved']})", flush=True)
        try:
            return JournalStorage(_journal_backend_class()(path, lock_obj, fsync=fsync))
        except FormatError:
            raise
        except (OSError, ValueError, KeyError) as e:
            raise ParameterError(f"storage {url!r} cannot be opened: {type(e).__name__}: {e}") from None
    if kind == "sqlite":
        if ":memory:" in url or url.rstrip("/") in ("sqlite:", "sqlite:/", "sqlite://"):
            raise ParameterError(f"storage {url!r}: an in-memory SQLite database keeps nothing and no other "
                                 "process can see it; use the default journal file or sqlite:///FILE")
        if processes > 1:
            raise ParameterError(f"storage {url!r}: SQLite is safe for one process only, this run has {processes}; "
                                 "use the default journal file or a PostgreSQL URL")
    elif kind not in ("postgresql", "mysql"):
        raise ParameterError(f"storage {redact(url)!r} cannot be opened: expected 'journal:PATH', a *.journal path, "
                             "'postgresql://...', 'mysql://...' or (one process) 'sqlite:///FILE'")
    full = resolve_driver(url)
    kw: dict[str, Any] = {}
    if kind != "sqlite" and heartbeat is not None:
        import math

        from optuna.storages import RetryHeartbeatStaleTrialCallback

        with experimental_apis():
            retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
        every = max(1, math.ceil(heartbeat))
        kw = {"heartbeat_interval": every, "grace_period": max(every + 1, math.ceil(grace or 2 * every)),
              "heartbeat_stale_trial_callback": retry}
    try:
        with experimental_apis():
            return optuna.storages.RDBStorage(full, engine_kwargs={"pool_pre_ping": True} if kind != "sqlite" else {},
                                              **kw)
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ParameterError(f"storage {redact(url)!r} cannot be opened: {type(e).__name__}: "
                             f"{redact(msg)[:300]}") from None


# ====================================================================== the run lock
class RunLock:
    """A lock shared by every process of one run (see the module docstring); a context manager."""

    def __init__(self, url: str, study_name: str, *, lock: str = "symlink"):
        self.kind = storage_kind(url)
        self._thread = threading.Lock()
        self._file = None
        self._conn = None
        self._key = zlib.crc32(study_name.encode()) - 2 ** 31
        self._name = f"gw{self._key}"
        if self.kind == "journal":
            self._file = _file_lock(url[len("journal:"):] + ".run", lock)
        elif self.kind in ("postgresql", "mysql"):
            import sqlalchemy

            self._engine = sqlalchemy.create_engine(resolve_driver(url), poolclass=sqlalchemy.pool.NullPool)
            self._sql = sqlalchemy.text

    def _connection(self):
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def __enter__(self) -> RunLock:
        self._thread.acquire()
        try:
            if self._file is not None:
                self._file.acquire()
            elif self.kind == "postgresql":
                self._connection().execute(self._sql("SELECT pg_advisory_lock(:k)"), {"k": self._key})
            elif self.kind == "mysql":
                self._connection().execute(self._sql("SELECT GET_LOCK(:n, -1)"), {"n": self._name})
        except BaseException:
            self._thread.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self._file is not None:
                self._file.release()
            elif self.kind == "postgresql":
                self._connection().execute(self._sql("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            elif self.kind == "mysql":
                self._connection().execute(self._sql("SELECT RELEASE_LOCK(:n)"), {"n": self._name})
        finally:
            self._thread.release()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
