"""Search spaces: objects that make graphs from flat choices.

A space has named discrete dimensions (``dims``: name -> allowed values). ``decode(choices)``
builds the graph (and records the choices in ``G.graph["search"]``), ``encode(G)`` reads them
back, so Optuna's samplers can search the same space through the flat encoding. ``sample``,
``mutate`` and ``expand`` are what the strategies need; ``validate`` and ``hash`` guard the
results. No torch here: graph-only work stays light.
"""

from __future__ import annotations

import abc
import functools
import inspect
import itertools
import random
from collections.abc import Callable, Sequence
from typing import Any

import networkx as nx

from ..errors import GraphError, ParameterError
from ..graph import validate as validate_graph
from ..registry import Registry
from .hashing import graph_hash

__all__ = [
    "CellSpace",
    "FunctionSpace",
    "GeneratorSpace",
    "MacroSpace",
    "SearchSpace",
    "SPACES",
    "space",
    "space_from_spec",
]

Choices = dict[str, Any]


class SearchSpace(abc.ABC):
    """Base class. Subclasses define ``dims`` and ``build(choices) -> nx.DiGraph``.

    ``network(G)`` is what the training objective compiles (by default ``G`` itself; the cell
    space stacks the cell). ``spec()`` is the JSON-able recipe a worker process uses to rebuild
    the space, so nothing is pickled.
    """

    name = "space"
    mutate_tries = 20

    @property
    @abc.abstractmethod
    def dims(self) -> dict[str, list]:
        """Each choice's name and its allowed values."""

    @abc.abstractmethod
    def build(self, choices: Choices) -> nx.DiGraph:
        """The graph these choices make."""

    def spec(self) -> dict:
        return {"kind": self.name, "kwargs": {}}

    def network(self, G: nx.DiGraph) -> nx.DiGraph:
        return G

    def active(self, choices: Choices) -> list[str]:
        """The dimensions that change the graph for these choices (all by default)."""
        return list(self.dims)

    # -------------------------------------------------------------- choices <-> graphs
    def check_choices(self, choices: Choices) -> Choices:
        dims = self.dims
        missing = [k for k in dims if k not in choices]
        if missing:
            raise ParameterError(f"{self.name} space: choices miss {missing[:5]}")
        for k, v in choices.items():
            if k not in dims:
                raise ParameterError(f"{self.name} space: unknown choice {k!r}; known: {list(dims)[:8]}...")
            if v not in dims[k]:
                raise ParameterError(f"{self.name} space: choice {k}={v!r} is not one of {dims[k]}")
        return {k: choices[k] for k in dims}

    def decode(self, choices: Choices) -> nx.DiGraph:
        """The graph these choices make, validated; the choices are kept in ``G.graph['search']``."""
        choices = self.check_choices(dict(choices))
        G = self.build(choices)
        G.graph["search"] = {"space": self.name, "choices": choices}
        return self.validate(G)

    def encode(self, G: nx.DiGraph) -> Choices:
        """The flat choices that made ``G`` (recorded in the graph by :meth:`decode`)."""
        rec = G.graph.get("search")
        if not isinstance(rec, dict) or not isinstance(rec.get("choices"), dict):
            raise GraphError(f"{self.name} space: graph has no graph['search']['choices'] record; "
                             "only graphs made by a space can be encoded")
        return self.check_choices(dict(rec["choices"]))

    # -------------------------------------------------------------- strategy helpers
    def sample(self, rng: random.Random) -> nx.DiGraph:
        """A uniformly drawn valid graph (choices that make an invalid graph are drawn again,
        up to 100 times)."""
        for _ in range(99):
            try:
                return self.decode({k: rng.choice(v) for k, v in self.dims.items()})
            except GraphError:
                continue
        return self.decode({k: rng.choice(v) for k, v in self.dims.items()})

    def mutate(self, G: nx.DiGraph, rng: random.Random, *, fallback: bool = True) -> nx.DiGraph | None:
        """Change one active choice to another value (bounded retries until the hash changes).
        When no try changes the graph: a fresh sample (``fallback=True``) or None."""
        choices, h = self.encode(G), self.hash(G)
        for _ in range(self.mutate_tries):
            keys = [k for k in self.active(choices) if len(self.dims[k]) > 1]
            if not keys:
                break
            k = rng.choice(keys)
            new = dict(choices)
            new[k] = rng.choice([v for v in self.dims[k] if v != choices[k]])
            try:
                child = self.decode(new)
            except GraphError:
                continue
            if self.hash(child) != h:
                return child
        return self.sample(rng) if fallback else None

    def expand(self, G: nx.DiGraph) -> list[nx.DiGraph]:
        raise ParameterError(f"the {self.name} space cannot expand graphs (only the cell space, for pnas)")

    def validate(self, G: nx.DiGraph) -> nx.DiGraph:
        return validate_graph(G)

    def hash(self, G: nx.DiGraph) -> str:
        """WL hash (see :mod:`.hashing`). A graph this space decoded is hashed once per choice
        set (memoised by its recorded choices; decode is deterministic)."""
        rec = G.graph.get("search")
        if isinstance(rec, dict) and rec.get("space") == self.name and isinstance(rec.get("choices"), dict):
            try:
                key = tuple(sorted(rec["choices"].items()))
                cache = self.__dict__.setdefault("_hash_cache", {})
                if key not in cache:
                    cache[key] = graph_hash(G)
                return cache[key]
            except TypeError:  # unhashable choice values
                pass
        return graph_hash(G)

    def size(self) -> int:
        """Number of flat choice combinations (an upper bound on distinct graphs)."""
        n = 1
        for v in self.dims.values():
            n *= len(v)
        return n


