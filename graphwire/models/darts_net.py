"""DARTS' evaluation networks (Liu, Simonyan, Yang 2019, "DARTS: Differentiable Architecture Search")
built from a genotype, as one graph.

A *genotype* gives each intermediate node of a cell two ``(op, input)`` pairs (``input`` 0 and 1 are
the cell's input states, 2... earlier intermediate nodes) and the states the cell concatenates, for
the normal and the reduction cell: the published ``DARTS_V1`` (first order) and ``DARTS_V2``
(second order), a :class:`Genotype` of your own, or a cell ``graphwire.derive`` wrote
(:func:`genotype_from_graph`).

The network (the evaluation code's ``NetworkCIFAR`` / ``NetworkImageNet``):

* cell ``k`` reads the outputs of cells ``k-2`` and ``k-1`` (the stem's for the first ones); its
  input states preprocess them: ReLU -> 1x1 conv -> BN to the cell's width C, or a
  FactorizedReduce (op ``skip_connect`` with stride 2) when cell ``k-1`` halved the resolution;
* the cells at 1/3 and 2/3 of the depth are reduction cells: they double C, and their ops that
  read an input state have stride 2;
* each intermediate node sums its two ops; the cell's output concatenates its ``concat`` states;
* ``cifar10``: stem 3x3 conv to 3C, 20 cells, C = 36; ``imagenet`` (the mobile setting): stems
  of three stride-2 3x3 convs (the third, ``stem1``, is a node of the graph), 14 cells, C = 48.

Everything between the stem and the classifier is one graph (``model.graph``): nodes carry
``cell`` (their cell's index; ``-1`` for the input and ``stem1``), ``cell_type`` and ``part``
(``preprocess0``, ``preprocess1``, ``op``, ``drop_path``, ``state``, ``output``), and every
genotype op is a node of its own, so the network can be written back, drawn and pruned like any
other. Options: ``auxiliary=True`` adds the auxiliary head on the output of the cell at 2/3 of the
depth (training only; its logits are ``model.aux_logits`` after a training forward), and
``drop_path=True`` (default) puts a ``drop_path`` node after every op but the identity
``skip_connect`` (probability ``model.drop_path_prob``, 0 until set; ``fit(drop_path=0.2)``
raises it linearly as DARTS does).
"""

from __future__ import annotations

import copy
from collections import namedtuple
from typing import Any

import networkx as nx
import torch
import torch.nn.functional as F
from torch import nn

from ..compiler import compile
from ..compiler.module import check_input
from ..errors import ParameterError
from ..graph import meta
from ._checks import check_choice, check_positive_int, keywords
from .classifiers import WiredClassifier

__all__ = ["Genotype", "DARTS_V1", "DARTS_V2", "GENOTYPES", "DARTSNetwork", "AuxPool", "darts_network",
           "darts_network_graph", "genotype_from_graph", "SETTINGS"]

#: A DARTS genotype (the field names of ``cnn/genotypes.py`` in the DARTS code).
Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

#: The published first-order cell (CIFAR-10 search).
DARTS_V1 = Genotype(
    normal=[("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)],
    reduce_concat=[2, 3, 4, 5])

#: The published second-order cell (CIFAR-10 search), the one the paper evaluates.
DARTS_V2 = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=[2, 3, 4, 5])

#: Genotypes by name (``darts_network("DARTS_V2")``).
GENOTYPES = {"DARTS_V1": DARTS_V1, "DARTS_V2": DARTS_V2}

#: The evaluation settings: cells, width C and classes of each.
SETTINGS = {"cifar10": {"cells": 20, "channels": 36, "num_classes": 10},
            "imagenet": {"cells": 14, "channels": 48, "num_classes": 1000}}

#: The evaluation network's op options: BatchNorms with affine parameters, pools without BatchNorm.
EVAL_OP_OPTIONS = {"sep_conv_3x3": {"affine": True}, "sep_conv_5x5": {"affine": True},
                   "dil_conv_3x3": {"affine": True}, "dil_conv_5x5": {"affine": True},
                   "skip_connect": {"affine": True}, "relu_conv_bn_1x1": {"affine": True},
                   "max_pool_3x3": {"bn": False}, "avg_pool_3x3": {"bn": False}}

_OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
        "dil_conv_5x5")


