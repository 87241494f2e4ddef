"""Small graphs of every family, and parameter randomisation, for tests (deterministic from a seed)."""

import random

import torch

import graphwire as gw
from graphwire import generators as gen

FAMILIES = ["chain", "resnet", "densenet", "complete", "erdos_renyi", "barabasi_albert",
            "watts_strogatz", "layered", "stack"]


def family_graph(family: str, seed: int, n: int = 6):
    r = random.Random(seed)
    if family == "chain":
        return gen.chain(r.randint(1, n))
    if family == "resnet":
        return gen.resnet(r.randint(2, n))
    if family == "densenet":
        return gen.densenet(r.randint(1, n))
    if family == "complete":
        return gen.complete(r.randint(1, n))
    if family == "erdos_renyi":
        return gen.erdos_renyi(n, r.choice([0.2, 0.4, 0.6]), seed=seed)
    if family == "barabasi_albert":
        return gen.barabasi_albert(n, r.randint(1, 3), seed=seed)
    if family == "watts_strogatz":
        return gen.watts_strogatz(n, 4, r.choice([0.0, 0.5, 0.75]), seed=seed)
    if family == "layered":
        return gen.layered([r.randint(1, 3) for _ in range(r.randint(2, 4))], density=r.choice([0.5, 1.0]),
                           seed=seed)
    if family == "stack":
        return gen.stack(gen.watts_strogatz, 2, seed=seed, n=5, k=2, p=0.5)
    raise ValueError(family)


def decorate(G, seed: int, aggs=("sum", "concat", "max"), widths=(3, 4)):
    """Random per-node aggregation and widths that keep sum/max inputs equal in width."""
    r = random.Random(seed + 1000)
    width = r.choice(widths)
    for v in G:
        G.nodes[v]["agg"] = r.choice(list(aggs))
        if G.nodes[v].get("role") != "output":  # output nodes aggregate with identity
            G.nodes[v]["channels"] = width
    return G


def randomise_batchnorm(model, seed: int, gates: float = 0.0):
    """Non-trivial BatchNorm affine parameters and running statistics; optionally spread gate logits."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        if gates:
            for name, p in model.named_parameters():
                if "logit" in name:
                    p.copy_(torch.randn(p.shape, generator=g) * gates)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
