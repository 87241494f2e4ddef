"""RandWire (Xie, Kirillov, Girshick, He 2019, "Exploring Randomly Wired Neural Networks for Image
Recognition"): the paper's Table 1 layouts as one graph.

Each random stage is a generator graph (WS, ER or BA) of ``N`` nodes, oriented from lower to
higher index. The paper's node roles:

* the stage's *input node* is the previous stage's output (or the stem's): it does no convolution;
* its *source nodes* (in-degree 0 in the random graph) read it, and they alone change the width
  and halve the resolution (stride 2);
* every random node aggregates its inputs with a weighted sum and runs ReLU -> 3x3 separable
  convolution -> BatchNorm (op ``sepconv``);
* the stage's *output node* averages its sink nodes and does no convolution (op ``identity``;
  its input edges carry ``weight = 1 / sinks``, the unweighted mean a ``static`` wiring uses).

The whole network's random part is one DAG (``model.graph``): node 0 is the stem's output, then
each stage's random nodes and its output node, which the next stage's sources read. Node
attributes: ``stage`` (0, 1, ...), ``op``, ``channels``, ``stride`` (2 on sources).
"""

from __future__ import annotations

import networkx as nx
import torch  # noqa: F401  (doctest)
from torch import nn

from .. import generators
from ..compiler import compile
from ..errors import ParameterError
from ..generators.stack import stage_seed
from ..graph import meta
from ..registry import did_you_mean
from ._checks import check_choice, check_positive_int
from .classifiers import WiredClassifier

__all__ = ["randwire", "randwire_graph", "FAMILIES", "REGIMES"]

#: The random graph families and the paper's parameters for them (N = 32 nodes per stage).
FAMILIES = {"ws": ("watts_strogatz", {"k": 4, "p": 0.75}),
            "er": ("erdos_renyi", {"p": 0.2}),
            "ba": ("barabasi_albert", {"m": 5})}
_EXTRA = {"er": ("algorithm",)}

#: The paper's regimes (Table 1): ``small`` (conv1, conv2, three random stages; C = 78) and
#: ``regular`` (conv1, an N/2-node random stage, then three; C = 109 or 154).
REGIMES = ("small", "regular")


def _family(family: str, params: dict) -> tuple:
    if family not in FAMILIES:
        raise ParameterError(f"family must be one of {sorted(FAMILIES)}, got {family!r}"
                             f"{did_you_mean(family, sorted(FAMILIES)) if isinstance(family, str) else ''}")
    name, defaults = FAMILIES[family]
    allowed = list(defaults) + list(_EXTRA.get(family, ()))
    for k in params:
        if k not in allowed:
            raise ParameterError(f"randwire() has no argument {k!r}{did_you_mean(k, allowed + _ARGS)}; "
                                 f"family {family!r} takes {allowed} besides {_ARGS}")
    return getattr(generators, name), dict(defaults, **params)