# ------------------------------------------------------------------ genotypes
def _cell_list(value: Any, name: str) -> list[tuple[str, int]]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value or len(value) % 2:
        raise ParameterError(f"genotype.{name} must be a non-empty list of (op, input) pairs, two per "
                             f"intermediate node, got {value!r}")
    out = []
    for i, pair in enumerate(value):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ParameterError(f"genotype.{name}[{i}] must be an (op, input) pair, got {pair!r}")
        op, src = pair
        if op not in _OPS:
            raise ParameterError(f"genotype.{name}[{i}]: op must be one of {list(_OPS)}, got {op!r}")
        node = 2 + i // 2
        if isinstance(src, bool) or not isinstance(src, int) or not 0 <= src < node:
            raise ParameterError(f"genotype.{name}[{i}]: the input of node {node} must be a state 0..{node - 1} "
                                 f"(0, 1: the cell's inputs), got {src!r}")
        out.append((op, src))
    return out


def _concat(value: Any, name: str, steps: int) -> list[int]:
    if isinstance(value, range):
        value = list(value)
    if not isinstance(value, (list, tuple)) or not value or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < steps + 2 for s in value):
        raise ParameterError(f"genotype.{name} must list the states the cell concatenates (0..{steps + 1}), "
                             f"got {value!r}")
    return list(value)


