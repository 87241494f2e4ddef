"""graphwire.io.to_onnx: static, gated, masked and pruned networks run in ONNX Runtime like in PyTorch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import graphwire as gw
from graphwire import generators, models
from graphwire.executors import EXECUTORS, batched_forward
from graphwire.errors import ParameterError
from graphwire.io.onnx import ExportError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _run(path, x: torch.Tensor) -> np.ndarray:
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x.numpy()})[0]


def _meta(path) -> dict:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def _trained_conv(seed=0):
    torch.manual_seed(seed)
    G = generators.watts_strogatz(8, 4, 0.75, seed=seed)
    m = models.wired_conv2d(G, in_channels=1, num_classes=10, channels=8, wiring="sigmoid")
    with torch.no_grad():  # spread the gates and BatchNorm statistics as training would
        m.wired.wiring.logit.normal_(0, 2)
        m.train()
        for _ in range(3):
            m(torch.randn(16, 1, 8, 8))
    return m


@pytest.mark.slow
def test_gated_net_matches_pytorch_with_a_new_batch_size(tmp_path):
    m = _trained_conv()
    m.train()
    path = gw.io.to_onnx(m, torch.randn(2, 1, 8, 8), tmp_path / "net.onnx")
    assert m.training and m.wired.executor == "batched"  # mode and executor restored
    x = torch.randn(5, 1, 8, 8)
    m.eval()
    with torch.no_grad():
        want = m(x).numpy()
    got = _run(path, x)
    assert got.shape == (5, 10)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    meta = _meta(path)
    assert meta["graphwire.executor"] == "batched" and meta["graphwire.wiring"] == "sigmoid"
    assert meta["graphwire.exporter"] in ("dynamo", "torchscript") and "graphwire.fallback_errors" not in meta
    graph = gw.io.loads(meta["graphwire.graph"])
    assert set(graph.edges) == set(m.graph.edges)
    assert [p.name for p in tmp_path.iterdir()] == ["net.onnx"]


@pytest.mark.slow
@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_pruned_and_masked_nets_match(tmp_path, exporter):
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    m = _trained_conv(1).eval()
    learned = m.write_back()
    pruned = gw.prune(learned, keep=0.5, attr="share", ensure_path=True)
    masked = _trained_conv(1).eval()
    masked.wired.mask_edges([e for e in learned.edges if e not in pruned.edges])
    # with sigmoid's carry a masked edge changes the strengths after it: recompile what the masked net wrote back
    pruned = gw.prune(masked.write_back(), attr="active")
    small = masked.recompile(pruned, wiring="static").eval()
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        ref = small(x).numpy()
    for name, net in (("small", small), ("masked", masked)):
        path = gw.io.to_onnx(net, torch.randn(2, 1, 8, 8), tmp_path / f"{name}.onnx", exporter=exporter)
        assert _meta(path)["graphwire.exporter"] == exporter
        got = _run(path, x)
        with torch.no_grad():
            np.testing.assert_allclose(got, net(x).numpy(), atol=1e-4, rtol=0)
    # the masked full network and its pruned copy compute the same thing
    np.testing.assert_allclose(_run(tmp_path / "masked.onnx", x), ref, atol=1e-4, rtol=0)
    assert json.loads(_meta(tmp_path / "small.onnx")["graphwire.graph"])["graph"]["graphwire"]["pruned"]


def test_bare_wirednet_fixed_batch(tmp_path):
    net = gw.compile(generators.resnet(4), in_channels=3, channels=6, wiring="sigmoid").eval()
    x = torch.randn(2, 3, 6, 6)
    path = gw.io.to_onnx(net, (x,), tmp_path / "core.onnx", exporter="torchscript", dynamic_batch=False)
    with torch.no_grad():
        np.testing.assert_allclose(_run(path, x), net(x).numpy(), atol=1e-4, rtol=0)
    with pytest.raises(Exception):
        _run(path, torch.randn(4, 3, 6, 6))  # the batch size is fixed


def test_falls_back_to_the_reference_executor(tmp_path, request):
    def unexportable(plan, runtime, x):
        if torch.jit.is_tracing() or torch.compiler.is_exporting():
            raise RuntimeError("aten::made_up_op has no ONNX symbolic")
        return batched_forward(plan, runtime, x)

    EXECUTORS.register("batched", unexportable, overwrite=True)
    request.addfinalizer(lambda: EXECUTORS.register("batched", batched_forward, overwrite=True))
    m = _trained_conv().eval()
    x = torch.randn(2, 1, 8, 8)
    with pytest.warns(UserWarning, match="made_up_op"):
        path = gw.io.to_onnx(m, x, tmp_path / "net.onnx", exporter="torchscript")
    meta = _meta(path)
    assert meta["graphwire.executor"] == "reference" and "made_up_op" in meta["graphwire.fallback_errors"]
    assert m.wired.executor == "batched"
    with torch.no_grad():
        np.testing.assert_allclose(_run(path, x), m(x).numpy(), atol=1e-4, rtol=0)
    with pytest.raises(ExportError, match="torchscript exporter, batched executor.*made_up_op"):
        gw.io.to_onnx(m, x, tmp_path / "no.onnx", exporter="torchscript", fallback=False)
    assert not (tmp_path / "no.onnx").exists()


def test_bad_arguments(tmp_path):
    net = models.wired_mlp(generators.chain(2), in_channels=4, num_classes=3, channels=4)
    with pytest.raises(ParameterError, match="exporter"):
        gw.io.to_onnx(net, torch.randn(2, 4), tmp_path / "a.onnx", exporter="tf")
    with pytest.raises(ParameterError, match="sample_input"):
        gw.io.to_onnx(net, [[1.0, 2.0]], tmp_path / "a.onnx")
    with pytest.raises(ParameterError, match="nn.Module"):
        gw.io.to_onnx(gw.generators.chain(2), torch.randn(2, 4), tmp_path / "a.onnx")


@pytest.mark.slow
def test_docstring_examples():
    import doctest
    import importlib

    for name in ['graphwire.io.onnx']:
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, name
