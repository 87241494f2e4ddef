"""What ``compile`` needs besides the graph, checked once, and how a graph records it.

A graph written by ``net.write_back()`` (and kept by ``prune`` and the JSON writer) carries
``G.graph["graphwire"]["compile"]``: the network input's width, the data's dimensionality, how
inputs of different size meet, the ops' options and the wiring with its options. Its nodes carry
their ``op`` and ``channels``. So ``compile(graphwire.io.load(path))`` rebuilds the network with
no other argument; arguments given to ``compile`` override what the graph records.

>>> import graphwire as gw
>>> net = gw.compile(gw.generators.chain(2), in_channels=3, channels=4, wiring="sigmoid", penalty=0.1)
>>> record = net.write_back().graph["graphwire"]["compile"]
>>> record["in_channels"], record["wiring"]
(3, {'method': 'sigmoid', 'options': {'per_channel': False, 'init': 3.0, 'penalty': 0.1, 'carry': True}})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from ..contract import check_compile_record
from ..errors import ParameterError
from ..ops.registry import OPS
from ..wiring.base import WiringSpec
from ..wiring.registry import wiring_spec
from ..plan import SPARSE_DENSITY
from .planners import check_sparse_density

__all__ = ["Settings", "resolve", "read_record", "RESIZE"]

RESIZE = ("area", "bilinear")


@dataclass
class Settings:
    """The resolved arguments of one ``compile`` (every one checked)."""
    in_channels: int
    wiring: WiringSpec
    channels: int | None = None
    default_op: str = "conv"
    output_op: str | None = "identity"
    dims: int = 2
    executor: str = "batched"
    resize: str = "area"
    op_options: dict = field(default_factory=dict)
    sparse_density: float = SPARSE_DENSITY

    def record(self, wiring: WiringSpec | None = None) -> dict:
        """The graph's ``compile`` record (``wiring``: the spec to record instead of this one's)."""
        spec = wiring if wiring is not None else self.wiring
        out: dict[str, Any] = {"in_channels": self.in_channels, "dims": self.dims, "resize": self.resize,
                               "wiring": {"method": spec.method, "options": _plain(spec.options())}}
        if self.op_options:
            out["op_options"] = _plain(self.op_options)
        return out


def _plain(value: Any) -> Any:
    """``value`` as JSON data (tuples as lists; mapping keys kept as they are)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def read_record(G: nx.DiGraph) -> dict:
    """``G``'s ``compile`` record, checked (an empty dict when it has none)."""
    record = G.graph.get("graphwire") if isinstance(G, nx.DiGraph) else None
    rec = record.get("compile") if isinstance(record, dict) else None
    return {} if rec is None else check_compile_record(rec)


def resolve(G: nx.DiGraph, explicit: dict, fallback: dict | None = None) -> Settings:
    """The settings of compiling ``G``: ``explicit`` arguments (None: not given), then what ``G``
    records, then ``fallback`` (a network's own settings, for ``recompile``), then the defaults.
    Wiring options given without a wiring apply to the recorded (or fallback) wiring."""
    rec = read_record(G)
    fallback = fallback or {}
    explicit = dict(explicit)
    options = explicit.pop("options", {}) or {}

    def pick(key: str, default: Any) -> Any:
        if explicit.get(key) is not None:
            return explicit[key]
        if key in rec:
            return rec[key]
        return fallback.get(key, default)

    in_channels = pick("in_channels", None)
    if in_channels is None:
        raise ParameterError("compile needs in_channels= (the channels of the network input): this graph does not "
                             "record them (graphs written by net.write_back() do)")
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ParameterError(f"in_channels must be a positive integer, got {in_channels!r}")
    resize = pick("resize", "area")
    if resize not in RESIZE:
        raise ParameterError(f"resize must be 'area' or 'bilinear', got {resize!r}")
    op_options = pick("op_options", None)
    if op_options is not None:
        if not isinstance(op_options, dict) or not all(isinstance(v, dict) for v in op_options.values()):
            raise ParameterError(f"op_options must be a dict {{op name: {{option: value}}}}, got {op_options!r}")
        unknown = sorted(str(k) for k in op_options if k not in OPS)
        if unknown:
            raise ParameterError(f"op_options names unknown op(s) {unknown}; known ops: {OPS.list()}")
    sparse_density = explicit["sparse_density"] if "sparse_density" in explicit else fallback.get(
        "sparse_density", SPARSE_DENSITY)
    check_sparse_density(sparse_density)
    executor = pick("executor", "batched")

    wiring = explicit.get("wiring")
    if wiring is None:
        w = rec.get("wiring")
        if w is not None:
            spec = wiring_spec(w["method"], {**w.get("options", {}), **options})
        else:
            base = fallback.get("wiring")
            if isinstance(base, WiringSpec):
                spec = wiring_spec(base.method, {**base.options(), **options}) if options else base
            else:
                spec = wiring_spec("static", options)
    else:
        spec = wiring_spec(wiring, options)
    return Settings(in_channels=in_channels, wiring=spec, channels=pick("channels", None),
                    default_op=pick("default_op", "conv"), output_op=explicit.get("output_op", fallback.get(
                        "output_op", "identity")), dims=pick("dims", 2), executor=executor, resize=resize,
                    op_options=dict(op_options or {}), sparse_density=sparse_density)

