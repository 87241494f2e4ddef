"""Two-process DDP training of a wired classifier; launched by tests/test_distributed.py via torchrun.

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/ddp_train.py OUTDIR

Every rank builds ``models.wired_mlp`` (sigmoid edge gates) from the same graph and torch seed,
checks that the parameters agree across ranks *before* DDP wraps the model (DDP would broadcast
rank 0's copy and hide a disagreement), then trains it with ``graphwire.train.fit`` (SGD) for
5 steps on its own shard of the digits (``DistributedSampler``: disjoint shards) under
``DistributedDataParallel`` (gloo, ``device_ids=None``). Each rank writes ``OUTDIR/rank{r}.pt``
holding plain tensors only (loadable with ``torch.load(..., weights_only=True)``).
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's graphwire

from graphwire import data, generators, models
from graphwire.compiler import wired_core
from graphwire.train import fit

BATCH, STEPS = 32, 5


def flat_parameters(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).clone() for p in model.parameters()])


def gates(model) -> torch.Tensor:
    return torch.sigmoid(model.wired.wiring.logit.detach()).clone()


def main(outdir: str) -> int:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
    rank, world = dist.get_rank(), dist.get_world_size()

    torch.manual_seed(0)  # same seed on every rank -> same initial parameters
    G = generators.watts_strogatz(8, 4, 0.75, seed=0)
    model = models.wired_mlp(G, in_channels=64, num_classes=10, channels=16, wiring="sigmoid", penalty=1e-3)
    init, init_gates = flat_parameters(model), gates(model)

    # Compare across ranks before DDP's constructor broadcasts rank 0's parameters.
    everyone = [torch.empty_like(init) for _ in range(world)]
    dist.all_gather(everyone, init)
    init_equal = all(torch.equal(t, everyone[0]) for t in everyone)

    split = data.digits(flat=True, seed=0)
    n = world * STEPS * BATCH
    dataset = TensorDataset(split.x_train[:n], split.y_train[:n])
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=0, drop_last=True)
    indices = torch.tensor(list(iter(sampler)), dtype=torch.long)
    train = DataLoader(dataset, batch_size=BATCH, sampler=sampler)

    ddp = DistributedDataParallel(model, device_ids=None)
    assert wired_core(ddp) is model.wired
    history = fit(ddp, train, 1, lr=0.1, device="cpu", progress=False)

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    torch.save({
        "rank": torch.tensor(rank),
        "world": torch.tensor(world),
        "init": init,
        "final": flat_parameters(model),
        "init_gates": init_gates,
        "final_gates": gates(model),
        "init_equal": torch.tensor(init_equal),
        "indices": indices,
        "steps": torch.tensor(len(train)),
        "loss": torch.tensor(history.epochs[-1]["loss"]),
        "snapshots": torch.tensor(len(history.snapshots)),
    }, out / f"rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: ddp_train.py OUTDIR (run under torchrun)")
    sys.exit(main(sys.argv[1]))