def _checked_values(name: str, values: Any, kind=int) -> list:
    if not isinstance(values, (list, tuple)) or not values:
        raise ParameterError(f"{name} must be a non-empty list, got {values!r}")
    for v in values:
        if not isinstance(v, kind) or isinstance(v, bool):
            raise ParameterError(f"{name}: every value must be {kind.__name__}, got {v!r}")
    return list(values)


# ====================================================================== macro (Zoph & Le)
class MacroSpace(SearchSpace):
    """The RL space of Zoph & Le, "Neural Architecture Search with Reinforcement Learning": ``layers`` conv layers, each with a filter height/width, a filter
    count and a stride from given sets, and skip connections from any earlier layer.

    Rules from the paper: a layer with no input reads the image (input node); layer outputs
    nobody reads are concatenated before the classifier (the output node); layers concatenate
    their inputs, and inputs of different length are resized to the smallest (the paper
    zero-pads instead). The node op is ``conv_k{h}`` (1-D) or ``conv_k{h}x{w}`` (2-D); the ops
    are registered by :mod:`graphwire.search.ops`.
    """

    name = "macro"

    def __init__(self, *, layers: int = 6, heights: Sequence[int] = (3, 5, 7), widths: Sequence[int] | None = None,
                 filters: Sequence[int] = (8, 16, 32), strides: Sequence[int] = (1, 2)):
        if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
            raise ParameterError(f"layers must be a positive int, got {layers!r}")
        self.layers = layers
        self.heights = _checked_values("heights", heights)
        self.widths = None if widths is None else _checked_values("widths", widths)
        self.filters = _checked_values("filters", filters)
        self.strides = _checked_values("strides", strides)

    def spec(self) -> dict:
        return {"kind": "macro", "kwargs": {"layers": self.layers, "heights": self.heights, "widths": self.widths,
                                            "filters": self.filters, "strides": self.strides}}

    @property
    def dims(self) -> dict[str, list]:
        d: dict[str, list] = {}
        for i in range(self.layers):
            d[f"l{i}_height"] = self.heights
            if self.widths is not None:
                d[f"l{i}_width"] = self.widths
            d[f"l{i}_filters"] = self.filters
            d[f"l{i}_stride"] = self.strides
            for j in range(i):
                d[f"l{i}_skip{j}"] = [0, 1]
        return d

    def anchor_dims(self) -> dict[str, tuple[int, int]]:
        """Skip choices, for the RL controller's anchor points: dim -> (layer i, earlier layer j)."""
        return {f"l{i}_skip{j}": (i, j) for i in range(self.layers) for j in range(i)}

    def anchor_layers(self) -> dict[int, str]:
        """Layer i's anchor is the controller state after its stride choice."""
        return {i: f"l{i}_stride" for i in range(self.layers)}

    def op_name(self, choices: Choices, i: int) -> str:
        h = choices[f"l{i}_height"]
        return f"conv_k{h}" if self.widths is None else f"conv_k{h}x{choices[f'l{i}_width']}"

    def build(self, choices: Choices) -> nx.DiGraph:
        G = nx.DiGraph()
        G.add_node("image", role="input", op="identity")
        read = set()
        for i in range(self.layers):
            G.add_node(f"l{i}", role="hidden", op=self.op_name(choices, i), channels=choices[f"l{i}_filters"],
                       stride=choices[f"l{i}_stride"], agg="concat")
            srcs = [j for j in range(i) if choices[f"l{i}_skip{j}"]]  # the anchor point's picks
            if not srcs:
                G.add_edge("image", f"l{i}")
            for j in srcs:
                G.add_edge(f"l{j}", f"l{i}")
                read.add(j)
        G.add_node("out", role="output", op="identity", agg="concat")
        for i in range(self.layers):
            if i not in read:
                G.add_edge(f"l{i}", "out")
        return G


