"""Render a graph (or DOT text) to SVG/PNG/PDF with the Graphviz ``dot`` binary.

The binary is looked up with :func:`shutil.which`; when it is missing one
:class:`~graphwire.errors.RenderError` says how to install it. The DOT text goes to ``dot`` on
stdin and the picture is written atomically.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Union

import networkx as nx

from ..errors import ParameterError, RenderError
from ._atomic import atomic_write
from .dot import _check_rankdir, to_dot
from .json_format import read_path

__all__ = ["render", "run_dot", "FORMATS", "INSTALL_HINT"]

FORMATS = ("svg", "png", "pdf")
_RANKDIR_RE = re.compile(r'\brankdir\s*=\s*"?(?:TB|LR|BT|RL)"?', re.IGNORECASE)
INSTALL_HINT = (
    "install Graphviz so that 'dot' is on the PATH: Debian/Ubuntu `sudo apt-get install graphviz`, "
    "macOS `brew install graphviz`, conda `conda install -c conda-forge graphviz` "
    "(the pip packages 'graphviz' and 'pydot' do not include the binary); "
    "graphwire.io.to_dot(G, 'g.dot') works without it"
)


def _dot_binary() -> str:
    exe = shutil.which("dot")
    if exe is None:
        raise RenderError(f"the Graphviz 'dot' program was not found; {INSTALL_HINT}")
    return exe


def run_dot(dot_text: str, fmt: str, *, extra_args: tuple[str, ...] = (), timeout: float = 120.0) -> bytes:
    """Run ``dot -T<fmt>`` on ``dot_text`` and return its output bytes (RenderError on failure)."""
    exe = _dot_binary()
    cmd = [exe, f"-T{fmt}", *extra_args]
    try:
        proc = subprocess.run(cmd, input=dot_text.encode("utf-8"), capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RenderError(
            f"Graphviz dot did not finish within {timeout:g} s; for very large graphs prune first "
            "or write DOT with graphwire.io.to_dot and lay it out yourself") from None
    except OSError as e:
        raise RenderError(f"could not run Graphviz dot at {exe!r}: {e}; {INSTALL_HINT}") from None
    stderr = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        raise RenderError(f"Graphviz dot failed (exit status {proc.returncode}): {stderr or 'no message'}")
    if not proc.stdout:
        raise RenderError(f"Graphviz dot produced no {fmt} output{': ' + stderr if stderr else ''}")
    return proc.stdout


def render(
    G: Union[nx.DiGraph, str, "os.PathLike[str]"],
    path: Union[str, "os.PathLike[str]"],
    format: str | None = None,
    *,
    rankdir: str | None = None,
    timeout: float = 120.0,
) -> Path:
    """Draw ``G`` to ``path`` as SVG, PNG or PDF and return the path.

    ``G`` is a graph (drawn with :func:`~graphwire.io.to_dot`), DOT text, or the path of a DOT
    file. ``format`` defaults to the suffix of ``path``. ``rankdir`` (``"LR"``, ``"TB"``...)
    overrides the automatic direction.
    """
    target = Path(os.fspath(path))
    fmt = format if format is not None else target.suffix.lstrip(".")
    if not isinstance(fmt, str) or fmt.lower() not in FORMATS:
        origin = "format" if format is not None else f"the suffix of {target.name!r}"
        raise ParameterError(f"cannot render to {fmt!r} ({origin}); choose one of {list(FORMATS)}")
    fmt = fmt.lower()
    rankdir = _check_rankdir(rankdir)

    extra: tuple[str, ...] = ()
    if isinstance(G, nx.Graph):
        text = to_dot(G, rankdir=rankdir)
    elif isinstance(G, (str, os.PathLike)):
        if isinstance(G, str) and "{" in G:
            text = G
        elif Path(os.fspath(G)).is_file():
            text, _ = read_path(G, "DOT")
        else:
            raise ParameterError(
                f"render needs a graph, DOT text or a DOT file, got the string {str(G)[:60]!r}")
        if rankdir is not None:  # the file's own rankdir would win over -G, so replace it
            text, count = _RANKDIR_RE.subn(f"rankdir={rankdir}", text)
            if not count:
                extra = (f"-Grankdir={rankdir}",)
    else:
        raise ParameterError(f"render needs a networkx.DiGraph or DOT text, got {type(G).__name__}")
    data = run_dot(text, fmt, extra_args=extra, timeout=timeout)
    return atomic_write(target, data)
