"""Discovering Neural Wirings models: MobileNet V1 as a chain of channel graphs, and the tiny
static neural graph of the paper's Table 1.

Every node is one channel (op ``channel``: BatchNorm -> ReLU -> 3x3 depthwise conv). A *channel
graph* has blocks B0..Bb: B0 holds its input channels, edges go from any block to any later block
(depth limited to b), and its last block is the output. Graphs are chained: the last block of
graph i *is* the first block of graph i+1 (those nodes carry graph i+1's stride), so the whole
network is one DAG with one input node (the image or the stem output, op ``identity``) and one
output node that concatenates the final channels (op ``identity``, ``agg="concat"``). The edges
of graph i carry ``stage=i`` and are budgeted per graph (``wiring="dnw"`` with
``group_by="stage"``); the edges from the input node and into the output node are structural
(no ``stage``, coefficient 1).
"""

from __future__ import annotations

import copy
import random
from typing import Sequence

import networkx as nx
import torch
from torch import nn

from ..compiler import compile
from ..errors import ParameterError, ShapeError
from ..graph import meta
from ..generators.dnw import MOBILENET_V1_STAGES, chain_sizes, channel_chain, tiny_graph
from .classifiers import WiredClassifier

__all__ = [
    "MOBILENET_V1_STAGES",
    "POOLS",
    "CentrePool",
    "DNWClassifier",
    "chain_sizes",
    "channel_chain",
    "dnw_mobilenet_v1",
    "dnw_tiny",
    "mobilenet_v1_budgets",
    "random_edges",
    "tiny_graph",
]

#: ``dnw_tiny``'s ``pool`` option: the whole map (default) or the reference's centre 2 x 2.
POOLS = ("mean", "centre")

def mobilenet_v1_budgets(width_mult: float = 0.225, stages=MOBILENET_V1_STAGES) -> list[int]:
    """Edges per graph that a MobileNet V1 of this width has in its pointwise convolutions.

    Graph i with ``b`` blocks gets ``int((in*out + (b-1)*out^2) * width_mult^2)``, the reference code's
    budget (a width-d MobileNet has ``in*d x out*d`` pointwise weights per layer).

    >>> mobilenet_v1_budgets(0.225)
    [103, 1244, 4976, 72990, 79626]
    """
    if isinstance(width_mult, bool) or not isinstance(width_mult, (int, float)) or not 0.0 < width_mult <= 1.0:
        raise ParameterError(f"width_mult must be a number in (0, 1] (the MobileNet width multiplier), got {width_mult!r}")
    return [max(1, int((cin * cout + (b - 1) * cout * cout) * width_mult * width_mult)) for cin, cout, _, b in stages]