# ====================================================================== cell (PNAS / NAS-Bench)
CELL_OPS_1D = ("conv_k3", "conv_k5", "max_pool_3x3", "identity")


class CellSpace(SearchSpace):
    """A cell of 1..``blocks`` blocks; block ``b`` takes two inputs from the earlier states
    (0 = the cell input, k = block k-1), applies one op to each and sums them; blocks nobody
    reads are summed into the cell output. :meth:`network` stacks ``stack`` copies of the cell.

    Flat choices: ``blocks`` and, per block slot ``b``, ``b{b}_in1/op1/in2/op2`` (slots past
    ``blocks`` are inactive and encoded as their first value).
    """

    name = "cell"

    def __init__(self, *, blocks: int = 2, ops: Sequence[str] = CELL_OPS_1D, stack: int = 2):
        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 1:
            raise ParameterError(f"blocks must be a positive int, got {blocks!r}")
        self.blocks = blocks
        self.ops = _checked_values("ops", ops, str)
        if isinstance(stack, bool) or not isinstance(stack, int) or stack < 1:
            raise ParameterError(f"stack must be a positive int, got {stack!r}")
        self.stack = stack

    def spec(self) -> dict:
        return {"kind": "cell", "kwargs": {"blocks": self.blocks, "ops": self.ops, "stack": self.stack}}

    @property
    def dims(self) -> dict[str, list]:
        d: dict[str, list] = {"blocks": list(range(1, self.blocks + 1))}
        for b in range(self.blocks):
            for s in ("1", "2"):
                d[f"b{b}_in{s}"] = list(range(b + 1))
                d[f"b{b}_op{s}"] = self.ops
        return d

    def active(self, choices: Choices) -> list[str]:
        n = choices["blocks"]
        return ["blocks"] + [k for k in self.dims if k != "blocks" and int(k[1:].split("_")[0]) < n]

    def canonical(self, choices: Choices) -> Choices:
        """Inactive slots at their first value; the two halves of a block in sorted order."""
        dims, c = self.dims, dict(choices)
        for b in range(self.blocks):
            if b >= c["blocks"]:
                for k in (f"b{b}_in1", f"b{b}_op1", f"b{b}_in2", f"b{b}_op2"):
                    c[k] = dims[k][0]
            else:
                p1 = (c[f"b{b}_in1"], self.ops.index(c[f"b{b}_op1"]))
                p2 = (c[f"b{b}_in2"], self.ops.index(c[f"b{b}_op2"]))
                if p2 < p1:
                    c[f"b{b}_in1"], c[f"b{b}_op1"], c[f"b{b}_in2"], c[f"b{b}_op2"] = (
                        c[f"b{b}_in2"], c[f"b{b}_op2"], c[f"b{b}_in1"], c[f"b{b}_op1"])
        return c

    def decode(self, choices: Choices) -> nx.DiGraph:
        return super().decode(self.canonical(self.check_choices(dict(choices))))

    def build(self, choices: Choices) -> nx.DiGraph:
        G = nx.DiGraph()
        G.add_node("in", role="input", op="identity")
        state = lambda k: "in" if k == 0 else f"b{k - 1}"
        read = set()
        for b in range(choices["blocks"]):
            G.add_node(f"b{b}", role="hidden", op="identity", agg="sum")
            for s in ("1", "2"):
                op_node = f"b{b}_{s}"
                G.add_node(op_node, role="hidden", op=choices[f"b{b}_op{s}"])
                G.add_edge(state(choices[f"b{b}_in{s}"]), op_node)
                G.add_edge(op_node, f"b{b}")
                read.add(choices[f"b{b}_in{s}"])
        G.add_node("out", role="output", op="identity", agg="sum")
        for b in range(choices["blocks"]):
            if b + 1 not in read:
                G.add_edge(f"b{b}", "out")
        return G

    def expand(self, G: nx.DiGraph) -> list[nx.DiGraph]:
        """Every cell with one more block appended (PNAS's b -> b+1 step), de-duplicated by hash.
        Memoised per parent hash (the returned graphs are shared: do not modify them)."""
        cache = self.__dict__.setdefault("_expand_cache", {})
        key = self.hash(G)
        if key not in cache:
            cache[key] = self._expand(G)
        return list(cache[key])

    def _expand(self, G: nx.DiGraph) -> list[nx.DiGraph]:
        c = self.encode(G)
        b = c["blocks"]
        if b >= self.blocks:
            return []
        out, seen = [], set()
        pairs = list(itertools.product(range(b + 1), self.ops))
        for (i1, o1), (i2, o2) in itertools.combinations_with_replacement(pairs, 2):
            new = dict(c, blocks=b + 1, **{f"b{b}_in1": i1, f"b{b}_op1": o1, f"b{b}_in2": i2, f"b{b}_op2": o2})
            child = self.decode(new)
            h = self.hash(child)
            if h not in seen:
                seen.add(h)
                out.append(child)
        return out

    def initial(self) -> list[nx.DiGraph]:
        """All distinct 1-block cells (PNAS's first round)."""
        c = {k: v[0] for k, v in self.dims.items()}
        out, seen = [], set()
        for (o1, o2) in itertools.combinations_with_replacement(self.ops, 2):
            G = self.decode(dict(c, blocks=1, b0_op1=o1, b0_op2=o2))
            h = self.hash(G)
            if h not in seen:
                seen.add(h)
                out.append(G)
        return out

    def enumerate(self) -> list[nx.DiGraph]:
        """Every distinct cell of the space (for the tabular benchmark), by hash."""
        allg, seen, level = [], set(), self.initial()
        while level:
            nxt = []
            for G in level:
                h = self.hash(G)
                if h not in seen:
                    seen.add(h)
                    allg.append(G)
                    nxt.extend(self.expand(G))
            level = nxt
        return allg

    def network(self, G: nx.DiGraph) -> nx.DiGraph:
        """``stack`` copies of the cell in a chain (copy k's input is copy k-1's output)."""
        N = nx.DiGraph()
        N.add_node("in", role="input", op="identity")
        prev = "in"
        for k in range(self.stack):
            name = {n: f"c{k}/{n}" for n in G.nodes}
            name["in"] = prev
            for n, d in G.nodes(data=True):
                if n == "in":
                    continue
                d = dict(d)
                d["role"] = "hidden"
                N.add_node(name[n], **d)
            N.add_edges_from((name[u], name[v]) for u, v in G.edges)
            prev = name["out"]
        N.nodes[prev]["role"] = "output"
        N.graph["search"] = G.graph.get("search")
        return validate_graph(N)


