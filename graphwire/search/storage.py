"""Where a search's trials live: Optuna storages behind one function.

* default: one journal file ``<run dir>/study.journal`` (append-only JSON lines, no server);
  several worker processes on one machine share it, and machines can share it on a network file
  system (``journal:PATH`` with ``lock=open`` for NFSv3+, the symlink lock otherwise);
* ``postgresql://...`` / ``mysql://...``: an RDB server, for machines without a shared file system;
* ``sqlite:///...``: one process only (SQLite's file locks break under concurrent writers).

A storage that cannot be opened is one :class:`~graphwire.errors.ParameterError` line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ParameterError

JOURNAL_NAME = "study.journal"


def _need_optuna():
    try:
        import optuna
    except ImportError:
        raise ParameterError("graphwire.search needs Optuna: pip install 'graphwire[search]'") from None
    return optuna


def storage_url(storage: str | None, run_dir: str | os.PathLike) -> str:
    """The storage URL a run uses (``journal:<run dir>/study.journal`` by default)."""
    if storage is None or storage == "":
        return f"journal:{Path(run_dir).resolve() / JOURNAL_NAME}"
    if not isinstance(storage, str):
        raise ParameterError(f"storage must be a URL string, got {storage!r}")
    if storage.endswith(".journal") and ":" not in storage.split("/")[0]:
        return f"journal:{Path(storage).resolve()}"
    return storage


def open_storage(url: str, *, processes: int = 1, lock: str = "symlink") -> Any:
    """Open an Optuna storage from ``url`` (see the module docstring); ``processes`` is how many
    processes will write to it (SQLite is refused for more than one)."""
    optuna = _need_optuna()
    if url.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import (
            JournalFileBackend,
            JournalFileOpenLock,
            JournalFileSymlinkLock,
        )

        path = url[len("journal:"):]
        parent = Path(path).parent
        if not parent.is_dir():
            raise ParameterError(f"storage {url!r} cannot be opened: directory {str(parent)!r} does not exist")
        if lock not in ("symlink", "open"):
            raise ParameterError(f"journal lock must be 'symlink' or 'open', got {lock!r}")
        lock_obj = (JournalFileOpenLock if lock == "open" else JournalFileSymlinkLock)(path)
        try:
            return JournalStorage(JournalFileBackend(path, lock_obj=lock_obj))
        except (OSError, ValueError) as e:
            raise ParameterError(f"storage {url!r} cannot be opened: {e}") from None
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme == "sqlite" and processes > 1:
        raise ParameterError(f"storage {url!r}: SQLite is safe for one process only, this run has {processes}; "
                             "use the default journal file or a PostgreSQL/MySQL URL")
    if scheme not in ("sqlite", "postgresql", "postgres", "mysql", "oracle", "mssql"):
        raise ParameterError(f"storage {url!r} cannot be opened: expected 'journal:PATH', a *.journal path, "
                             "'postgresql://...', 'mysql://...' or (one process) 'sqlite:///...'")
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True} if scheme != "sqlite" else {})
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ParameterError(f"storage {url!r} cannot be opened: {type(e).__name__}: {msg[:300]}") from None
