"""fit(on_epoch=) and the training objective that compiles a stored search graph."""

import json
import random

import pytest

torch = pytest.importorskip("torch")

from graphwire import data, generators, models
from graphwire.errors import ParameterError
from graphwire.search import CellSpace
from graphwire.search._graphio import graph_from_text, graph_to_text
from graphwire.search.objective import (
    Diverged,
    Pruned,
    TrainObjective,
    objective_from_spec,
)
from graphwire.io import History
from graphwire.train import fit


def test_fit_on_epoch_sees_each_epoch_and_can_stop_training():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(128, 8, generator=g), torch.randint(0, 3, (128,), generator=g)
    loader = data.loader(x, y, 64)
    seen = []
    m = models.wired_mlp(generators.chain(1), in_channels=8, num_classes=3, channels=8)
    h = fit(m, loader, 3, progress=False, on_epoch=lambda e, rec: seen.append((e, rec["loss"])))
    assert [e for e, _ in seen] == [1, 2, 3] and seen[-1][1] == h.epochs[-1]["loss"]

    class Stop(Exception):
        pass

    def stop(epoch, rec):
        if epoch == 2:
            raise Stop

    hist = History()
    with pytest.raises(Stop):
        fit(models.wired_mlp(generators.chain(1), in_channels=8, num_classes=3, channels=8), loader, 5, progress=False, on_epoch=stop,
            history=hist)
    assert len(hist.epochs) == 2  # stopped after the second epoch


@pytest.mark.slow
def test_train_objective_compiles_the_stored_json_and_reports_each_epoch():
    sp = CellSpace(blocks=2)
    G = graph_from_text(graph_to_text(sp.sample(random.Random(0))))
    obj = TrainObjective(epochs=2, channels=8)
    reports = []
    v = obj(G, lambda val, e: reports.append((e, val)), space=sp, seed=0)
    assert [e for e, _ in reports] == [1, 2] and v == reports[-1][1] and 0.1 < v <= 1
    assert obj.last_params > 0
    with pytest.raises(Pruned):
        obj(G, lambda val, e: (_ for _ in ()).throw(Pruned("pruned at epoch 1")), space=sp, seed=0)
    bad = TrainObjective(epochs=1, channels=8, lr=1e30)
    with pytest.raises(Diverged, match="training diverged: loss is nan"):
        bad(G, lambda val, e: None, space=sp, seed=0)


def test_objective_specs():
    obj = objective_from_spec('{"kind": "train", "kwargs": {"epochs": 2}}')
    assert obj.spec()["kwargs"]["epochs"] == 2
    assert objective_from_spec("train", epochs=3).epochs == 3
    with pytest.raises(Exception, match="cannot import"):
        objective_from_spec("no_such_module:f")


def _arrays(n=60, length=24, classes=3, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.normal(size=(n, 1, length)).astype("float32") + y[:, None, None]  # separable by the mean
    return x[:40], y[:40], x[40:], y[40:]


def test_train_objective_on_the_users_arrays_and_npz(tmp_path):
    import numpy as np

    sp = CellSpace(blocks=1)
    G = sp.sample(random.Random(0))
    xtr, ytr, xva, yva = _arrays()
    obj = TrainObjective(data=(xtr, ytr, xva, yva), epochs=1, channels=4, batch=16)
    assert obj.spec()["kwargs"]["dataset"].startswith("arrays:")
    v = obj(G, lambda val, e: None, space=sp, seed=0)
    assert 0.0 <= v <= 1.0
    np.savez(tmp_path / "d.npz", x_train=xtr, y_train=ytr, x_val=xva, y_val=yva)
    from_file = objective_from_spec({"kind": "train", "kwargs": {"dataset": str(tmp_path / "d.npz"), "epochs": 1,
                                                                   "channels": 4, "batch": 16}})
    assert from_file(G, lambda val, e: None, space=sp, seed=0) == pytest.approx(v)
    with pytest.raises(ParameterError, match="cannot rebuild"):  # a worker process cannot get arrays in memory
        objective_from_spec(obj.spec())
    np.savez(tmp_path / "bad.npz", x_train=xtr, y_train=ytr)
    with pytest.raises(ParameterError, match=r"misses the array\(s\) \['x_test', 'y_test'\]"):
        TrainObjective(dataset=str(tmp_path / "bad.npz")).data()
    with pytest.raises(ParameterError, match="labels must be 40 non-negative integers"):
        TrainObjective(data=(xtr, ytr.astype(float), xva, yva))


def test_train_objective_on_an_image_folder(tmp_path):
    import numpy as np
    from PIL import Image

    for split, n in (("train", 6), ("val", 2)):
        for k, colour in enumerate(((255, 0, 0), (0, 0, 255))):
            d = tmp_path / "imgs" / split / f"class{k}"
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((10, 12, 3), colour, dtype=np.uint8)).save(d / f"{i}.png")
    obj = TrainObjective(dataset=str(tmp_path / "imgs"), epochs=1, channels=4, batch=4, image_size=8)
    train, val, cin, classes, dims = obj.data()
    assert (cin, classes, dims) == (3, 2, 2)
    from graphwire.search import space as make_space

    import graphwire as gw

    @make_space(n=[2])
    def chains(n):
        G = gw.generators.chain(n)
        for _, d in G.nodes(data=True):
            d["op"] = "conv"
        return G

    assert 0.0 <= obj(chains.decode({"n": 2}), lambda v, e: None, space=chains, seed=0) <= 1.0
    with pytest.raises(ParameterError, match="needs train/<class>/<image> files"):
        TrainObjective(dataset=str(tmp_path)).data()


def test_retrain_trains_the_best_architecture(tmp_path, capsys):
    import numpy as np

    from graphwire.cli import main
    from graphwire.search.runner import run

    xtr, ytr, xva, yva = _arrays()
    np.savez(tmp_path / "d.npz", x_train=xtr, y_train=ytr, x_val=xva, y_val=yva)
    obj = {"kind": "train", "kwargs": {"dataset": str(tmp_path / "d.npz"), "channels": 4, "batch": 16}}
    out = run(CellSpace(blocks=1), "random", json.dumps(obj), trials=2, epochs=1, dir=tmp_path / "r", progress=False)
    best = out["best"][1]
    rc = main(["search", "retrain", "--dir", str(tmp_path / "r"), "--epochs", "2"])
    text = capsys.readouterr().out
    assert rc == 0 and f"retrained trial {best} " in text and "for 2 epochs" in text
    curve = json.loads((tmp_path / "r" / "retrain" / f"trial{best}-curve.json").read_text())
    assert len(curve["val_acc"]) == 2
    import torch

    sd = torch.load(tmp_path / "r" / "retrain" / f"trial{best}.pt", weights_only=True)
    assert sd and all(isinstance(v, torch.Tensor) for v in sd.values())
    rc = main(["search", "retrain", "--dir", str(tmp_path / "r"), "--trial", "99"])
    assert rc == 2 and "no trial 99" in capsys.readouterr().err
