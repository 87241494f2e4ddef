"""DistributedDataParallel on the CPU: two gloo ranks on different data end with identical weights.

Runs tests/ddp_train.py under ``torchrun --standalone --nproc_per_node=2`` (DESIGN.md section 7).
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

torch_dist = pytest.importorskip("torch.distributed")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "ddp_train.py"
TIMEOUT = 120


def _torchrun(outdir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(SCRIPT), str(outdir)]
    # Own process group, so a hung rendezvous can be killed with every worker it started.
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"torchrun did not finish in {TIMEOUT} s\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


pytestmark = pytest.mark.slow  # two processes under torchrun: about 30 s


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    if not torch_dist.is_available() or not torch_dist.is_gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available")
    outdir = tmp_path_factory.mktemp("ddp")
    res = _torchrun(outdir)
    assert res.returncode == 0, f"torchrun failed (rc {res.returncode})\nstdout:\n{res.stdout[-3000:]}\nstderr:\n{res.stderr[-3000:]}"
    return [torch.load(outdir / f"rank{r}.pt", weights_only=True) for r in range(2)]


@pytest.mark.slow
def test_both_ranks_ran_and_trained_on_different_shards(ranks):
    r0, r1 = ranks
    assert [int(r["rank"]) for r in ranks] == [0, 1] and all(int(r["world"]) == 2 for r in ranks)
    assert int(r0["steps"]) == int(r1["steps"]) == 5
    a, b = set(r0["indices"].tolist()), set(r1["indices"].tolist())
    assert len(a) == len(b) == 160 and not a & b  # disjoint shards
    assert all(int(r["snapshots"]) == 2 for r in ranks)  # fit found the wired core through DDP
    assert all(torch.isfinite(r["loss"]) for r in ranks)
    assert not torch.equal(r0["loss"], r1["loss"])  # each rank saw its own data


def test_initial_parameters_agree_across_ranks(ranks):
    r0, r1 = ranks
    assert bool(r0["init_equal"]) and bool(r1["init_equal"])
    assert torch.equal(r0["init"], r1["init"])


def test_ranks_end_with_identical_parameters_that_changed(ranks):
    r0, r1 = ranks
    assert r0["final"].shape == r0["init"].shape and r0["final"].numel() > 1000
    assert torch.equal(r0["final"], r1["final"])  # gradients were all-reduced every step
    assert not torch.equal(r0["final"], r0["init"])
    assert (r0["final"] - r0["init"]).abs().max() > 1e-3


def test_edge_gates_are_synchronised_and_learned(ranks):
    r0, r1 = ranks
    assert r0["final_gates"].shape == r0["init_gates"].shape == (18,)
    assert torch.equal(r0["init_gates"], torch.full((18,), torch.sigmoid(torch.tensor(3.0)).item()))  # sigmoid's init
    assert torch.equal(r0["final_gates"], r1["final_gates"])
    assert (r0["final_gates"] - r0["init_gates"]).abs().max() > 1e-5
    assert torch.all((r0["final_gates"] > 0) & (r0["final_gates"] < 1))
