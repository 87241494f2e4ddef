"""Every fenced Python and shell block of the README runs as written.

Python blocks of one ``##`` section run in order as one script (later blocks use what earlier
ones built), each section in a fresh process and a fresh directory; shell blocks run line by line
after them. An HTML comment right before a fence steers its test:

- ``<!-- readme-test: skip REASON -->``: not run (the quick-start commands that run this suite);
- ``<!-- readme-test: gpu -->``: run only where CUDA is available;
- ``<!-- readme-test: fast "OLD" "NEW" ... -->``: run with each OLD replaced by NEW (a long run in
  a fast mode).

Warnings about parameters ``init_from`` could not carry over are errors here: a snippet that
silently starts from fresh parameters is a broken snippet.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"(?:<!--\s*readme-test:(?P<marker>[^>]*)-->\s*\n)?```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)```", re.S)
PY_LANGS = {"python", "py"}
SH_LANGS = {"bash", "sh", "shell", "console"}
PRELUDE = ("import warnings\nwarnings.filterwarnings('error', message='init_from')\n"
           "import torch\ntorch.manual_seed(0)\n")


def _sections():
    text = (ROOT / "README.md").read_text()
    heads = [(m.start(), m.group(1).strip()) for m in re.finditer(r"^## (.+)$", text, re.M)]
    out: dict[str, list] = {}
    for m in FENCE.finditer(text):
        title = next((t for pos, t in reversed(heads) if pos < m.start()), "preamble")
        lang = m.group("lang").lower()
        if lang in PY_LANGS | SH_LANGS:
            line = text[: m.start("body")].count("\n") + 1
            out.setdefault(title, []).append((lang, m.group("body"), (m.group("marker") or "").strip(), line))
    return out


SECTIONS = _sections()


def _apply(marker: str, body: str) -> str | None:
    """The block as it should run, or None to skip it."""
    if marker.startswith("skip"):
        return None
    if marker.startswith("gpu"):
        import torch

        return body if torch.cuda.is_available() else None
    if marker.startswith("fast"):
        pairs = shlex.split(marker[4:])
        assert len(pairs) % 2 == 0, f"readme-test fast needs OLD NEW pairs: {marker!r}"
        for old, new in zip(pairs[::2], pairs[1::2]):
            assert old in body, f"readme-test fast: {old!r} is not in the block"
            body = body.replace(old, new)
        return body
    assert not marker, f"unknown readme-test marker {marker!r}"
    return body


def test_readme_has_runnable_blocks():
    langs = [lang for blocks in SECTIONS.values() for lang, *_ in blocks]
    assert sum(lang in PY_LANGS for lang in langs) >= 8 and sum(lang in SH_LANGS for lang in langs) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_readme_section_runs(section, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg", OMP_NUM_THREADS="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    script = PRELUDE
    shell = []
    for lang, body, marker, line in SECTIONS[section]:
        body = _apply(marker, body)
        if body is None:
            continue
        if lang in PY_LANGS:
            script += f"\n# README.md line {line}\n" + body
        else:
            shell.append((line, body))
    if script != PRELUDE:
        (tmp_path / "snippet.py").write_text(script)
        r = subprocess.run([sys.executable, "snippet.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, f"section {section!r}:\n{r.stderr[-3000:]}"
    for line, body in shell:
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, f"section {section!r}, shell block at README line {line}:\n{r.stderr[-3000:]}"
