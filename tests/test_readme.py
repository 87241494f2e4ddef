"""The README: at most 10 KB, every heading renders as a heading on a CommonMark/GFM renderer, the
quick start is exactly the two commands, and every Python and shell block runs or says why it
does not (see tests/_snippets.py)."""

import re

import pytest
from _snippets import ROOT, blocks, fences_by_regex, markers, parse, run_page

README = ROOT / "README.md"


def test_readme_is_at_most_10_kb():
    assert len(README.read_bytes()) <= 10 * 1024


def test_every_heading_renders_as_a_heading():
    text = README.read_text()
    tokens = parse(text)
    rendered = {tok.map[0] + 1 for tok in tokens if tok.type == "heading_open" and tok.tag in ("h1", "h2")}
    written = [i + 1 for i, line in enumerate(text.splitlines()) if re.match(r"^##? \S", line)]
    assert written, "the README has no headings"
    # a heading line the parser did not see as a heading sits inside a broken fence or an HTML block
    assert [n for n in written if n not in rendered] == []
    assert fences_by_regex(text) == sum(tok.type == "fence" for tok in tokens)


def test_heading_check_catches_a_broken_fence():
    text = "# t\n\n```python\nx = 1\n``` text after the fence\n\n## Hidden\n"
    tokens = parse(text)
    assert not any(tok.type == "heading_open" and tok.tag == "h2" for tok in tokens)


def test_quick_start_is_the_two_commands():
    text = README.read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    cmds = [line.split("#")[0].strip() for b in blocks(README) if b.lang == "bash" and b.body in section
            for line in b.body.splitlines() if line.strip()]
    assert cmds == ["make demo", "make test"]


def test_readme_has_a_runnable_example_and_no_stray_markers():
    assert sum(b.lang == "python" for b in blocks(README)) >= 1
    steered = [b.marker for b in blocks(README) if b.marker]
    assert len(markers(README)) == len(steered), "a docs-test comment that is not right before a fence"


@pytest.mark.slow
def test_readme_blocks_run(tmp_path):
    run_page(README, tmp_path)
