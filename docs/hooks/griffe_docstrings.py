"""Griffe extension: graphwire's docstrings as the API reference shows them.

graphwire's docstrings are written for ``help()`` and doctest: examples are bare ``>>>`` lines,
and references use reST roles (``:func:`fit```). Markdown would run the example lines together
into one paragraph (and read ``G.graph["a"]["b"]`` as a link), and would print the roles
literally. This extension, loaded by mkdocstrings (``mkdocs.yml``), rewrites each docstring as it
is loaded, leaving the source alone:

- every run of doctest lines (a ``>>>`` line, its ``...`` continuations and its output, up to a
  blank line) becomes a fenced ``pycon`` block;
- ``:role:`target``` becomes ``target`` in code font (``~a.b.c`` shows ``c``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|attr|data|obj|exc|const|ref):`~?([^`]+)`")


def _role(m: re.Match) -> str:
    target = m.group(1)
    if m.group(0).split("`")[1].startswith("~"):
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def fence_doctests(text: str) -> str:
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    in_fence = False
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        if not in_fence and line.lstrip().startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            out += [f"{indent}```pycon", *block, f"{indent}```"]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def rewrite(text: str) -> str:
    return ROLE.sub(_role, fence_doctests(text))


class GraphwireDocstrings(griffe.Extension):
    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
