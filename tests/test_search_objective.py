"""fit(on_epoch=) and the training objective that compiles a stored search graph."""

import random

import pytest

torch = pytest.importorskip("torch")

from graphwire import data, generators, models
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