def random_edges(G: nx.DiGraph, k, *, seed: int = 0, group_by: str = "stage", use_every_node: bool = False,
                 k_over: str = "edges") -> nx.DiGraph:
    """A random static wiring on ``G``'s nodes with ``k`` of its ``group_by`` edges (count, fraction or
    per-group mapping, as ``wiring="dnw"`` reads it); structural edges (without ``group_by``) are kept.

    ``k_over="dense"`` counts ``k`` over the dense ``n x n`` matrix of the ``n`` nodes a group's
    edges touch (as ``wiring="dnw"`` with ``k_over="dense"`` does) and draws ``k`` of its entries
    uniformly, keeping the edges among them: the reference's ``RandomGraph`` keeps that fraction of
    its whole dense matrix, so only about ``k * E / n^2`` real edges survive.

    By default the ``k`` edges are drawn uniformly, as DNW's random-graph baseline does; nodes then
    left off every input -> output path are removed (with their edges: they could never matter).
    A compact ``G`` (candidate blocks) is materialised first; the result is an ordinary graph.
    ``use_every_node=True`` first gives every node that lacks one a random incoming edge (label
    order) and then a random outgoing edge (reverse label order), as ``generators.layered`` repairs
    its random graphs, and draws the rest of the budget uniformly: the same nodes and the same number
    of edges. Raises :class:`~graphwire.errors.ParameterError` when ``k`` is too small for that.
    """
    from ..edgeset import edge_set
    from ..transforms.pruning import remove_dead_nodes
    from ..wiring.dnw import K_OVER, budget, dense_size

    G = edge_set(G).networkx()  # the baseline draws from every candidate edge

    if k_over not in K_OVER:
        raise ParameterError(f"random_edges: k_over must be one of {', '.join(map(repr, K_OVER))}, got {k_over!r}")
    if k_over == "dense" and use_every_node:
        raise ParameterError("random_edges: use_every_node=True needs k_over='edges' (a dense draw keeps "
                             "whatever edges it hits)")

    groups: dict = {}
    for u, v, d in G.edges(data=True):
        if d.get(group_by) is not None:
            groups.setdefault(d[group_by], []).append((u, v))
    if not groups:
        raise ParameterError(f"random_edges: no edge of the graph has the attribute {group_by!r}")
    rng = random.Random(seed)
    fixed = [(u, v) for u, v, d in G.edges(data=True) if d.get(group_by) is None]
    chosen: dict = {g: set() for g in groups}
    ranked = {g: dense_size(e)[1] if k_over == "dense" else len(e) for g, e in groups.items()}
    budgets = {g: budget(k[g] if isinstance(k, dict) else k, ranked[g], "k", "random_edges") for g in groups}
    if use_every_node:
        group_of = {e: g for g, es in groups.items() for e in es}
        has_in = {v for _, v in fixed}
        has_out = {u for u, _ in fixed}
        order = sorted(G, key=lambda n: (isinstance(n, str), n))
        for v in order:
            cands = [(u, v) for u in G.predecessors(v) if (u, v) in group_of]
            if v not in has_in and cands:
                e = cands[rng.randrange(len(cands))]
                chosen[group_of[e]].add(e)
                has_in.add(v)
                has_out.add(e[0])
        for u in reversed(order):
            cands = [(u, v) for v in G.successors(u) if (u, v) in group_of]
            if u not in has_out and cands:
                e = cands[rng.randrange(len(cands))]
                chosen[group_of[e]].add(e)
                has_out.add(u)
        for g in groups:
            if len(chosen[g]) > budgets[g]:
                raise ParameterError(f"random_edges: k={budgets[g]} edges (group {g!r}) cannot reach every node: "
                                     f"that needs at least {len(chosen[g])}")
    for g, edges in groups.items():
        if k_over == "dense":  # k uniform entries of n^2; entry i < E is edge i (all orders are alike)
            chosen[g].update(edges[i] for i in rng.sample(range(ranked[g]), budgets[g]) if i < len(edges))
            continue
        rest = [e for e in edges if e not in chosen[g]]
        chosen[g].update(rng.sample(rest, budgets[g] - len(chosen[g])))
    keep = set().union(*chosen.values())
    H = G.copy()
    H.graph = copy.deepcopy(G.graph)
    H.remove_edges_from([e for es in groups.values() for e in es if e not in keep])
    H, dead = remove_dead_nodes(H)
    meta(H)["random_edges"] = {"k": k if not isinstance(k, dict) else {str(a): b for a, b in k.items()},
                               "seed": seed, "use_every_node": use_every_node, "k_over": k_over,
                               "edges_kept": len(keep), "removed_nodes": len(dead)}
    return H


# ------------------------------------------------------------------------- classifiers
class DNWClassifier(WiredClassifier):
    """``head(wired(stem(x)))`` where the wired core ends in one concatenating output node.

    :meth:`recompile` slices the head's first BatchNorm / Linear to the output channels that
    survive pruning and folds the constant a removed (always zero) channel contributed into the
    Linear's bias, so the recompiled classifier computes what this one computes in eval mode.
    """

    def _around(self, wired) -> "DNWClassifier":
        old_out = self.wired.plan.nodes[self.wired.plan.outputs[0]]
        old_labels = [self.wired.plan.nodes[p].label for p in old_out.preds]
        new_out = wired.plan.nodes[wired.plan.outputs[0]]
        # the concat follows topological position, which pruning can change: map by label
        new_labels = [wired.plan.nodes[p].label for p in new_out.preds]
        where = {lab: i for i, lab in enumerate(old_labels)}
        keep = torch.tensor([where[lab] for lab in new_labels], dtype=torch.long)
        gone = torch.tensor(sorted(set(range(len(old_labels))) - set(keep.tolist())), dtype=torch.long)
        head = _slice_head(copy.deepcopy(self.head), keep, gone)
        return DNWClassifier(copy.deepcopy(self.stem), wired, head)