# ====================================================================== generator (RandWire)
class GeneratorSpace(SearchSpace):
    """RandWire's families and their parameters, the node op and width.

    Choices: ``family`` (er/ba/ws), ``nodes``, the family parameter (``er_p``, ``ba_m``,
    ``ws_k``/``ws_p``), ``op``, ``channels`` and the generator ``seed`` (so a graph is a
    deterministic function of the choices).
    """

    name = "generator"

    def __init__(self, *, nodes: Sequence[int] = (8, 12, 16), er_p: Sequence[float] = (0.2, 0.3, 0.5),
                 ba_m: Sequence[int] = (1, 2, 3), ws_k: Sequence[int] = (2, 4), ws_p: Sequence[float] = (0.25, 0.5, 0.75),
                 ops: Sequence[str] = ("conv", "sepconv"), channels: Sequence[int] = (16, 32),
                 seeds: Sequence[int] = (0, 1, 2, 3)):
        self.kw = {"nodes": _checked_values("nodes", nodes), "er_p": _checked_values("er_p", er_p, float),
                   "ba_m": _checked_values("ba_m", ba_m), "ws_k": _checked_values("ws_k", ws_k),
                   "ws_p": _checked_values("ws_p", ws_p, float), "ops": _checked_values("ops", ops, str),
                   "channels": _checked_values("channels", channels), "seeds": _checked_values("seeds", seeds)}

    def spec(self) -> dict:
        return {"kind": "generator", "kwargs": dict(self.kw)}

    @property
    def dims(self) -> dict[str, list]:
        k = self.kw
        return {"family": ["er", "ba", "ws"], "nodes": k["nodes"], "er_p": k["er_p"], "ba_m": k["ba_m"],
                "ws_k": k["ws_k"], "ws_p": k["ws_p"], "op": k["ops"], "channels": k["channels"], "seed": k["seeds"]}

    def active(self, choices: Choices) -> list[str]:
        fam = choices["family"]
        skip = {"er": ("ba_m", "ws_k", "ws_p"), "ba": ("er_p", "ws_k", "ws_p"), "ws": ("er_p", "ba_m")}[fam]
        return [k for k in self.dims if k not in skip]

    def build(self, choices: Choices) -> nx.DiGraph:
        from .. import generators

        fam, n, seed = choices["family"], choices["nodes"], choices["seed"]
        try:
            if fam == "er":
                G = generators.erdos_renyi(n, choices["er_p"], seed=seed)
            elif fam == "ba":
                G = generators.barabasi_albert(n, choices["ba_m"], seed=seed)
            else:
                G = generators.watts_strogatz(n, choices["ws_k"], choices["ws_p"], seed=seed)
        except GraphError as e:
            raise type(e)(f"generator space: family={fam!r} with these choices: {e}") from None
        for _, d in G.nodes(data=True):
            d["op"], d["channels"] = choices["op"], choices["channels"]
        return G


