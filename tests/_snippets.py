"""The code blocks of the README and the documentation pages, as a CommonMark parser sees them.

Blocks are read with markdown-it-py (the CommonMark reference algorithm, as GitHub's renderer), so
a block the tests run is a block a reader sees as code. ```` ```python ```` (or ``py``) blocks run
as Python, ```` ```bash ```` (``sh``, ``shell``, ``console``) blocks as shell commands after the
page's Python, in the same directory (so they can use the files it wrote); ``text`` and other blocks
are shown, not run. An HTML comment right before a fence steers its test (``readme-test:`` is read
the same way):

- ``<!-- docs-test: skip REASON -->``: not run;
- ``<!-- docs-test: gpu -->``: run only where CUDA is available;
- ``<!-- docs-test: fast "OLD" "NEW" ... -->``: run with each OLD replaced by NEW (a long run in a
  fast mode).

The Python blocks of one page run in order as one script (later blocks use what earlier ones
built), in a fresh process and a fresh directory. Warnings about parameters ``init_from`` could
not carry over are errors there: a snippet that silently starts from fresh parameters is broken.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
PY_LANGS = {"python", "py"}
SH_LANGS = {"bash", "sh", "shell", "console"}
MARKER = re.compile(r"^\s*<!--\s*(?:docs|readme)-test:(?P<marker>.*?)-->\s*$", re.S)
PRELUDE = ("import warnings\nwarnings.filterwarnings('error', message='init_from')\n"
           "import torch\ntorch.manual_seed(0)\n")


@dataclass
class Block:
    lang: str
    body: str
    marker: str
    line: int  # 1-based line of the opening fence


def parse(text: str):
    return MarkdownIt("commonmark").enable("table").parse(text)


def blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path`` in order, with the steering comment right before it."""
    tokens = parse(path.read_text())
    out = []
    for i, tok in enumerate(tokens):
        if tok.type != "fence":
            continue
        marker = ""
        if i > 0 and tokens[i - 1].type == "html_block":
            m = MARKER.match(tokens[i - 1].content)
            if m:
                marker = m.group("marker").strip()
        lang = (tok.info.split() or [""])[0].lower()
        out.append(Block(lang, tok.content, marker, tok.map[0] + 1))
    return out


def markers(path: Path) -> list[str]:
    """Every steering comment of a page as HTML (not in code), fence or not: one that is not right
    before a fence steers nothing, which is a mistake."""
    found = []
    for tok in parse(path.read_text()):
        htmls = [tok] if tok.type == "html_block" else [c for c in tok.children or [] if c.type == "html_inline"]
        for h in htmls:
            found += [m.group("marker").strip()
                      for m in re.finditer(r"<!--\s*(?:docs|readme)-test:(?P<marker>.*?)-->", h.content, re.S)]
    return found


def apply(marker: str, body: str) -> str | None:
    """The block as it should run, or None to skip it."""
    if marker.startswith("skip"):
        assert marker[4:].strip(), "docs-test skip needs a reason"
        return None
    if marker.startswith("gpu"):
        import torch

        return body if torch.cuda.is_available() else None
    if marker.startswith("fast"):
        pairs = shlex.split(marker[4:])
        assert pairs and len(pairs) % 2 == 0, f"docs-test fast needs OLD NEW pairs: {marker!r}"
        for old, new in zip(pairs[::2], pairs[1::2]):
            assert old in body, f"docs-test fast: {old!r} is not in the block"
            body = body.replace(old, new)
        return body
    assert not marker, f"unknown docs-test marker {marker!r}"
    return body


def script(path: Path) -> str | None:
    """The page's Python blocks as one script (None when it has none to run)."""
    rel = path.relative_to(ROOT)
    code = PRELUDE
    for b in blocks(path):
        if b.lang not in PY_LANGS:
            continue
        body = apply(b.marker, b.body)
        if body is not None:
            code += f"\n# {rel} line {b.line}\n" + body
    return None if code == PRELUDE else code


def shell(path: Path) -> list[tuple[int, str]]:
    """The page's shell blocks to run, as ``(line, commands)``."""
    out = []
    for b in blocks(path):
        if b.lang in SH_LANGS:
            body = apply(b.marker, b.body)
            if body is not None:
                out.append((b.line, body))
    return out


def runs(path: Path) -> bool:
    """Whether the page has anything to run."""
    return script(path) is not None or bool(shell(path))


def run_page(path: Path, tmp_path: Path) -> None:
    """The page's Python blocks as one script, then its shell blocks, in ``tmp_path``."""
    rel = path.relative_to(ROOT)
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg", OMP_NUM_THREADS="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    code = script(path)
    if code is not None:
        (tmp_path / "snippet.py").write_text(code)
        r = subprocess.run([sys.executable, "snippet.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, f"{rel}:\n{r.stderr[-3000:]}"
    for line, body in shell(path):
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, f"{rel}, shell block at line {line}:\n{r.stderr[-3000:]}"


def fences_by_regex(text: str) -> int:
    """Opening fences a line scan finds (to compare with the parser: a mismatch is a broken fence)."""
    count, open_ = 0, False
    for line in text.splitlines():
        if re.match(r"^ {0,3}```", line):
            if not open_:
                count += 1
            open_ = not open_
    return count