def randwire_graph(*, regime: str = "small", family: str = "ws", nodes: int = 32, channels: int = 78,
                   stages: int | None = None, seed: int = 0, op: str = "sepconv", **family_params) -> nx.DiGraph:
    """The random part of a RandWire network as one graph (see the module docstring).

    ``regime="small"``: ``stages`` (3) random stages of ``nodes`` nodes at C, 2C, 4C channels,
    reading a C-channel stem. ``regime="regular"``: a first stage of ``nodes // 2`` nodes at C,
    then ``stages - 1`` (3) stages of ``nodes`` at 2C, 4C, 8C, reading a C/2-channel stem. Stage
    ``s`` draws its graph with the seed ``generators.stage_seed(seed, s)``.

    >>> G = randwire_graph(nodes=8, channels=4, seed=1)
    >>> sorted({d["stage"] for _, d in G.nodes(data=True)}), G.nodes[0]["channels"]
    ([0, 1, 2], 4)
    """
    check_choice("randwire", "regime", regime, REGIMES)
    gen, params = _family(family, family_params)
    nodes = check_positive_int("randwire", "nodes", nodes, 2 if regime == "regular" else 1)
    channels = check_positive_int("randwire", "channels", channels, 2 if regime == "regular" else 1)
    default_stages = 3 if regime == "small" else 4
    stages = check_positive_int("randwire", "stages", default_stages if stages is None else stages,
                                1 if regime == "small" else 2)
    if regime == "small":
        plan = [(nodes, channels * 2 ** s) for s in range(stages)]
        stem = channels
    else:
        plan = [(nodes // 2, channels)] + [(nodes, channels * 2 ** s) for s in range(1, stages)]
        stem = channels // 2
    G = nx.DiGraph()
    G.add_node(0, role="input", op="identity", channels=stem, stage=0)
    prev, label = 0, 1
    record = []
    for s, (n, c) in enumerate(plan):
        s_seed = stage_seed(seed, s)
        R = gen(n, seed=s_seed, **params)
        first, last = 0, n + 1  # the generator's own input and output nodes
        ids = {v: label + i for i, v in enumerate(range(1, n + 1))}
        label += n
        out = label
        label += 1
        for v in range(1, n + 1):
            G.add_node(ids[v], role="hidden", op=op, channels=c, stage=s)
        G.add_node(out, role="hidden", op="identity", channels=c, stage=s)
        sources = sorted(R.successors(first))
        sinks = sorted(R.predecessors(last))
        for u, v in R.edges:
            if u == first:
                G.nodes[ids[v]]["stride"] = 2
                G.add_edge(prev, ids[v])
            elif v == last:
                G.add_edge(ids[u], out, weight=1.0 / len(sinks))
            else:
                G.add_edge(ids[u], ids[v])
        record.append({"nodes": n, "channels": c, "seed": s_seed, "sources": len(sources), "sinks": len(sinks),
                       "edges": R.number_of_edges()})
        prev = out
    G.nodes[prev]["role"] = "output"
    meta(G)["randwire"] = {"regime": regime, "family": family, "params": params, "nodes": nodes,
                           "channels": channels, "seed": seed, "stages": record}
    return G


_ARGS = ["in_channels", "num_classes", "regime", "family", "nodes", "channels", "stages", "seed", "wiring",
         "stem_stride", "head_channels", "op", "image_size"]


def randwire(*, in_channels: int = 3, num_classes: int = 10, regime: str = "small", family: str = "ws",
             nodes: int = 32, channels: int | None = None, stages: int | None = None, seed: int = 0,
             wiring="sigmoid", stem_stride: int = 2, head_channels: int = 1280, op: str = "sepconv",
             image_size: int = 224, **family_params) -> WiredClassifier:
    """A RandWire network in the paper's layout (Table 1), for images of any size.

    * ``regime="small"`` (C = ``channels``, default 78): conv1 (3x3, C/2, stride 2) -> conv2
      (ReLU, 3x3, C, stride 2) -> random stages at C, 2C, 4C -> classifier.
    * ``regime="regular"`` (default C = 109; the paper also uses 154): conv1 (3x3, C/2, stride
      2) -> a random stage of N/2 nodes at C -> stages at 2C, 4C, 8C -> classifier.
    * classifier: ReLU, 1x1 conv to ``head_channels`` (1280), BatchNorm, ReLU, global average
      pool, fully connected to ``num_classes``.

    Every random stage halves the resolution at its source nodes, so a 224-px image reaches the
    classifier at 7x7 in both regimes. ``family``: ``"ws"`` (WS, k=4, p=0.75, the paper's default),
    ``"er"`` (p=0.2) or ``"ba"`` (m=5); their parameters can be overridden by keyword (``p=0.5``).
    ``wiring="sigmoid"`` learns the paper's positive aggregation weights (a sigmoid gate on every
    edge, the edges into a stage's output node included); ``"static"`` keeps them fixed at 1 (and
    the output nodes' unweighted mean).

    For CIFAR-sized images, ``stem_stride=1`` (conv1 and, in the small regime, conv2 at stride 1):
    a 32-px image then reaches the three random stages at 16, 8 and 4 px. ``image_size`` only sets
    ``model.input_shape`` (``(1, in_channels, image_size, image_size)``), the shape
    :func:`graphwire.inference_cost` counts by default.

    Paper figures at 224 px, 1,000 classes (mean of 5 WS instances, seeds 0-4; docs/models.md):
    small C=78 5.63M parameters / 589M MACs (paper 5.6M / 583M); regular C=109 32.1M / 4.01G
    (31.9M / 4.0G); regular C=154 61.9M / 7.87G (61.5M / 7.9G).

    >>> m = randwire(num_classes=10, nodes=8, channels=8, stem_stride=1)
    >>> m(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    check_choice("randwire", "regime", regime, REGIMES)
    _check_classes(num_classes)
    in_channels = check_positive_int("randwire", "in_channels", in_channels)
    stem_stride = check_positive_int("randwire", "stem_stride", stem_stride)
    head_channels = check_positive_int("randwire", "head_channels", head_channels)
    image_size = check_positive_int("randwire", "image_size", image_size)
    if channels is None:
        channels = 78 if regime == "small" else 109
    G = randwire_graph(regime=regime, family=family, nodes=nodes, channels=channels, stages=stages, seed=seed,
                       op=op, **family_params)
    half = max(channels // 2, 1)
    conv1 = [nn.Conv2d(in_channels, half, 3, stem_stride, 1, bias=False), nn.BatchNorm2d(half)]
    if regime == "small":
        stem = nn.Sequential(*conv1, nn.ReLU(), nn.Conv2d(half, channels, 3, stem_stride, 1, bias=False),
                             nn.BatchNorm2d(channels))
    else:
        stem = nn.Sequential(*conv1)
    kw = dict(in_channels=G.nodes[0]["channels"], dims=2)
    wired = compile(G, wiring=wiring, **kw)
    head = nn.Sequential(nn.ReLU(), nn.Conv2d(wired.out_channels, head_channels, 1, bias=False),
                         nn.BatchNorm2d(head_channels), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(head_channels, num_classes))
    model = WiredClassifier(stem, wired, head)
    model.input_spec = (in_channels, 2)
    model.input_shape = (1, in_channels, image_size, image_size)
    return model


def _check_classes(num_classes) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ParameterError(f"num_classes must be a positive integer, got {num_classes!r}")