# ====================================================================== user-decorated
class FunctionSpace(SearchSpace):
    """A user function of named choices that returns a graph (see :func:`space`)."""

    def __init__(self, fn: Callable[..., nx.DiGraph], choices: dict[str, Sequence], name: str | None = None):
        if not callable(fn):
            raise ParameterError(f"space: expected a function, got {fn!r}")
        params = inspect.signature(fn).parameters
        for k, v in choices.items():
            if k not in params:
                raise ParameterError(f"space {fn.__name__!r}: choice {k!r} is not a parameter of the function")
            if not isinstance(v, (list, tuple)) or not v:
                raise ParameterError(f"space {fn.__name__!r}: choice {k!r} needs a non-empty list of values")
        self.fn, self._dims = fn, {k: list(v) for k, v in choices.items()}
        self.name = name or fn.__name__
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def spec(self) -> dict:
        return {"kind": "function", "kwargs": {"target": f"{self.fn.__module__}:{self.fn.__qualname__}"}}

    @property
    def dims(self) -> dict[str, list]:
        return self._dims

    def build(self, choices: Choices) -> nx.DiGraph:
        what = ", ".join(f"{k}={v!r}" for k, v in choices.items())
        try:
            G = self.fn(**choices)
        except GraphError as e:
            raise type(e)(f"space {self.name!r}: the choices {what} made an invalid graph: {e}") from None
        if not isinstance(G, nx.DiGraph):
            raise GraphError(f"space {self.name!r}: the function returned {type(G).__name__} for {what}; "
                             "expected a networkx.DiGraph")
        try:
            validate_graph(G)
        except GraphError as e:
            raise type(e)(f"space {self.name!r}: the choices {what} made an invalid graph: {e}") from None
        return G


def space(_fn: Callable | None = None, /, *, name: str | None = None, **choices: Sequence):
    """Decorate a function of named choices that returns a graph into a :class:`SearchSpace`.

    >>> import graphwire as gw
    >>> @space(depth=[1, 2, 3])
    ... def chains(depth):
    ...     return gw.generators.chain(depth)
    >>> chains.decode({"depth": 2}).number_of_nodes()
    4
    """
    def wrap(fn):
        sp = FunctionSpace(fn, choices, name)
        return sp
    return wrap(_fn) if _fn is not None else wrap


#: Search spaces by name (``graphwire search run NAME``); ``SPACES.register(name, factory)`` adds one.
SPACES: Registry[Callable[..., SearchSpace]] = Registry("space", hint="(or 'module:function')")
for _name, _factory in {"macro": MacroSpace, "cell": CellSpace, "generator": GeneratorSpace}.items():
    SPACES.register(_name, _factory)


def space_from_spec(spec: Any) -> SearchSpace:
    """Rebuild a space from :meth:`SearchSpace.spec` (or a built-in name, or ``module:function``)."""
    if isinstance(spec, SearchSpace):
        return spec
    if isinstance(spec, str):
        if ":" in spec:
            spec = {"kind": "function", "kwargs": {"target": spec}}
        else:
            spec = {"kind": spec, "kwargs": {}}
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ParameterError(f"space must be a SearchSpace, a name {SPACES.list()} or 'module:function', got {spec!r}")
    kind, kwargs = spec["kind"], dict(spec.get("kwargs") or {})
    if kind == "function":
        from ._graphio import import_target

        target = kwargs.get("target", "")
        obj = import_target(target, "space")
        if not isinstance(obj, SearchSpace):
            raise ParameterError(f"space {target!r} is not a SearchSpace (decorate it with graphwire.search.space)")
        return obj
    return SPACES.get(kind)(**kwargs)