def _slice_head(head: nn.Module, keep: torch.Tensor, gone: torch.Tensor) -> nn.Module:
    """Keep channels ``keep`` of a head ``[BN] -> [ReLU] -> pool -> flatten -> Linear``; the removed
    channels were exactly 0, so their (eval-mode) contribution is a constant folded into the bias."""
    layers = list(head.children()) if isinstance(head, nn.Sequential) else [head]
    const = None  # value of each removed channel as it flows through the head (eval mode)
    bn = next((m for m in layers if isinstance(m, nn.modules.batchnorm._BatchNorm)), None)
    linear = next((m for m in layers if isinstance(m, nn.Linear)), None)
    if linear is None:
        raise ParameterError("DNWClassifier.recompile: the head has no nn.Linear to slice")
    with torch.no_grad():
        zero = torch.zeros(len(gone), device=linear.weight.device, dtype=linear.weight.dtype)
        const = zero
        if bn is not None:
            g = gone.to(zero.device)
            scale = (bn.weight[g] if bn.affine else 1.0) / torch.sqrt(bn.running_var[g] + bn.eps)
            const = (zero - bn.running_mean[g]) * scale + (bn.bias[g] if bn.affine else 0.0)
            if any(isinstance(m, nn.ReLU) for m in layers):
                const = const.clamp_min(0)
            new_bn = type(bn)(len(keep), bn.eps, bn.momentum, bn.affine, bn.track_running_stats).to(zero)
            sd = {k: (v[keep.to(v.device)] if v.dim() == 1 else v) for k, v in bn.state_dict().items()}
            new_bn.load_state_dict(sd)
        new_lin = nn.Linear(len(keep), linear.out_features, bias=True).to(zero)
        new_lin.weight.copy_(linear.weight[:, keep.to(zero.device)])
        bias = linear.bias.clone() if linear.bias is not None else torch.zeros(linear.out_features).to(zero)
        if len(gone):
            bias += linear.weight[:, gone.to(zero.device)] @ const
        new_lin.bias.copy_(bias)
    out = []
    for m in layers:
        out.append(new_bn if m is bn else new_lin if m is linear else m)
    return nn.Sequential(*out) if isinstance(head, nn.Sequential) else out[0]


def _dnw_options(wiring: str, k, refresh: int, options: dict) -> dict:
    opts = dict(options)
    if wiring == "dnw":
        opts.setdefault("k", k)
        opts.setdefault("group_by", "stage")
        opts.setdefault("refresh", refresh)
    return opts


def dnw_mobilenet_v1(*, in_channels: int = 3, num_classes: int = 10, width_mult: float = 0.225,
                     image_size: int = 32, stages=MOBILENET_V1_STAGES, wiring: str = "dnw", refresh: int = 1,
                     graph: nx.DiGraph | None = None, executor: str = "batched", compact: bool = True,
                     **options) -> DNWClassifier:
    """MobileNet V1 as a chain of 5 channel graphs (DNW, section 4.2), edge budgets of a width-
    ``width_mult`` MobileNet: 103 / 1,244 / 4,976 / 72,990 / 79,626 edges at ``width_mult=0.225``.

    The input node feeds the image to graph 0's 32 input channels; each reduces it with its own
    3x3 ``stem`` convolution (together: MobileNet's ``conv1``, stride 1 for images up to 64 px,
    else 2, as in the reference code), then runs BN -> ReLU -> 3x3 depthwise. The 1,024 final
    channels go through BatchNorm -> ReLU -> global average pool -> Linear. ``wiring="dnw"``
    ranks each graph's edges on its own (``group_by="stage"``, ``k`` = the budgets; options in
    ``**options`` override). The random-graph baseline: ``graph=random_edges(channel_chain(),
    dict(enumerate(budgets)))`` with ``k=1.0`` (every edge used, weights learned).

    The graph has 5,984 distinct channel nodes (6,944 counting each chained block in both of its
    graphs) and 6.98M candidate edges. By default (``compact=True``) it is built in compact form:
    the candidate edges are blocks in ``G.graph["graphwire"]["candidates"]``, not networkx edges
    (see :mod:`graphwire.edgeset.blocks`); ``write_back`` then gives the chosen edges as networkx
    edges. ``compact=False`` builds every candidate as a networkx edge (same network, same edge
    order). ``graph`` (compact or not) replaces the built graph.
    """
    if "width" in options:
        raise ParameterError(f"dnw_mobilenet_v1 has no argument 'width': the width multiplier is "
                             f"width_mult={options['width']!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ParameterError(f"dnw_mobilenet_v1: image_size must be a positive int (32 for CIFAR, 224 for "
                             f"ImageNet), got {image_size!r}")
    budgets = mobilenet_v1_budgets(width_mult, stages)
    G = graph if graph is not None else channel_chain(stages, first_stride=1 if image_size <= 64 else 2,
                                                       compact=compact)
    k = {i: b for i, b in enumerate(budgets)}
    kw = dict(in_channels=in_channels, channels=1, default_op="channel", dims=2, executor=executor)
    # a graph built here is frozen, not copied (millions of candidate edges); a given one is copied
    wired = compile(G if graph is not None else nx.freeze(G), wiring=wiring, **kw,
                    **_dnw_options(wiring, k, refresh, options))
    c = wired.out_channels
    head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))
    model = DNWClassifier(nn.Identity(), wired, head)
    model.budgets = budgets
    model.input_shape = (1, in_channels, image_size, image_size)
    return model


