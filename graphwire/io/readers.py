"""Reading graphs: :func:`load` a file, :func:`loads` text. No guessing between the two.

Both parse JSON (networkx node-link data, schema version 1) or DOT, validate the graph, and
raise :class:`~graphwire.errors.FormatError` naming the file or field on bad input. Nothing is
ever executed (plain ``json`` and pydot's parser; no pickle).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import networkx as nx

from ..errors import FormatError
from .dot import parse_dot
from .graphml import parse_graphml
from .json_format import parse_graph, read_path, text_of

__all__ = ["load", "loads", "FORMATS"]

FORMATS = {".json": "json", ".dot": "dot", ".gv": "dot", ".graphml": "graphml"}
_PARSERS = {"json": parse_graph, "dot": parse_dot, "graphml": parse_graphml}


def _check_format(format: Any) -> str:
    if format not in _PARSERS:
        raise FormatError(f"format must be one of {sorted(_PARSERS)}, got {format!r}")
    return format


def load(path: str | os.PathLike, *, format: str | None = None) -> nx.DiGraph:
    """Read a graph file; the format comes from the suffix (``.json``, ``.dot``, ``.gv``, ``.graphml``)
    unless ``format=`` says it.

    >>> import tempfile, os, graphwire as gw
    >>> p = os.path.join(tempfile.mkdtemp(), "g.json")
    >>> _ = gw.io.to_json(gw.generators.chain(2), p)
    >>> gw.io.load(p).number_of_edges()
    3
    """
    if isinstance(path, (bytes, bytearray)) or (isinstance(path, str) and ("\n" in path or path.lstrip()[:1] in "{[")):
        raise FormatError(f"load() reads a file path; this looks like text ({str(path)[:40]!r}...): "
                          f"use graphwire.io.loads(text)")
    if format is None:
        suffix = Path(os.fspath(path)).suffix.lower() if isinstance(path, (str, os.PathLike)) else ""
        if suffix not in FORMATS:
            raise FormatError(f"{str(path)[:200]}: cannot tell the format from the suffix {suffix!r}; "
                              f"use {sorted(FORMATS)} or pass format='json' / 'dot' / 'graphml'")
        format = FORMATS[suffix]
    parser = _PARSERS[_check_format(format)]
    text, where = read_path(path, format.upper())
    return parser(text, where)


def loads(text: str | bytes, *, format: str = "json") -> nx.DiGraph:
    """Parse graph text (``format="json"``, the default, ``"dot"`` or ``"graphml"``).

    >>> import graphwire as gw
    >>> gw.io.loads(gw.io.to_json(gw.generators.chain(2))).number_of_nodes()
    4
    >>> gw.io.loads("digraph { a -> b -> c }", format="dot").number_of_edges()
    2
    """
    parser = _PARSERS[_check_format(format)]
    body, where = text_of(text, format.upper())
    try:
        return parser(body, where)
    except FormatError:
        if _looks_like_path(body):
            raise FormatError(f"loads() parses {format.upper()} text, and {body.strip()[:120]!r} looks like a file "
                              f"path: read a file with graphwire.io.load(path)") from None
        raise


def _looks_like_path(text: str) -> bool:
    """One line that names an existing file or ends with a graph file suffix."""
    s = text.strip()
    if not s or "\n" in s or len(s) > 4096:
        return False
    return Path(s).suffix.lower() in FORMATS or os.path.isfile(s)