def check_genotype(genotype: Any) -> Genotype:
    """``genotype`` as a validated :class:`Genotype`: a name in :data:`GENOTYPES`, a
    :class:`Genotype` or a mapping with its fields (JSON), or a cell written by ``graphwire.derive``."""
    if isinstance(genotype, str):
        if genotype not in GENOTYPES:
            raise ParameterError(f"genotype must be one of {sorted(GENOTYPES)}, a Genotype or a derived cell, "
                                 f"got {genotype!r}")
        genotype = GENOTYPES[genotype]
    elif isinstance(genotype, nx.DiGraph):
        genotype = genotype_from_graph(genotype)
    elif isinstance(genotype, dict):
        missing = [f for f in Genotype._fields if f not in genotype]
        if missing:
            raise ParameterError(f"genotype mapping lacks {missing}; it needs {list(Genotype._fields)}")
        genotype = Genotype(**{f: genotype[f] for f in Genotype._fields})
    elif not isinstance(genotype, Genotype):
        raise ParameterError(f"genotype must be a name ({sorted(GENOTYPES)}), a Genotype, a mapping or a derived "
                             f"cell graph, got {type(genotype).__name__}")
    normal, reduce = _cell_list(genotype.normal, "normal"), _cell_list(genotype.reduce, "reduce")
    return Genotype(normal, _concat(genotype.normal_concat, "normal_concat", len(normal) // 2),
                    reduce, _concat(genotype.reduce_concat, "reduce_concat", len(reduce) // 2))


def _cell_from_graph(G: nx.DiGraph, where: str) -> tuple[list, list, str]:
    record = meta(G)
    derived, cell = record.get("derived"), record.get("darts")
    if not isinstance(derived, dict) or not isinstance(cell, dict) or "states" not in cell:
        raise ParameterError(f"{where}: not a cell written by graphwire.derive from a single darts_cell "
                             "(its graph record lacks 'derived' or 'darts'); derive one cell of a search network")
    states = list(cell["states"])
    index = {s: i for i, s in enumerate(states)}
    chosen: dict[int, list] = {}
    for src, dst, op in derived["genotype"]:
        if src not in index or dst not in index:
            raise ParameterError(f"{where}: connection {src!r} -> {dst!r} is not between the cell's states {states}")
        chosen.setdefault(index[dst], []).append((op, index[src]))
    pairs = []
    for j in range(2, len(states)):
        ins = sorted(chosen.get(j, []), key=lambda p: p[1])
        if len(ins) != 2:
            raise ParameterError(f"{where}: intermediate node {j} has {len(ins)} chosen inputs; an evaluation "
                                 "cell takes two per node (derive with top_k=2 and no threshold)")
        pairs.extend(ins)
    return pairs, list(range(2, len(states))), cell.get("cell_type", "normal")


def genotype_from_graph(normal: nx.DiGraph, reduce: nx.DiGraph | None = None) -> Genotype:
    """The :class:`Genotype` of cells written by ``graphwire.derive`` (each a single
    ``darts_cell`` searched and derived with ``top_k=2``). Without ``reduce`` the reduction cells
    use the normal cell's ops (those reading an input state with stride 2).

    >>> import graphwire as gw
    >>> G = gw.generators.darts_cell(2, ops=["none", "skip_connect", "sep_conv_3x3"])
    >>> for u, v, d in G.edges(data=True):
    ...     if "candidate" in d:
    ...         d["op_weights"] = {"none": 0.1, "skip_connect": 0.3, "sep_conv_3x3": 0.6}
    >>> genotype_from_graph(gw.derive(G)).normal
    [('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1)]
    """
    n_pairs, n_concat, _ = _cell_from_graph(normal, "genotype_from_graph(normal)")
    if reduce is None:
        r_pairs, r_concat = n_pairs, n_concat
    else:
        r_pairs, r_concat, _ = _cell_from_graph(reduce, "genotype_from_graph(reduce)")
    return Genotype(n_pairs, n_concat, r_pairs, r_concat)


# ------------------------------------------------------------------ the network graph
def darts_network_graph(genotype: Any = "DARTS_V2", *, setting: str = "cifar10", channels: int | None = None,
                        cells: int | None = None, auxiliary: bool = False, drop_path: bool = True) -> nx.DiGraph:
    """The graph of :func:`darts_network` (everything between the stem and the classifier).

    >>> G = darts_network_graph("DARTS_V2", channels=4, cells=3)
    >>> sorted({d["cell_type"] for _, d in G.nodes(data=True) if d["cell"] >= 0})
    ['normal', 'reduce']
    """
    g = check_genotype(genotype)
    check_choice("darts_network", "setting", setting, tuple(SETTINGS))
    C = check_positive_int("darts_network", "channels", SETTINGS[setting]["channels"] if channels is None else channels)
    n_cells = check_positive_int("darts_network", "cells", SETTINGS[setting]["cells"] if cells is None else cells)
    if not isinstance(auxiliary, bool) or not isinstance(drop_path, bool):
        raise ParameterError(f"darts_network: auxiliary and drop_path must be True or False, got "
                             f"{auxiliary!r}, {drop_path!r}")
    G = nx.DiGraph()
    counter = iter(range(10**9))

    def node(**attrs) -> int:
        n = next(counter)
        attrs.setdefault("role", "hidden")
        G.add_node(n, **attrs)
        return n

    if setting == "cifar10":
        stem = node(role="input", op="identity", channels=3 * C, cell=-1, part="stem")
        s0, s1, reduction_prev = stem, stem, False
    else:
        stem = node(role="input", op="identity", channels=C, cell=-1, part="stem")
        s1 = node(op="conv", channels=C, stride=2, cell=-1, part="stem1")
        G.add_edge(stem, s1)
        s0, reduction_prev = stem, True
    reductions = {n_cells // 3, 2 * n_cells // 3}
    C_curr, tap = C, None
    for k in range(n_cells):
        reduction = k in reductions
        if reduction:
            C_curr *= 2
        kind = "reduce" if reduction else "normal"
        pairs, concat = (g.reduce, g.reduce_concat) if reduction else (g.normal, g.normal_concat)
        common = dict(cell=k, cell_type=kind)
        if reduction_prev:
            p0 = node(op="skip_connect", stride=2, channels=C_curr, part="preprocess0", **common)
        else:
            p0 = node(op="relu_conv_bn_1x1", channels=C_curr, part="preprocess0", **common)
        p1 = node(op="relu_conv_bn_1x1", channels=C_curr, part="preprocess1", **common)
        G.add_edge(s0, p0)
        G.add_edge(s1, p1)
        states = [p0, p1]
        for j in range(len(pairs) // 2):
            ends = []
            for op, src in pairs[2 * j: 2 * j + 2]:
                stride = 2 if reduction and src < 2 else 1
                o = node(op=op, channels=C_curr, part="op", **common, **({"stride": stride} if stride != 1 else {}))
                G.add_edge(states[src], o)
                if drop_path and not (op == "skip_connect" and stride == 1):
                    d = node(op="drop_path", channels=C_curr, part="drop_path", **common)
                    G.add_edge(o, d)
                    o = d
                ends.append(o)
            s = node(op="identity", agg="sum", channels=C_curr, part="state", **common)
            for o in ends:
                G.add_edge(o, s)
            states.append(s)
        used = set(concat) | {src for _, src in pairs}
        unused = [i for i in range(len(states)) if i not in used]
        if unused:
            raise ParameterError(f"darts_network: the {kind} cell's states {unused} feed nothing (neither a later "
                                 f"node nor the concat {concat}); a genotype must use every state")
        out = node(op="identity", agg="concat", part="output", **common)
        for i in concat:
            G.add_edge(states[i], out)
        s0, s1, reduction_prev = s1, out, reduction
        if auxiliary and k == 2 * n_cells // 3:
            tap = out
            aux = node(role="output", op="identity", agg="concat", part="auxiliary", cell=k, cell_type=kind)
            G.add_edge(out, aux)
    last = s1
    if tap == last:  # the auxiliary head reads the last cell: an output node of its own after it
        end = node(op="identity", agg="concat", part="output", cell=n_cells - 1, cell_type=G.nodes[last]["cell_type"])
        G.add_edge(last, end)
        last = end
    G.nodes[last]["role"] = "output"
    meta(G)["darts_network"] = {"genotype": {k: [list(p) if isinstance(p, tuple) else p for p in v]
                                             for k, v in g._asdict().items()},
                                "setting": setting, "channels": C, "cells": n_cells, "auxiliary": auxiliary,
                                "drop_path": drop_path}
    return G


# ------------------------------------------------------------------ the model
class DARTSNetwork(WiredClassifier):
    """``head(wired(stem(x)))`` with DARTS' extras: an auxiliary head (training only; its logits
    are ``aux_logits`` after a training forward, None otherwise) and ``drop_path_prob``."""

    def __init__(self, stem: nn.Module, wired, head: nn.Module, aux_head: nn.Module | None = None,
                 aux_channels: int = 0):
        super().__init__(stem, wired, head)
        self.aux_head = aux_head
        self.aux_channels = aux_channels
        self.aux_logits: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = getattr(self, "input_spec", None)
        if spec is not None:
            p = next(self.parameters())
            check_input(x, channels=spec[0], dims=spec[1], dtype=p.dtype, where="the network's stem")
        y = self.wired(self.stem(x))
        self.aux_logits = None
        if self.aux_head is not None:
            a, y = y[:, : self.aux_channels], y[:, self.aux_channels:]
            if self.training:
                self.aux_logits = self.aux_head(a)
        return self.head(y)

    @property
    def drop_path_prob(self) -> float:
        """The drop-path probability of every ``drop_path`` node (setting it sets them all)."""
        mods = [m for m in self.wired.modules() if hasattr(m, "drop_path_prob")]
        return mods[0].drop_path_prob if mods else 0.0

    @drop_path_prob.setter
    def drop_path_prob(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise ParameterError(f"drop_path_prob must be a probability in [0, 1), got {value!r}")
        mods = [m for m in self.wired.modules() if hasattr(m, "drop_path_prob")]
        if not mods and value > 0:
            raise ParameterError("this network has no drop_path nodes (build it with drop_path=True)")
        for m in mods:
            m.drop_path_prob = float(value)

    def _around(self, wired) -> "DARTSNetwork":
        return DARTSNetwork(copy.deepcopy(self.stem), wired, copy.deepcopy(self.head), copy.deepcopy(self.aux_head),
                            self.aux_channels)


class AuxPool(nn.Module):
    """The auxiliary head's pooling: DARTS' 5x5 average pool (``stride``, padding not counted), which
    makes the 2x2 map the head expects from 8x8 (CIFAR-10) or 7x7 (ImageNet at 224 px) inputs; maps
    of other sizes are then averaged to 2x2, so the head works at any image size."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[2:]) >= 5:
            x = F.avg_pool2d(x, 5, self.stride, 0, count_include_pad=False)
        return x if tuple(x.shape[2:]) == (2, 2) else F.adaptive_avg_pool2d(x, 2)

    def extra_repr(self) -> str:
        return f"kernel_size=5, stride={self.stride}"


def _aux_head(setting: str, C: int, num_classes: int) -> nn.Module:
    """DARTS' auxiliary heads: ReLU, pool to 2x2, 1x1 conv to 128, BN, ReLU, 2x2 conv to 768,
    (BN on CIFAR-10 only, as the published ImageNet models were trained), ReLU, linear."""
    layers = [nn.ReLU(), AuxPool(3 if setting == "cifar10" else 2), nn.Conv2d(C, 128, 1, bias=False),
              nn.BatchNorm2d(128), nn.ReLU(), nn.Conv2d(128, 768, 2, bias=False)]
    if setting == "cifar10":
        layers.append(nn.BatchNorm2d(768))
    layers += [nn.ReLU(), nn.Flatten(), nn.Linear(768, num_classes)]
    return nn.Sequential(*layers)


@keywords
def darts_network(genotype: Any = "DARTS_V2", *, setting: str = "cifar10", in_channels: int = 3,
                  num_classes: int | None = None, channels: int | None = None, cells: int | None = None,
                  auxiliary: bool = False, drop_path: bool = True, image_size: int | None = None) -> DARTSNetwork:
    """DARTS' evaluation network for ``genotype`` (see the module docstring).

    ``setting="cifar10"``: 20 cells, C = 36, 10 classes (stem: 3x3 conv to 3C -> BN);
    ``setting="imagenet"``: the mobile setting, 14 cells, C = 48, 1,000 classes (stem0: 3x3 conv
    stride 2 to C/2 -> BN -> ReLU -> 3x3 conv stride 2 to C -> BN; then the graph's ``stem1``).
    ``channels``, ``cells`` and ``num_classes`` override the setting's. The classifier is a
    global average pool and a fully connected layer. ``image_size`` (32 / 224 by default) sets
    ``model.input_shape``.

    DARTS_V2: 3,349,342 parameters on CIFAR-10 without the auxiliary head (the paper: 3.3M); in
    the mobile setting 4.72M parameters (the paper: 4.7M) and 530M multiply-adds at 224 px counted
    over the convolutions and the classifier, short of the paper's 574M (see docs/models.md).

    >>> m = darts_network("DARTS_V2", channels=4, cells=3, auxiliary=True)
    >>> m(torch.randn(2, 3, 32, 32)).shape, m.aux_logits.shape
    (torch.Size([2, 10]), torch.Size([2, 10]))
    """
    check_choice("darts_network", "setting", setting, tuple(SETTINGS))
    defaults = SETTINGS[setting]
    in_channels = check_positive_int("darts_network", "in_channels", in_channels)
    num_classes = check_positive_int("darts_network", "num_classes",
                                     defaults["num_classes"] if num_classes is None else num_classes)
    image_size = check_positive_int("darts_network", "image_size",
                                    (32 if setting == "cifar10" else 224) if image_size is None else image_size)
    G = darts_network_graph(genotype, setting=setting, channels=channels, cells=cells, auxiliary=auxiliary,
                            drop_path=drop_path)
    C = meta(G)["darts_network"]["channels"]
    if setting == "cifar10":
        stem = nn.Sequential(nn.Conv2d(in_channels, 3 * C, 3, padding=1, bias=False), nn.BatchNorm2d(3 * C))
    else:
        stem = nn.Sequential(nn.Conv2d(in_channels, C // 2, 3, stride=2, padding=1, bias=False),
                             nn.BatchNorm2d(C // 2), nn.ReLU(),
                             nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C))
    kw = dict(in_channels=G.nodes[0]["channels"], dims=2, op_options=copy.deepcopy(EVAL_OP_OPTIONS))
    wired = compile(G, wiring="static", **kw)
    outs = [wired.plan.nodes[p] for p in wired.plan.outputs]
    aux_ch = outs[0].out_ch if auxiliary else 0
    final = wired.out_channels - aux_ch
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(final, num_classes))
    aux = _aux_head(setting, aux_ch, num_classes) if auxiliary else None
    model = DARTSNetwork(stem, wired, head, aux, aux_ch)
    model.input_spec = (in_channels, 2)
    model.input_shape = (1, in_channels, image_size, image_size)
    return model
