"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The data goes to a temporary file in the target's directory (so ``os.replace`` stays on one
filesystem), is flushed and fsync'ed, then renamed over the target. If anything fails the
temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Union

__all__ = ["atomic_write"]

PathLike = Union[str, "os.PathLike[str]"]


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself (POSIX); a no-op where directories cannot be opened."""
    flags = getattr(os, "O_DIRECTORY", None)
    if flags is None:  # pragma: no cover - Windows
        return
    try:
        fd = os.open(directory, os.O_RDONLY | flags)
    except OSError:  # pragma: no cover - exotic filesystems
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write(path: PathLike, data: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` (text is encoded with ``encoding``) to ``path`` atomically; return the path.

    The new file gets the permissions of the file it replaces, or ``0o666`` minus the umask for
    a new file (like ``open(path, "w")``). Raises ``OSError`` (the target is untouched and no
    temporary file is left behind) when the directory is missing or not writable.
    """
    target = Path(os.fspath(path))
    if isinstance(data, str):
        payload = data.encode(encoding)
    elif isinstance(data, (bytes, bytearray, memoryview)):
        payload = bytes(data)
    else:
        raise TypeError(f"atomic_write needs str or bytes, got {type(data).__name__}")
    directory = target.parent if str(target.parent) else Path(".")
    try:
        mode = os.stat(target).st_mode & 0o7777
    except OSError:
        mode = None

    fd, tmp = -1, None
    for _ in range(100):
        candidate = directory / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
        except OSError as e:  # report the target, not the temporary name
            raise type(e)(e.errno, e.strerror, str(target)) from e
        tmp = candidate
        break
    if tmp is None:  # pragma: no cover
        raise FileExistsError(f"could not create a temporary file next to {target}")

    try:
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as e:
        if fd != -1:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.errno is not None and e.filename != str(target):
            raise type(e)(e.errno, e.strerror, str(target)) from e
        raise
    _fsync_dir(directory)
    return target
