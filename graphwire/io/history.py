"""``History``: what training recorded about a wiring, as a JSON document (no torch needed).

:func:`graphwire.train.fit` fills one: per-epoch metrics and snapshots of every edge's learned
values. It is an I/O format, not part of ``train``: the plots, the HTML page and the CLI read and draw
histories without importing torch.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from ..errors import FormatError, ParameterError
from ..graph import edges_hash, meta
from ._atomic import atomic_write
from .json_format import parse_json

__all__ = ["History", "HISTORY_FORMAT"]


HISTORY_FORMAT = "graphwire.history"
HISTORY_VERSION = 1
_SNAPSHOT_META = ("epoch", "step")


def _label_ok(x: Any) -> bool:
    return isinstance(x, str) or (isinstance(x, int) and not isinstance(x, bool))


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


#: per-edge flags a snapshot keeps as true/false: used at inference, gate could learn
_FLAGS = ("active", "learned")


def _per_edge(attrs: dict[str, list], n_edges: int) -> dict[str, list]:
    """The snapshot-able part of a wiring's ``snapshot()``: the flags (``active``, ``learned``) and
    every all-numeric key."""
    out: dict[str, list] = {}
    for key, values in attrs.items():
        if key in _SNAPSHOT_META or not isinstance(values, (list, tuple)):
            continue
        if len(values) != n_edges:
            raise ParameterError(f"per-edge {key!r} has {len(values)} values for {n_edges} edges")
        if key in _FLAGS:
            out[key] = [bool(v) for v in values]
        elif values and all(_is_real(v) for v in values):
            out[key] = [float(v) for v in values]
    return out


@dataclass
class History:
    """What :func:`fit` recorded: per-epoch metrics and snapshots of every edge of the wiring.

    * ``edges``: the wired core's edges ``(u, v)`` in its plan's order; every per-edge list of a
      snapshot is aligned with it.
    * ``epochs``: one dict per epoch (``epoch``, ``loss``, ``train_acc``, ``seconds``, ``lr`` and,
      with a validation loader, ``val_acc`` and ``val_loss``).
    * ``snapshots``: ``{"epoch", "step", "weight": [...], "active": [...], ...}``; besides
      ``weight`` and ``active`` every float attribute the wiring writes back (``p_open``,
      ``ddw_mean``...) is kept. ``epoch`` is fractional for snapshots taken inside an epoch
      (``snapshot_every=``); the first snapshot (``step`` 0) is the untrained wiring.
    * ``meta``: ``wiring`` (its name), ``steps`` (optimizer steps so far), ``steps_per_epoch``.

    :meth:`save` writes JSON atomically; :meth:`load` validates every field and never executes
    anything.

    >>> h = History(edges=[(0, 1), (1, 2)])
    >>> h.add({"weight": [0.5, 0.5], "active": [True, True]}, epoch=0, step=0)
    >>> h.add({"weight": [0.9, 0.1], "active": [True, False]}, epoch=1, step=10)
    >>> h.series("weight")[1]
    [[0.5, 0.5], [0.9, 0.1]]
    >>> History.from_dict(h.to_dict()) == h
    True
    """

    edges: list[tuple] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    snapshots: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    # ---- recording
    def add(self, attrs: dict[str, list], *, epoch: float, step: int) -> None:
        """Append a snapshot made of per-edge lists aligned with :attr:`edges`.

        >>> h = History(edges=[(0, 1)])
        >>> h.add({"weight": [1], "active": [True], "note": ["x"]}, epoch=0, step=0)
        >>> h.snapshots
        [{'epoch': 0, 'step': 0, 'weight': [1.0], 'active': [True]}]
        """
        snap: dict[str, Any] = {"epoch": epoch, "step": int(step)}
        snap.update(_per_edge(attrs, len(self.edges)))
        self.snapshots.append(snap)

    def snapshot(self, net: Any, epoch: float, step: int | None = None) -> None:
        """Record every edge of a :class:`~graphwire.WiredNet`'s wiring now (``wiring.snapshot()``:
        its write-back description, or what it can say mid-training).

        >>> import graphwire as gw
        >>> net = gw.compile(gw.generators.chain(1), in_channels=2, channels=2, wiring="sigmoid")
        >>> h = History()
        >>> h.snapshot(net, epoch=0, step=0)
        >>> h.edges, [round(g, 3) for g in h.snapshots[0]["gate"]]  # sigmoid's gates start open: sigmoid(3)
        ([(0, 1), (1, 2)], [0.953, 0.953])
        """
        edges = [tuple(e) for e in net.plan.edges]
        if not self.edges and not self.snapshots:
            self.edges = edges
        elif edges != self.edges:
            raise ParameterError(
                f"this History records a wiring with {len(self.edges)} edges, but the network has "
                f"{len(edges)} different ones (a recompiled or pruned net?); start a new History for it")
        self.meta.setdefault("wiring", net.wiring.name)
        self.meta.setdefault("graph_hash", edges_hash(edges))
        self.add(net.wiring.snapshot(), epoch=epoch, step=self.meta.get("steps", 0) if step is None else step)

    # ---- reading
    def last(self, key: str):
        """``key`` of the last epoch's record (None before the first epoch).

        >>> History(epochs=[{"epoch": 1, "val_acc": 0.9}]).last("val_acc")
        0.9
        """
        return self.epochs[-1].get(key) if self.epochs else None

    def attributes(self) -> list[str]:
        """Per-edge keys recorded in the snapshots (``weight``, ``active``, ``p_open``...).

        >>> h = History(edges=[(0, 1)])
        >>> h.add({"weight": [0.5], "active": [True], "p_open": [0.9]}, epoch=0, step=0)
        >>> h.attributes()
        ['weight', 'active', 'p_open']
        """
        keys: dict[str, None] = {}
        for snap in self.snapshots:
            keys.update((k, None) for k in snap if k not in _SNAPSHOT_META)
        return list(keys)

    def series(self, attr: str = "weight") -> tuple[list[float], list[list]]:
        """``(x, values)``: the snapshots' epochs and one list per snapshot (``[S][E]``).

        Snapshots without ``attr`` give a row of NaN (``None`` for ``active``).

        >>> h = History(edges=[(0, 1)])
        >>> h.add({"weight": [0.5]}, epoch=0, step=0)
        >>> h.series("weight")
        ([0], [[0.5]])
        """
        if attr not in self.attributes():
            raise ParameterError(
                f"the history has no per-edge {attr!r}; it recorded {self.attributes() or 'no snapshots'}")
        missing = None if attr in _FLAGS else math.nan
        x = [s["epoch"] for s in self.snapshots]
        rows = [list(s[attr]) if attr in s else [missing] * len(self.edges) for s in self.snapshots]
        return x, rows

    def check_graph(self, G: nx.DiGraph) -> None:
        """Raise :class:`~graphwire.errors.ParameterError` unless this history was recorded on
        ``G``'s wiring or on a graph ``G`` was pruned from: :func:`fit` records the hash of the
        wiring's edge set (``meta["graph_hash"]``), ``prune`` the hashes of a graph's ancestors
        (``G.graph["graphwire"]["lineage"]``). Histories without a hash are not checked.

        >>> import graphwire as gw
        >>> h = History(edges=[(0, 1), (1, 2)], meta={"graph_hash": gw.graph.edges_hash([(0, 1), (1, 2)])})
        >>> h.check_graph(gw.generators.chain(1))
        >>> h.check_graph(gw.generators.chain(2))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        graphwire.errors.ParameterError: the history was recorded on another graph: 2 edges (hash ...), this graph has 3 (hash ...); draw it with the graph it was trained on (or one pruned from it)
        """
        theirs = self.meta.get("graph_hash")
        if not theirs:
            return
        mine = edges_hash(G.edges)
        lineage = meta(G).get("lineage", []) if isinstance(G.graph.get("graphwire"), dict) else []
        if theirs != mine and theirs not in lineage:
            raise ParameterError(
                f"the history was recorded on another graph: {len(self.edges)} edges (hash {str(theirs)[:12]}), "
                f"this graph has {G.number_of_edges()} (hash {mine[:12]}); draw it with the graph it was trained on "
                f"(or one pruned from it)")

    def graph_at(self, G: nx.DiGraph, index: int = -1) -> nx.DiGraph:
        """A copy of ``G`` with snapshot ``index``'s per-edge values on its edges.

        Edges of ``G`` that the history does not know keep their attributes.

        >>> import graphwire as gw
        >>> h = History(edges=[(0, 1), (1, 2)])
        >>> h.add({"weight": [0.2, 0.8], "active": [False, True]}, epoch=0, step=0)
        >>> h.graph_at(gw.generators.chain(1)).edges[0, 1]
        {'weight': 0.2, 'active': False}
        """
        if not self.snapshots:
            raise ParameterError("the history has no snapshots")
        snap = self.snapshots[index]
        H = G.copy()
        for i, (u, v) in enumerate(self.edges):
            if H.has_edge(u, v):
                for key in self.attributes():
                    if key in snap and not (isinstance(snap[key][i], float) and math.isnan(snap[key][i])):
                        H.edges[u, v][key] = snap[key][i]
        return H

    # ---- JSON
    def to_dict(self) -> dict:
        """The JSON document :meth:`save` writes (NaN/infinity become ``null``).

        >>> History(edges=[(0, 1)]).to_dict()["format"]
        'graphwire.history'
        """
        def clean(v):
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [clean(x) for x in v]
            return v

        return {"format": HISTORY_FORMAT, "version": HISTORY_VERSION,
                "edges": [list(e) for e in self.edges], "epochs": clean(self.epochs),
                "snapshots": clean(self.snapshots), "meta": clean(self.meta)}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the history as JSON, atomically; return the path.

        >>> import tempfile, os
        >>> h = History(edges=[(0, 1)])
        >>> h.add({"weight": [0.25], "active": [True]}, epoch=0, step=0)
        >>> p = h.save(os.path.join(tempfile.mkdtemp(), "history.json"))
        >>> History.load(p).snapshots[0]["weight"]
        [0.25]
        """
        text = json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return atomic_write(path, text + "\n")

    @classmethod
    def from_dict(cls, data: Any, where: str = "history") -> "History":
        """Build a History from parsed JSON, checking every field (FormatError names the field).

        >>> History.from_dict({"format": "graphwire.history", "version": 1, "edges": [[0, 1]],
        ...                    "epochs": [], "snapshots": []}).edges
        [(0, 1)]
        """
        if not isinstance(data, dict):
            raise FormatError(f"{where}: the top level must be a JSON object, got {type(data).__name__}")
        fmt = data.get("format")
        if fmt != HISTORY_FORMAT:
            raise FormatError(f"{where}: 'format' must be {HISTORY_FORMAT!r}, got {fmt!r} "
                              "(is this a graph file? graphs load with graphwire.io.load)")
        version = data.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= HISTORY_VERSION:
            raise FormatError(f"{where}: unsupported history 'version' {version!r} "
                              f"(this graphwire reads versions 1..{HISTORY_VERSION})")
        for key, kind in (("edges", list), ("epochs", list), ("snapshots", list)):
            if not isinstance(data.get(key), kind):
                raise FormatError(f"{where}: '{key}' must be a list, got {type(data.get(key)).__name__}")
        meta = data.get("meta", {})
        if not isinstance(meta, dict):
            raise FormatError(f"{where}: 'meta' must be an object, got {type(meta).__name__}")
        edges: list[tuple] = []
        seen: set = set()
        for i, e in enumerate(data["edges"]):
            if not (isinstance(e, list) and len(e) == 2 and all(_label_ok(x) for x in e)):
                raise FormatError(f"{where}: edges[{i}] must be a [source, target] pair of integer or "
                                  f"string node labels, got {e!r:.60}")
            if tuple(e) in seen:
                raise FormatError(f"{where}: edges[{i}] {tuple(e)!r} is listed twice")
            seen.add(tuple(e))
            edges.append(tuple(e))
        epochs = []
        for i, rec in enumerate(data["epochs"]):
            if not isinstance(rec, dict):
                raise FormatError(f"{where}: epochs[{i}] must be an object, got {type(rec).__name__}")
            for k, v in rec.items():
                if v is not None and not _is_real(v):
                    raise FormatError(f"{where}: epochs[{i}].{k} must be a number, got {v!r:.60}")
            epochs.append({k: (math.nan if v is None else v) for k, v in rec.items()})
        snapshots = []
        for i, snap in enumerate(data["snapshots"]):
            at = f"{where}: snapshots[{i}]"
            if not isinstance(snap, dict):
                raise FormatError(f"{at} must be an object, got {type(snap).__name__}")
            if not _is_real(snap.get("epoch")):
                raise FormatError(f"{at}.epoch must be a number, got {snap.get('epoch')!r:.60}")
            step = snap.get("step", 0)
            if isinstance(step, bool) or not isinstance(step, int) or step < 0:
                raise FormatError(f"{at}.step must be a non-negative integer, got {step!r:.60}")
            out: dict[str, Any] = {"epoch": snap["epoch"], "step": step}
            for key, values in snap.items():
                if key in _SNAPSHOT_META:
                    continue
                if not isinstance(values, list) or len(values) != len(edges):
                    raise FormatError(f"{at}.{key} must be a list of {len(edges)} values (one per edge), "
                                      f"got {type(values).__name__}"
                                      + (f" of length {len(values)}" if isinstance(values, list) else ""))
                if key in _FLAGS:
                    bad = next((v for v in values if not isinstance(v, bool)), None)
                    if bad is not None:
                        raise FormatError(f"{at}.{key} must hold true/false, got {bad!r:.60}")
                    out[key] = list(values)
                else:
                    bad = next((v for v in values if v is not None and not _is_real(v)), None)
                    if bad is not None:
                        raise FormatError(f"{at}.{key} must hold numbers (or null), got {bad!r:.60}")
                    out[key] = [math.nan if v is None else float(v) for v in values]
            snapshots.append(out)
        return cls(edges=edges, epochs=epochs, snapshots=snapshots, meta=dict(meta))

    @classmethod
    def load(cls, source: str | os.PathLike | bytes | dict) -> "History":
        """Read a history written by :meth:`save` (a path, JSON text/bytes or parsed data).

        Malformed files raise :class:`~graphwire.errors.FormatError` naming the field; nothing
        is ever executed (plain ``json.loads``).

        >>> History.load('{"format": "graphwire.history", "version": 1, "edges": [[0, 1]], '
        ...              '"epochs": [], "snapshots": [{"epoch": 0, "weight": [0.5]}]}').snapshots
        [{'epoch': 0, 'step': 0, 'weight': [0.5]}]
        >>> History.load('{"format": "graphwire.history", "version": 1, "edges": [[0, 1]], '
        ...              '"epochs": [], "snapshots": [{"epoch": 0, "weight": []}]}')
        Traceback (most recent call last):
        graphwire.errors.FormatError: history text: snapshots[0].weight must be a list of 1 values (one per edge), got list of length 0
        """
        if isinstance(source, dict):
            return cls.from_dict(source, "history data")
        if isinstance(source, (bytes, bytearray)):
            text, where = bytes(source).decode("utf-8", "replace"), "history text"
        elif isinstance(source, str) and source.lstrip().startswith("{"):
            text, where = source, "history text"
        elif isinstance(source, (str, os.PathLike)):
            path = Path(os.fspath(source))
            try:
                text, where = path.read_text(encoding="utf-8-sig"), str(path)
            except FileNotFoundError:
                raise FormatError(f"{path}: no such file") from None
            except (OSError, UnicodeDecodeError) as e:
                raise FormatError(f"{path}: cannot read it as UTF-8 text ({e})") from None
        else:
            raise FormatError(f"History.load needs a path, JSON text or a dict, got {type(source).__name__}")
        return cls.from_dict(parse_json(text, where), where)


