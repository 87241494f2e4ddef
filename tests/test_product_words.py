"""Product files describe the product: machines by their specs, papers by author and title, and
nothing by the process that built them (no work-item numbers, no named stretches of work, no
numbered source texts). The patterns are split so this file does not match itself."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROCESS_WORDS = re.compile("|".join([
    r"\bissue [0-9]+",
    "this r" "ound",
    "previous r" "ound",
    r"\bsess" r"ions?\b",
    "seed 00" "[0-4]",
]), re.I)
WHERE = ["graphwire", "tests", "benchmarks", "scripts", "docs", "examples", "README.md", "Makefile", "pyproject.toml",
         "mkdocs.yml"]
TEXT = {".py", ".md", ".sh", ".json", ".toml", ".yml", ".yaml", ".txt", ".html", ".svg", ".cfg", ""}


def product_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", *WHERE], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / p for p in listed if Path(p).suffix in TEXT and (ROOT / p).is_file()]


def test_the_search_sees_the_product():
    files = {p.relative_to(ROOT).as_posix() for p in product_files()}
    assert {"README.md", "graphwire/__init__.py", "docs/index.md", "tests/test_product_words.py"} <= files
    assert any(f.startswith("benchmarks/results/") and f.endswith(".json") for f in files)


def test_no_process_words_in_product_files():
    hits = []
    for path in product_files():
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if PROCESS_WORDS.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:120]}")
    assert hits == []


def test_the_pattern_finds_what_it_should():
    for text in ["see Issue" " 11", "this R" "ound's machine", "no GPU in these s" "essions", "the seed 00" "3 space"]:
        assert PROCESS_WORDS.search(text), text
    for text in ["seed=0", "a round-robin run", "the issue tracker", "seed 1"]:
        assert not PROCESS_WORDS.search(text), text