class CentrePool(nn.Module):
    """The reference tiny models' pooling: the mean of 2 positions per spatial axis near the centre.

    allenai/dnw slices ``[h - 1 : h + 2]`` (``h = S // 2 - 1``) of each axis of the final ``S x S``
    map and applies ``AvgPool2d(2)``, which keeps the first 2 x 2 of that 3 x 3 slice: positions
    ``S // 2 - 2`` and ``S // 2 - 1`` (rows and columns 2-3 of an 8 x 8 map). ``[B, C, *sp] -> [B, C]``.
    """

    def __init__(self, dims: int = 2):
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sp = x.shape[2:]
        if len(sp) != self.dims or min(sp) < 4:
            raise ShapeError(f"CentrePool: needs a {self.dims}-D map of at least 4 positions per axis, "
                             f"got spatial shape {tuple(sp)}")
        for axis, s in enumerate(sp):
            x = x.narrow(2 + axis, s // 2 - 2, 2)
        return x.mean(tuple(range(2, x.dim())))

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


def dnw_tiny(*, in_channels: int = 3, num_classes: int = 10, dims: int = 2,
             sizes: Sequence[int] = (32, 192, 192, 192, 192), features: int = 100, k=32000,
             stem_channels: int | None = None, wiring: str = "dnw", refresh: int = 1,
             graph: nx.DiGraph | None = None, norm: str = "batch", pool: str = "mean",
             **options) -> DNWClassifier:
    """The paper's tiny static neural graph classifier (Table 1): 800 channel nodes in 5 blocks
    (32 + 4 x 192), the last 100 are the features, ``k`` = 32,000 edges (5% of 800 x 800).

    Stem (as the reference ``downsample``): conv 3x3 stride 2 to ``stem_channels`` (16) ->
    BN -> ReLU -> depthwise 3x3 stride 2; the 32 input channels of the graph each read it with a
    1x1 ``stem`` conv (the reference's 1x1 conv to 32). Head: ``pool`` -> Linear.
    ``dims=1`` builds the same for sequences (MNIST-1D).

    Where the reference (allenai/dnw ``StaticNeuralGraph``) differs, options copy it:
    ``norm="instance"`` normalises channel nodes with affine InstanceNorm as the reference does
    (default ``"batch"``: BatchNorm); ``pool="centre"`` averages only the centre 2 x 2 of the
    final map (:class:`CentrePool`) as the reference's head does (default ``"mean"``: the whole
    map). The wiring's ``k_over="dense"``, ``closed_nodes="run"`` and ``eval_mask="current"``
    (see :mod:`graphwire.wiring.dnw`) go in ``**options``.
    """
    if dims not in (1, 2):
        raise ParameterError(f"dims must be 1 or 2, got {dims!r}")
    if pool not in POOLS:
        raise ParameterError(f"dnw_tiny: pool must be one of {', '.join(map(repr, POOLS))}, got {pool!r}")
    G = graph if graph is not None else tiny_graph(sizes, features)
    sc = stem_channels or max(sizes[0] // 2, 1)
    conv, bn, avg = (nn.Conv1d, nn.BatchNorm1d, nn.AdaptiveAvgPool1d) if dims == 1 else \
        (nn.Conv2d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d)
    stem = nn.Sequential(conv(in_channels, sc, 3, 2, 1), bn(sc), nn.ReLU(), conv(sc, sc, 3, 2, 1, groups=sc))
    channel_options = {"stem_kernel": 1}
    if norm != "batch":  # the default stays out of op_options (recompile reuses them)
        channel_options["norm"] = norm
    kw = dict(in_channels=sc, channels=1, default_op="channel", dims=dims, op_options={"channel": channel_options})
    # a graph built here is frozen, not copied (millions of candidate edges); a given one is copied
    wired = compile(G if graph is not None else nx.freeze(G), wiring=wiring, **kw,
                    **_dnw_options(wiring, k, refresh, options))
    pooling = [CentrePool(dims)] if pool == "centre" else [avg(1), nn.Flatten()]
    head = nn.Sequential(*pooling, nn.Linear(wired.out_channels, num_classes))
    return DNWClassifier(stem, wired, head)
