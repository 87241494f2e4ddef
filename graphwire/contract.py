"""The graph contract: which attributes a graph may carry, what values they take, and the small
helpers every layer reads them with.

graphwire's graphs are plain ``networkx.DiGraph`` objects. Everything graphwire needs lives in
node, edge and graph attributes, so any networkx algorithm works on them and they round-trip
through JSON. The contract owns the core attributes (roles, ops, widths, strides, aggregation,
stages, the learned ``weight`` and ``active``); every other attribute is *registered* by the part
of graphwire that writes it -- a wiring method declares the attributes its ``write_back`` puts on
the graph (:func:`register_attribute`, with the method as ``owner``), so this module never names a
method. Validation (:func:`graphwire.validate`) checks every registered attribute a graph carries.

>>> from graphwire.contract import attributes
>>> [a.name for a in attributes("node") if a.owner == "graphwire"]
['agg', 'block', 'channels', 'op', 'role', 'stage', 'stride']
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Hashable

import networkx as nx

from .errors import AttributeValueError, GraphError
from .registry import Registry, did_you_mean

__all__ = [
    "SCHEMA_VERSION",
    "ROLES",
    "AGGS",
    "NODE_DEFAULTS",
    "Attribute",
    "register_attribute",
    "attributes",
    "NODE_CHECKS",
    "EDGE_CHECKS",
    "check_version",
    "COMPILE_KEYS",
    "check_compile_record",
    "node_attr",
    "inputs",
    "outputs",
    "reachable",
    "sort_key",
    "meta",
    "own_attrs",
    "copy_graph",
    "edges_hash",
    "is_int",
    "finite",
    "unit",
    "positive_int",
    "nonneg_int",
    "choice",
    "boolean",
    "op_name",
]

#: The newest graph record this graphwire writes; it reads every version from 1 up to it.
SCHEMA_VERSION = 2
ROLES = ("input", "output", "hidden")
AGGS = ("sum", "concat", "max")
#: Defaults for node attributes a graph may leave out (``op`` and ``channels`` default at compile).
NODE_DEFAULTS: dict[str, Any] = {"role": "hidden", "stride": 1, "agg": "sum"}

Check = Callable[[Any], "str | None"]


def sort_key(node: Hashable) -> tuple:
    """Deterministic order for int and str labels mixed (ints first, then strings)."""
    return (isinstance(node, str), node)


# ---------------------------------------------------------------- value checks (None: fine, else what is wrong)
def is_int(v: Any) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


_INT_LIMIT = 2**31 - 1  # channels, strides, stages: anything larger is a typo, not a network


def _show(v: Any) -> str:
    """``repr(v)``, with huge integers shown by their digit count."""
    if is_int(v) and abs(v) > 10**15:
        return f"an integer of {len(str(abs(v)))} digits"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def finite(v: Any) -> str | None:
    if type(v) is float and math.isfinite(v):  # the common case, first (millions of edge weights)
        return None
    if not _is_real(v):
        return f"must be a finite number, got {_show(v)} ({type(v).__name__})"
    try:
        ok = math.isfinite(float(v))
    except OverflowError:
        ok = False
    if not ok:
        return f"must be a finite number, got {_show(v)}"
    return None


def unit(v: Any) -> str | None:
    err = finite(v)
    if err is None and not 0.0 <= float(v) <= 1.0:
        err = f"must lie in [0, 1], got {_show(v)}"
    return err


def positive_int(v: Any) -> str | None:
    if not is_int(v) or not 1 <= v <= _INT_LIMIT:
        return f"must be a positive integer up to {_INT_LIMIT}, got {_show(v)}"
    return None


def nonneg_int(v: Any) -> str | None:
    if not is_int(v) or not 0 <= v <= _INT_LIMIT:
        return f"must be a non-negative integer up to {_INT_LIMIT}, got {_show(v)}"
    return None


def choice(allowed: tuple) -> Check:
    def check(v: Any) -> str | None:
        if v not in allowed:
            return f"must be one of {list(allowed)}, got {v!r}"
        return None

    return check


def boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"must be true or false, got {v!r}"


def op_name(v: Any) -> str | None:
    return None if isinstance(v, str) and v else f"must be a non-empty op name, got {v!r}"


# ---------------------------------------------------------------- the attribute registry
@dataclass(frozen=True)
class Attribute:
    """One attribute of the contract: its ``kind`` (``"node"`` or ``"edge"``), ``name``, value
    ``check`` (returns None or what is wrong), ``owner`` (``"graphwire"`` for the core, else the
    method or transform that writes it) and a one-line ``doc``."""
    kind: str
    name: str
    check: Check
    owner: str
    doc: str = ""


_REGISTRIES = {"node": Registry[Attribute]("node attribute"), "edge": Registry[Attribute]("edge attribute")}
#: ``{name: check}`` of the registered node / edge attributes (what validation runs), kept in step
#: with the registry.
NODE_CHECKS: dict[str, Check] = {}
EDGE_CHECKS: dict[str, Check] = {}
_CHECKS = {"node": NODE_CHECKS, "edge": EDGE_CHECKS}


def register_attribute(kind: str, name: str, check: Check, *, owner: str, doc: str = "",
                       overwrite: bool = False) -> Attribute:
    """Add an attribute to the contract: validation then checks it wherever a graph carries it.

    A wiring method registers what its ``write_back`` writes (``owner`` = its name); a name another
    owner registered needs ``overwrite=True``.

    >>> import graphwire.contract as c
    >>> a = c.register_attribute("edge", "margin", c.finite, owner="my_method", doc="a learned margin")
    >>> c.EDGE_CHECKS["margin"](float("nan"))
    'must be a finite number, got nan'
    """
    if kind not in _REGISTRIES:
        raise GraphError(f"attribute kind must be 'node' or 'edge', got {kind!r}")
    if not callable(check):
        raise GraphError(f"attribute {name!r}: check must be callable, got {check!r}")
    reg = _REGISTRIES[kind]
    old = reg.get(name) if name in reg else None
    attr = Attribute(kind, name, check, owner, doc)
    if old is not None and old.owner == owner and not overwrite:
        attr = old if old.check is check else attr  # the owner's module imported again
        overwrite = True
    reg.register(name, attr, overwrite=overwrite)
    _CHECKS[kind][name] = attr.check
    return attr


def attributes(kind: str | None = None) -> list[Attribute]:
    """The registered attributes (of one ``kind``), sorted by kind and name."""
    kinds = [kind] if kind is not None else sorted(_REGISTRIES)
    return [a for k in kinds for _, a in _REGISTRIES[k].items()]


for _name, _check, _doc in [
    ("role", choice(ROLES), "input, output or hidden (default hidden)"),
    ("agg", choice(AGGS), "how a node combines its inputs: sum, concat or max (default sum)"),
    ("op", op_name, "the registered node op (default: compile's default_op)"),
    ("channels", positive_int, "output width (default: compile's channels)"),
    ("stride", positive_int, "spatial stride of the op (default 1)"),
    ("stage", nonneg_int, "stage of a multi-stage network (drawn as a cluster)"),
    ("block", nonneg_int, "DNW depth partition"),
]:
    register_attribute("node", _name, _check, owner="graphwire", doc=_doc)
for _name, _check, _doc in [
    ("weight", finite, "learned strength: a gate in [0, 1], a signed DNW weight, a static coefficient"),
    ("active", boolean, "whether the edge is used at inference"),
]:
    register_attribute("edge", _name, _check, owner="graphwire", doc=_doc)


def check_version(record: Any, where: str = "graph attribute graphwire.version") -> int:
    """The schema version of a graph record (1 when absent), or an :class:`AttributeValueError`."""
    version = record.get("version", 1) if isinstance(record, dict) else record
    if not is_int(version) or not 1 <= version <= SCHEMA_VERSION:
        raise AttributeValueError(f"{where} must be an integer 1..{SCHEMA_VERSION} (this graphwire reads versions "
                                  f"1..{SCHEMA_VERSION}), got {version!r}")
    return int(version)


#: The keys of a graph's ``compile`` record (schema 2): what ``compile`` needs beyond the nodes.
COMPILE_KEYS = ("in_channels", "dims", "resize", "op_options", "wiring")


def check_compile_record(record: Any) -> dict:
    """A graph's ``G.graph["graphwire"]["compile"]`` record checked (keys, types, ranges), or an
    :class:`AttributeValueError` naming the field."""
    where = "graph attribute graphwire.compile"
    if not isinstance(record, dict):
        raise AttributeValueError(f"{where} must be a mapping of compile arguments, got {record!r:.60}")
    unknown = [k for k in record if k not in COMPILE_KEYS]
    if unknown:
        raise AttributeValueError(f"{where} has unknown key {unknown[0]!r}{did_you_mean(unknown[0], list(COMPILE_KEYS))};"
                                  f" it may hold {list(COMPILE_KEYS)}")
    checks: dict[str, Check] = {
        "in_channels": positive_int,
        "dims": lambda v: None if is_int(v) and v in (0, 1, 2) else f"must be 0, 1 or 2, got {_show(v)}",
        "resize": choice(("area", "bilinear")),
        "op_options": lambda v: None if isinstance(v, dict) and all(isinstance(o, dict) for o in v.values())
        else f"must be a mapping op -> {{option: value}}, got {v!r:.60}",
        "wiring": lambda v: None if isinstance(v, dict) and isinstance(v.get("method"), str)
        and isinstance(v.get("options", {}), dict) and set(v) <= {"method", "options"}
        else f"must be {{'method': <name>, 'options': {{...}}}}, got {v!r:.80}",
    }
    for key, value in record.items():
        err = checks[key](value)
        if err:
            raise AttributeValueError(f"{where}.{key} {err}")
    return record


# ---------------------------------------------------------------- reading a graph
def node_attr(G: nx.DiGraph, node: Hashable, key: str, default: Any = None) -> Any:
    """``G.nodes[node][key]`` with the schema default (or ``default``) when it is absent."""
    data = G.nodes[node]
    if key in data:
        return data[key]
    return NODE_DEFAULTS.get(key, default)


def inputs(G: nx.DiGraph) -> list:
    """Nodes with ``role == "input"``, in label order."""
    return sorted((n for n in G if node_attr(G, n, "role") == "input"), key=sort_key)


def outputs(G: nx.DiGraph) -> list:
    """Nodes with ``role == "output"``, in label order."""
    return sorted((n for n in G if node_attr(G, n, "role") == "output"), key=sort_key)


def reachable(G: nx.DiGraph, sources, *, reverse: bool = False) -> set:
    """Nodes reachable from any of ``sources`` (``reverse=True``: nodes that reach one), sources
    included: one traversal for all sources, O(V + E) however many there are."""
    adj = G.pred if reverse else G.succ
    seen = set(sources)
    stack = list(seen)
    while stack:
        for nxt in adj[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def meta(G: nx.DiGraph) -> dict:
    """The ``G.graph["graphwire"]`` record, created (at the current schema version) when missing."""
    record = G.graph.setdefault("graphwire", {})
    record.setdefault("version", SCHEMA_VERSION)
    return record


#: Attribute value types that need no copy (immutable); the common case, checked first.
SCALAR_TYPES = (float, bool, int, str, type(None))


def own_attrs(d: dict) -> dict:
    """A copy of an attribute dict sharing nothing mutable (nested dicts, lists, sets copied)."""
    out = d.copy()
    for k, v in out.items():
        if type(v) not in SCALAR_TYPES and isinstance(v, (dict, list, set)):
            out[k] = copy.deepcopy(v)
    return out


def copy_graph(G: nx.DiGraph) -> nx.DiGraph:
    """A copy that shares nothing mutable with ``G``: attribute dicts, and nested values such as
    ``op_weights`` or lists, are copied too (``G.copy()`` shares them)."""
    H = nx.DiGraph()
    H.graph.update(copy.deepcopy(G.graph))
    H.add_nodes_from((n, own_attrs(d)) for n, d in G.nodes(data=True))
    H.add_edges_from((u, v, own_attrs(d)) for u, v, d in G.edges(data=True))
    return H


def edges_hash(edges: Any) -> str:
    """A short, order-independent hash of an edge set: what a training history and a pruned
    graph's lineage record to tell graphs apart.

    >>> edges_hash([(0, 1), (1, 2)]) == edges_hash([(1, 2), (0, 1)])
    True
    """
    text = json.dumps(sorted([repr(u), repr(v)] for u, v in edges))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
