"""Local datasets (digits, MNIST-1D, spirals) and the seeded loader."""

import math
import random

import numpy as np
import pytest
import torch

from graphwire import data
from graphwire.errors import ParameterError

pytest.importorskip("sklearn")

_splits = {}


def _cached(name, **kw):
    key = (name, tuple(sorted(kw.items())))
    if key not in _splits:
        _splits[key] = getattr(data, name)(**kw)
    return _splits[key]


def _assert_split_equal(a, b):
    assert all(torch.equal(x, y) for x, y in zip(a, b))


# ------------------------------------------------------------------ digits
def test_digits_shapes_dtypes_and_range():
    s = _cached("digits")
    assert s.x_train.shape == (1348, 1, 8, 8) and s.x_test.shape == (449, 1, 8, 8)
    assert s.y_train.shape == (1348,) and s.y_test.shape == (449,)
    assert s.x_train.dtype == torch.float32 and s.y_train.dtype == torch.int64
    for x in (s.x_train, s.x_test):
        assert x.min() == 0.0 and x.max() == 1.0  # 0..16 scaled to [0, 1]
        assert torch.all((x * 16) == (x * 16).round())  # exactly the 17 grey levels
    assert s.num_classes == 10
    assert set(s.y_train.tolist()) == set(s.y_test.tolist()) == set(range(10))


def test_digits_flat_is_the_same_data():
    img, flat = _cached("digits"), _cached("digits", flat=True)
    assert flat.x_train.shape == (1348, 64) and flat.x_test.shape == (449, 64)
    assert torch.equal(flat.x_train, img.x_train.reshape(1348, 64))
    assert torch.equal(flat.y_test, img.y_test)


def test_digits_seed_decides_the_split_only():
    a, b, c = _cached("digits"), data.digits(seed=0), _cached("digits", seed=1)
    _assert_split_equal(a, b)
    assert not torch.equal(a.y_train, c.y_train)
    # another seed shuffles the same 1,797 images: same multiset of labels and pixel sums
    labels = lambda s: sorted(torch.cat([s.y_train, s.y_test]).tolist())
    sums = lambda s: torch.cat([s.x_train, s.x_test]).sum((1, 2, 3)).sort().values
    assert labels(a) == labels(c)
    torch.testing.assert_close(sums(a), sums(c))


def test_digits_test_fraction():
    s = data.digits(test_fraction=0.5, flat=True)
    assert len(s.y_test) == round(1797 * 0.5) and len(s.y_train) + len(s.y_test) == 1797


# ------------------------------------------------------------------ MNIST-1D
def test_mnist1d_shapes_and_classes():
    pytest.importorskip("mnist1d")
    s = _cached("mnist1d", num_samples=200, seed=3)
    assert s.x_train.shape == (160, 1, 40) and s.x_test.shape == (40, 1, 40)
    assert s.y_train.shape == (160,) and s.y_test.shape == (40,)
    assert s.x_train.dtype == torch.float32 and s.y_train.dtype == torch.int64
    assert s.num_classes == 10 and set(s.y_train.tolist()) == set(range(10))
    assert torch.isfinite(s.x_train).all() and s.x_train.std() > 0.1


def test_mnist1d_default_is_the_reference_size():
    pytest.importorskip("mnist1d")
    s = data.mnist1d()
    assert s.x_train.shape == (4000, 1, 40) and s.x_test.shape == (1000, 1, 40)
    assert s.num_classes == 10


def test_mnist1d_deterministic_by_seed():
    pytest.importorskip("mnist1d")
    a = _cached("mnist1d", num_samples=200, seed=3)
    np.random.seed(99)  # the global numpy state before the call must not matter
    _assert_split_equal(a, data.mnist1d(num_samples=200, seed=3))
    b = data.mnist1d(num_samples=200, seed=4)
    assert not torch.equal(a.x_train, b.x_train)


def test_mnist1d_leaves_numpy_global_random_state_alone():
    pytest.importorskip("mnist1d")
    np.random.seed(1234)
    expected = np.random.rand(3)
    np.random.seed(1234)
    data.mnist1d(num_samples=50, seed=7)
    np.testing.assert_array_equal(np.random.rand(3), expected)


def test_mnist1d_leaves_python_global_random_state_alone():
    pytest.importorskip("mnist1d")
    random.seed(1234)
    expected = [random.random() for _ in range(3)]
    random.seed(1234)
    data.mnist1d(num_samples=50, seed=7)
    assert [random.random() for _ in range(3)] == expected


