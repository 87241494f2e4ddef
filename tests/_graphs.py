"""Small graphs of every family, parameter randomisation and the executor comparison, for tests."""

import random

import torch

from graphwire.ops.stacked import StackedBatchNorm

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
            if isinstance(m, (torch.nn.modules.batchnorm._BatchNorm, StackedBatchNorm)) and m.affine:
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def compare_executors(net, x, tol: float = 1e-5, seed: int | None = None, batched="batched", calls: int = 1):
    """Outputs, input-gradients, parameter gradients and updated buffers (BatchNorm running
    statistics) of the batched and the reference executor agree, in train and in eval mode.

    ``seed``: reseed torch before each forward, for wirings that sample (the same sample for both).
    ``batched``: the batched executor to compare (a name or an executor object); ``calls``: run
    it that many times first (its first call for a shape chooses how it runs the later ones).
    """
    for mode in ("train", "eval"):
        getattr(net, mode)()
        results = []
        for ex in (batched, "reference"):
            if ex is batched and calls > 1:
                net.executor = ex
                state0 = {k: v.clone() for k, v in net.state_dict().items()}
                for _ in range(calls - 1):
                    if seed is not None:
                        torch.manual_seed(seed)
                    net(x.clone().requires_grad_(True))
                net.load_state_dict(state0)
            state = {k: v.clone() for k, v in net.state_dict().items()}
            net.executor = ex
            net.zero_grad()
            if seed is not None:
                torch.manual_seed(seed)
            xi = x.clone().requires_grad_(True)
            y = net(xi)
            (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).mean().backward()
            grads = [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in net.parameters()]
            after = {k: v.clone() for k, v in net.state_dict().items()}
            net.load_state_dict(state)
            results.append((y.detach(), xi.grad, grads, after))
        (yb, gxb, gb, sb), (yr, gxr, gr, sr) = results
        assert yb.shape == yr.shape
        torch.testing.assert_close(yb, yr, atol=tol, rtol=tol)
        torch.testing.assert_close(gxb, gxr, atol=tol, rtol=tol)
        for a, b in zip(gb, gr):
            torch.testing.assert_close(a, b, atol=tol, rtol=tol)
        for k in sb:
            torch.testing.assert_close(sb[k].float(), sr[k].float(), atol=tol, rtol=tol)


def record_nodes(net):
    """Record every node the reference executor runs: ``{module key: (input, output)}``, in order.
    (Stacked nodes have no module of their own to hook: this wraps ``net.run_node``.)"""
    seen: dict = {}
    run = net.run_node

    def recording(pos, x):
        y = run(pos, x)
        seen[net.plan.nodes[pos].key] = (x, y)
        return y

    net.run_node = recording
    return seen


def count_module_calls(net):
    """Calls of the net's per-step and per-node modules (stacked ops and unstacked node ops)."""
    calls: list = []
    for m in list(net.steps.values()) + list(net.nodes.values()):
        m.register_forward_hook(lambda *a: calls.append(1))
    return calls
