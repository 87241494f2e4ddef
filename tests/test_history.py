"""fit()'s History: snapshots of every edge (per epoch or every n steps), JSON save/load, validation."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch

import graphwire as gw
from graphwire import data, generators, models
from graphwire.errors import FormatError, ParameterError
from graphwire.io import History
from graphwire.train import fit


def _task(n=64, batch=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
    return data.loader(x, y, batch, seed=seed)


PLAIN_GATES = gw.wiring.Sigmoid(carry=False, init=0.0, penalty=0.0)  # plain gates, starting at 0.5


def _model(seed=0, wiring=PLAIN_GATES):
    torch.manual_seed(seed)
    return models.wired_mlp(generators.watts_strogatz(6, 2, 0.5, seed=1), in_channels=8, num_classes=4, channels=8, wiring=wiring)


def test_fit_snapshots_every_epoch_by_default():
    m, train = _model(), _task()
    h = fit(m, train, 2, lr=0.1, wiring_lr=5.0, device="cpu", progress=False, desc="x", val_loader=train)
    assert h.edges == [tuple(e) for e in m.wired.plan.edges]
    assert [s["epoch"] for s in h.snapshots] == [0, 1, 2]
    assert [s["step"] for s in h.snapshots] == [0, 4, 8]
    assert h.meta["steps"] == 8 and h.meta["steps_per_epoch"] == 4 and h.meta["wiring"] == "sigmoid"
    for s in h.snapshots:
        assert len(s["weight"]) == len(h.edges) and all(isinstance(a, bool) for a in s["active"])
    assert h.snapshots[0]["weight"] == [0.5] * len(h.edges)  # the untrained gates
    assert h.snapshots[-1]["weight"] != h.snapshots[0]["weight"]  # training moved them
    learned = m.write_back()
    assert [learned.edges[e]["weight"] for e in h.edges] == h.snapshots[-1]["weight"]
    rec = h.epochs[-1]
    assert {"epoch", "loss", "train_acc", "val_acc", "val_loss", "lr", "seconds"} <= set(rec)
    assert 0.0 <= rec["val_acc"] <= 1.0 and h.last("val_acc") == rec["val_acc"]


def test_snapshot_every_n_steps_and_continuing():
    m, train = _model(), _task()
    h = fit(m, train, 2, lr=0.1, device="cpu", progress=False, snapshot_every=3)
    assert [s["step"] for s in h.snapshots] == [0, 3, 6, 8]  # plus the final step
    assert [s["epoch"] for s in h.snapshots] == [0, 0.75, 1.5, 2]
    h2 = fit(m, train, 1, lr=0.1, device="cpu", progress=False, history=h, snapshot_every=3)
    assert h2 is h and len(h.epochs) == 3 and h.epochs[-1]["epoch"] == 3
    assert [s["step"] for s in h.snapshots][4:] == [9, 12]
    with pytest.raises(ParameterError, match="snapshot_every"):
        fit(m, train, 1, progress=False, snapshot_every=0)


def test_history_of_another_network_is_refused():
    h = fit(_model(), _task(), 1, device="cpu", progress=False)
    other = models.wired_mlp(generators.chain(2), in_channels=8, num_classes=4, channels=8)
    before = [p.detach().clone() for p in other.parameters()]
    with pytest.raises(ParameterError, match="different"):
        fit(other, _task(), 1, device="cpu", progress=False, history=h)
    assert all(torch.equal(a, b) for a, b in zip(before, other.parameters()))  # refused before training
    assert len(h.epochs) == 1


def test_progress_bar_shows_loss_and_val_acc(capsys):
    fit(_model(), _task(), 1, device="cpu", progress=True, desc="gates!", val_loader=_task(16))
    err = capsys.readouterr().err
    assert "gates!" in err and "loss=" in err and "val_acc=" in err


def test_snapshot_keeps_every_float_edge_attribute():
    attrs = {"weight": [0.1, 0.2], "active": [True, False], "p_open": [0.9, 0.05], "ddw_mean": [1, 2.5],
             "channel_weights": [[0.1, 0.2], [0.3]], "op_weights": [{"a": 1.0}, {"a": 1.0}], "odd": [1, "x"]}
    net = SimpleNamespace(plan=SimpleNamespace(edges=[(0, 1), (1, 2)]),
                          wiring=SimpleNamespace(name="fake", snapshot=lambda: attrs))
    h = History()
    h.snapshot(net, 0, 0)
    snap = h.snapshots[0]
    assert set(snap) == {"epoch", "step", "weight", "active", "p_open", "ddw_mean"}
    assert snap["ddw_mean"] == [1.0, 2.5] and snap["active"] == [True, False]
    assert h.attributes() == ["weight", "active", "p_open", "ddw_mean"]
    assert h.series("p_open") == ([0], [[0.9, 0.05]])
    with pytest.raises(ParameterError, match="op_weights"):
        h.series("op_weights")
    with pytest.raises(ParameterError, match="'weight' has 1 values for 2 edges"):
        h.add({"weight": [0.5]}, epoch=1, step=1)


def test_save_load_round_trip(tmp_path):
    h = History(edges=[(0, 1), ("a", "b")], meta={"wiring": "sigmoid", "steps": 3})
    h.add({"weight": [0.5, math.nan], "active": [True, True]}, epoch=0, step=0)
    h.add({"weight": [0.75, 0.25], "active": [True, False], "p_open": [0.5, 0.5]}, epoch=1.5, step=3)
    h.epochs.append({"epoch": 1, "loss": 0.5, "val_acc": math.inf})
    path = h.save(tmp_path / "history.json")
    assert [p.name for p in tmp_path.iterdir()] == ["history.json"]  # atomic: no temporary left over
    doc = json.loads(path.read_text())
    assert doc["format"] == "graphwire.history" and doc["version"] == 1
    assert doc["snapshots"][0]["weight"] == [0.5, None] and doc["epochs"][0]["val_acc"] is None
    back = History.load(path)
    assert back.edges == [(0, 1), ("a", "b")] and back.meta == h.meta
    assert back.snapshots[1] == h.snapshots[1]
    assert math.isnan(back.snapshots[0]["weight"][1]) and math.isnan(back.epochs[0]["val_acc"])
    assert History.load(path.read_text()).edges == back.edges
    assert History.load(doc).snapshots[1]["p_open"] == [0.5, 0.5]
    G = gw.generators.chain(1)
    H = History(edges=[(0, 1), (1, 2)])
    H.add({"weight": [0.3, 0.7], "active": [False, True]}, epoch=0, step=0)
    A = H.graph_at(G)
    assert A.edges[0, 1] == {"weight": 0.3, "active": False} and "weight" not in G.edges[0, 1]


def _doc(**change):
    doc = {"format": "graphwire.history", "version": 1, "edges": [[0, 1], [1, 2]], "epochs": [],
           "snapshots": [{"epoch": 0, "step": 0, "weight": [0.5, 0.5], "active": [True, True]}], "meta": {}}
    doc.update(change)
    return doc


@pytest.mark.parametrize("doc, culprit", [
    ("[1, 2", "invalid JSON"),
    (_doc(format=None), "'format'"),
    ({"directed": True, "nodes": [], "edges": []}, "graph file"),
    (_doc(version=7), "version"),
    (_doc(edges={"0": 1}), "'edges' must be a list"),
    (_doc(edges=[[0, 1], [0]]), "edges[1]"),
    (_doc(edges=[[0, 1], [0, 1]]), "twice"),
    (_doc(epochs=[{"loss": "low"}]), "epochs[0].loss"),
    (_doc(snapshots=[{"epoch": "x", "weight": [1, 2]}]), "snapshots[0].epoch"),
    (_doc(snapshots=[{"epoch": 0, "step": -1}]), "snapshots[0].step"),
    (_doc(snapshots=[{"epoch": 0, "weight": [0.5]}]), "snapshots[0].weight must be a list of 2"),
    (_doc(snapshots=[{"epoch": 0, "weight": [0.5, "0.5"]}]), "must hold numbers"),
    (_doc(snapshots=[{"epoch": 0, "active": [1, 0]}]), "true/false"),
    (_doc(meta=[]), "'meta'"),
])
def test_load_rejects_malformed_files(tmp_path, doc, culprit):
    path = tmp_path / "h.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(FormatError) as info:
        History.load(path)
    assert culprit in str(info.value) and str(path) in str(info.value)


def test_load_never_executes_anything(tmp_path):
    import pickle

    marker = tmp_path / "pwned"
    evil = pickle.dumps(SimpleNamespace)  # any pickle: loading must not unpickle it
    (tmp_path / "p.json").write_bytes(evil)
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    (tmp_path / "c.json").write_text(code)
    for name in ("p.json", "c.json"):
        with pytest.raises(FormatError):
            History.load(tmp_path / name)
    with pytest.raises(FormatError, match="no such file"):
        History.load(tmp_path / "missing.json")
    assert not marker.exists()


def test_docstring_examples():
    import doctest
    import importlib

    for name in ['graphwire.train.loop']:
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, name