# ------------------------------------------------------------------ spirals
def test_spirals_shapes_and_two_classes():
    s = data.spirals()
    assert s.x_train.shape == (200, 2) and s.x_test.shape == (1800, 2)
    assert s.y_train.shape == (200,) and s.y_test.shape == (1800,)
    assert s.x_train.dtype == torch.float32 and s.y_train.dtype == torch.int64
    assert s.num_classes == 2 and set(s.y_test.tolist()) == {0, 1}
    assert 0.35 < s.y_test.float().mean() < 0.65  # both arms well represented
    small = data.spirals(n_train=10, n_test=4)
    assert small.x_train.shape == (10, 2) and small.x_test.shape == (4, 2)


def test_spirals_geometry_without_noise():
    s = data.spirals(noise=0.0, n_train=50, n_test=50)
    x = torch.cat([s.x_train, s.x_test]).double()
    y = torch.cat([s.y_train, s.y_test])
    r = x.norm(dim=1)
    assert r.max() <= 3.0 + 1e-5
    # the two arms are the same spiral half a turn apart: angle = t + pi * arm with t = r / 3 * rotation
    t = r / 3.0 * math.radians(720.0)
    angle = t + math.pi * y.double()
    torch.testing.assert_close(x, torch.stack([r * torch.cos(angle), r * torch.sin(angle)], 1),
                               atol=1e-4, rtol=0)


def test_spirals_deterministic_by_seed():
    _assert_split_equal(data.spirals(seed=5), data.spirals(seed=5))
    assert not torch.equal(data.spirals(seed=5).x_train, data.spirals(seed=6).x_train)


# ------------------------------------------------------------------ loader
def _xy(n=10):
    return torch.arange(n, dtype=torch.float32)[:, None], torch.arange(n)


def test_loader_batch_sizes_and_coverage():
    x, y = _xy(10)
    batches = list(data.loader(x, y, 4, seed=0))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat([b[1] for b in batches]).tolist()) == list(range(10))
    for bx, by in batches:  # pairs stay together
        assert torch.equal(bx[:, 0].long(), by)
    assert [len(b[1]) for b in data.loader(x, y, 4, drop_last=True)] == [4, 4]
    assert torch.equal(torch.cat([b[1] for b in data.loader(x, y, 3, shuffle=False)]), y)


def test_loader_order_is_decided_by_the_seed():
    x, y = _xy(64)
    order = lambda **kw: torch.cat([b[1] for b in data.loader(x, y, 8, **kw)]).tolist()
    assert order(seed=3) == order(seed=3)
    assert order(seed=3) != order(seed=4)
    assert order(seed=3) != list(range(64))  # actually shuffled
    epochs = data.loader(x, y, 8, seed=3)
    first, second = [torch.cat([b[1] for b in epochs]).tolist() for _ in range(2)]
    assert first == order(seed=3) and second != first  # a new order every epoch, reproducibly


def test_loader_bad_batch_size_raises_value_error():
    x, y = _xy(4)
    with pytest.raises(ValueError):  # ParameterError is a ValueError too
        data.loader(x, y, 0)


# ------------------------------------------------------------------ bad parameters
@pytest.mark.parametrize("call, culprit", [
    (lambda: data.digits(test_fraction=0.0), "test_fraction"),
    (lambda: data.digits(test_fraction=1.0), "test_fraction"),
    (lambda: data.digits(test_fraction=-0.5), "test_fraction"),
    (lambda: data.mnist1d(num_samples=5), "num_samples"),
    (lambda: data.mnist1d(num_samples=100.0), "num_samples"),
    (lambda: data.spirals(n_train=1), "n_train"),
    (lambda: data.spirals(n_test=0), "n_test"),
], ids=["digits-tf-0", "digits-tf-1", "digits-tf-neg", "mnist1d-n-5", "mnist1d-n-float",
        "spirals-train-1", "spirals-test-0"])
def test_bad_parameters_raise_parameter_error(call, culprit):
    with pytest.raises(ParameterError, match=culprit):
        call()


@pytest.mark.parametrize("call", [
    pytest.param(lambda: data.mnist1d(num_samples=100, train_fraction=1.5), id="mnist1d-train_fraction-1.5"),
    pytest.param(lambda: data.mnist1d(num_samples=100, train_fraction=0.0), id="mnist1d-train_fraction-0"),
    pytest.param(lambda: data.spirals(noise=-1.0), id="spirals-noise-negative"),
    pytest.param(lambda: data.spirals(rotation=0.0), id="spirals-rotation-0",
                 marks=pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")),
    pytest.param(lambda: data.digits(test_fraction=1e-4), id="digits-empty-test-split"),
])
def test_unvalidated_parameters_raise_parameter_error(call):
    pytest.importorskip("mnist1d")
    with pytest.raises(ParameterError):
        call()
