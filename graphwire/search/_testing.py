"""Objectives and a space used by graphwire's own tests (importable by worker processes)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Callable

import networkx as nx

from .. import generators
from .spaces import space


def _value(space_, G) -> float:
    return int(space_.hash(G)[:6], 16) / 0xFFFFFF


def sleepy(G, report, *, space, seed: int = 0) -> float:
    """``GW_TEST_EPOCHS`` epochs of ``GW_TEST_SLEEP`` seconds each; the value comes from the hash."""
    epochs, pause = int(os.environ.get("GW_TEST_EPOCHS", "3")), float(os.environ.get("GW_TEST_SLEEP", "0.3"))
    v = _value(space, G)
    for e in range(1, epochs + 1):
        time.sleep(pause)
        report(v * e / epochs, e)
    return v


def flaky(G, report, *, space, seed: int = 0) -> float:
    """Raises, diverges (NaN), then succeeds, in turn, call by call (``flaky.calls`` counts them in
    this process): every failure path of a search, with no luck involved."""
    flaky.calls += 1  # type: ignore[attr-defined]
    if flaky.calls % 3 == 1:  # type: ignore[attr-defined]
        raise RuntimeError("boom: the objective raised")
    if flaky.calls % 3 == 2:  # type: ignore[attr-defined]
        report(float("nan"), 1)
        return float("nan")
    v = _value(space, G)
    report(v, 1)
    return v


flaky.calls = 0  # type: ignore[attr-defined]


def instant(G, report, *, space, seed: int = 0) -> float:
    """No training at all: the value comes from the hash (for engine-cost measurements)."""
    return _value(space, G)


def text_value(G, report, *, space, seed: int = 0):
    """Returns text instead of a number (a user bug the engine must catch)."""
    return "0.75"


@space(depth=[1, 2, 3], fanout=[0, 1])
def broken_chains(depth: int, fanout: int) -> nx.DiGraph:
    """A user space whose fanout=1 choice makes a cycle (an invalid graph)."""
    G = generators.chain(depth)
    if fanout:
        order = list(nx.topological_sort(G))
        G.add_edge(order[-2], order[1])
    return G


def start_postgres(*, durable: bool = True, max_connections: int | None = None) -> tuple[str, Callable[[], None]]:
    """A throw-away PostgreSQL cluster on 127.0.0.1 (made with initdb, run as the 'postgres' user
    when this runs as root, since the server refuses root): ``(url, stop)``. ``durable=False``
    skips initdb's fsyncs (a test cluster). Raises RuntimeError saying why it cannot start."""
    def find(name: str) -> str | None:
        return shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)),
                                          None)

    initdb, pg_ctl = find("initdb"), find("pg_ctl")
    if not initdb or not pg_ctl:
        raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl): Debian's postgresql is installed by "
                           "scripts/setup.sh when it runs as root with apt-get")
    as_server: list[str] = []
    owner = None
    if os.geteuid() == 0:
        import pwd

        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError("running as root and there is no 'postgres' user to run the server as") from None
        as_server = ["runuser", "-u", "postgres", "--"]
    base = tempfile.mkdtemp(prefix="gw-pg-")
    data, sock = os.path.join(base, "data"), os.path.join(base, "sock")
    os.makedirs(sock)
    if owner is not None:
        for path in (base, sock):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def server(*cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run([*as_server, *cmd], capture_output=True, text=True, timeout=120)

    def stop() -> None:
        server(pg_ctl, "-D", data, "-m", "fast", "stop")
        shutil.rmtree(base, ignore_errors=True)

    r = server(initdb, "-D", data, "-U", "gw", "--auth=trust", "-E", "UTF8", *([] if durable else ["--no-sync"]))
    if r.returncode:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {r.stderr.strip()[-300:]}")
    options = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1"
    if max_connections is not None:
        options += f" -c max_connections={max_connections}"
    r = server(pg_ctl, "-D", data, "-l", os.path.join(base, "log"), "-w", "-t", "60", "-o", options, "start")
    if r.returncode:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"the PostgreSQL server did not start: {r.stderr.strip()[-300:]}")
    return f"postgresql://gw@127.0.0.1:{port}/postgres", stop
