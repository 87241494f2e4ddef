"""The documentation site: every Python block of every page runs (tests/_snippets.py), every page
is in the navigation, the blocks parse as fences, lists render under Python-Markdown, and the
build hooks do what the pages rely on."""

import importlib.util
import json
import re
import shutil
import subprocess
import sys

import pytest
from _snippets import PY_LANGS, ROOT, SH_LANGS, blocks, fences_by_regex, markers, parse, run_page, runs, script

DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md"))
IDS = [p.relative_to(DOCS).as_posix() for p in PAGES]


def _hook(name):
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", DOCS / "hooks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_docs_have_runnable_blocks():
    runnable = [p for p in PAGES if script(p) is not None]
    assert len(runnable) >= 15
    assert sum(b.lang in PY_LANGS for p in PAGES for b in blocks(p)) >= 25


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_page_fences_and_markers(page):
    text = page.read_text()
    assert fences_by_regex(text) == sum(tok.type == "fence" for tok in parse(text)), "a broken code fence"
    steered = [b for b in blocks(page) if b.marker]
    assert len(markers(page)) == len(steered), "a docs-test comment that is not right before a fence"
    assert all(b.lang in PY_LANGS | SH_LANGS for b in steered), "docs-test comments steer Python and shell blocks only"


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_lists_and_tables_follow_a_blank_line(page):
    """Python-Markdown (MkDocs) needs a blank line before a list or a table, and 4 spaces to nest a
    list; CommonMark does not, so a page can look right on GitHub and wrong on the site."""
    bad, fence, prev = [], False, ""
    for n, line in enumerate(page.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            fence = not fence
        elif not fence:
            starts_list = re.match(r"^(- |\d+\. )", line) and prev.strip() and not re.match(r"^(- |\d+\. |\s)", prev)
            starts_table = line.startswith("|") and prev.strip() and not prev.startswith("|")
            nested_by_2 = re.match(r"^ {2}- ", line)
            if starts_list or starts_table or nested_by_2:
                bad.append(n)
        prev = line
    assert bad == [], f"lines {bad}"


def test_every_page_is_in_the_navigation():
    nav = (ROOT / "mkdocs.yml").read_text().split("\nnav:", 1)[1]
    listed = set(re.findall(r"([\w/-]+\.md)", nav))
    assert set(IDS) - listed == set()


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if runs(p)],
                         ids=[p.relative_to(DOCS).as_posix() for p in PAGES if runs(p)])
def test_page_blocks_run(page, tmp_path):
    run_page(page, tmp_path)


# ---- the build hooks
def test_benchmark_tables_come_from_the_records():
    bench = _hook("benchmarks")
    page = (DOCS / "benchmarks.md").read_text()
    names = re.findall(r"<!--\s*bench:\s*([\w.-]+)\s*-->", page)
    assert {"executors", "scale", "dnw", "index"} <= set(names)
    filled = bench.fill(page)
    assert "<!-- bench:" not in filled
    record = json.loads((ROOT / "benchmarks/results/executors-cpu.json").read_text())
    chain = record["results"]["edge_sets"][0]
    assert f"{chain['seconds']['batched'] * 1000:.0f} ms" in filled
    assert record["machine"]["cpu_model"] in filled and "*Command:*" in filled
    for path in (ROOT / "benchmarks/results").glob("*.json"):
        assert f"`{path.name}`" in filled


def test_a_record_that_lacks_a_field_fails_the_build(tmp_path, monkeypatch):
    bench = _hook("benchmarks")
    shutil.copy(ROOT / "benchmarks/results/ddw-cpu.json", tmp_path / "ddw-cpu.json")
    data = json.loads((tmp_path / "ddw-cpu.json").read_text())
    del data["results"]["rows"]["ddw"]["seconds"]
    (tmp_path / "ddw-cpu.json").write_text(json.dumps(data))
    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    monkeypatch.setattr(bench, "ROOT", tmp_path)
    with pytest.raises(bench.BenchmarkError, match="ddw-cpu.json"):
        bench.render("ddw")
    with pytest.raises(bench.BenchmarkError, match="no record"):
        bench.render("scale")


def test_docstrings_are_rewritten_for_markdown():
    pytest.importorskip("griffe")
    ext = _hook("griffe_docstrings")
    doc = 'Prune it, see :func:`~graphwire.transforms.prune`.\n\n>>> G.graph["a"]["b"]\n1\n\nAfter.'
    out = ext.rewrite(doc)
    assert "`prune`" in out and ":func:" not in out
    assert '```pycon\n>>> G.graph["a"]["b"]\n1\n```\n\nAfter.' in out
    assert ext.rewrite("```\n>>> x\n```") == "```\n>>> x\n```"       # already fenced: left alone


@pytest.mark.slow
def test_gallery_script_makes_every_picture(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "scripts/make_gallery.py"), "--fast", "--no-browser",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=600,
                       env={"OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-3000:]
    made = {p.name for p in tmp_path.iterdir()}
    shown = set(re.findall(r"\(gallery/([\w.-]+)\)", (DOCS / "pictures.md").read_text())) - {"wiring-html.png"}
    assert shown and shown <= made
    assert (tmp_path / "learned.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
