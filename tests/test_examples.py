"""Every script in examples/ runs in its fast mode."""

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_runs_fast(script, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [script, "--fast", "-o", str(tmp_path)])
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    assert "accuracy" in capsys.readouterr().out
    assert any(tmp_path.iterdir())


@pytest.mark.slow
def test_tour_learns_and_prunes(tmp_path):
    sys.path.insert(0, str(EXAMPLES))
    try:
        import tour
    finally:
        sys.path.remove(str(EXAMPLES))
    acc, small_acc = tour.main(["--fast", "-o", str(tmp_path)])
    assert acc > 0.8 and small_acc > 0.5  # chance is 0.1; the fast mode reaches ~0.96 and ~0.94
    assert (tmp_path / "learned.json").is_file()
