"""Local data only: scikit-learn's bundled digits, MNIST-1D generated on the spot, spirals.

Nothing here touches the network: digits ship inside scikit-learn, MNIST-1D is produced by its
reference generator (``mnist1d.data.make_dataset``) from the templates in the package.
"""

from __future__ import annotations

import math
import random
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from .errors import ParameterError

__all__ = ["Split", "digits", "mnist1d", "spirals", "loader"]


class Split(NamedTuple):
    """Train and test tensors: ``x_train [N, ...] float32``, ``y_train [N] int64``, and the same for test."""
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def num_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def _need(module: str, extra: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{module} is needed here: pip install 'graphwire[{extra}]'") from None


def _shuffle_split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> Split:
    if not 0.0 < test_fraction < 1.0:
        raise ParameterError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    if not 0 < n_test < len(y):
        raise ParameterError(f"test_fraction={test_fraction!r} leaves an empty split of {len(y)} samples")
    te, tr = order[:n_test], order[n_test:]
    t = lambda a, dt: torch.as_tensor(np.ascontiguousarray(a), dtype=dt)
    return Split(t(x[tr], torch.float32), t(y[tr], torch.long), t(x[te], torch.float32), t(y[te], torch.long))


def digits(*, test_fraction: float = 0.25, seed: int = 0, flat: bool = False) -> Split:
    """scikit-learn's 1,797 8x8 handwritten digits (bundled), scaled to [0, 1].

    Images are ``[N, 1, 8, 8]`` (or ``[N, 64]`` with ``flat=True``).

    >>> s = digits()
    >>> s.x_train.shape, s.num_classes
    (torch.Size([1348, 1, 8, 8]), 10)
    """
    datasets = _need("sklearn.datasets", "data")
    d = datasets.load_digits()
    x = d.images.astype(np.float32) / 16.0
    x = x.reshape(len(x), -1) if flat else x[:, None]
    return _shuffle_split(x, d.target, test_fraction, seed)


def mnist1d(*, num_samples: int = 5000, seed: int = 42, train_fraction: float = 0.8) -> Split:
    """MNIST-1D (Greydanus 2020) generated locally: ``[N, 1, 40]`` sequences, 10 classes.

    The defaults reproduce the reference dataset's generation settings (5,000 samples, seed 42).
    numpy's global random state is restored afterwards (the generator seeds it).
    """
    data = _need("mnist1d.data", "data")
    if not isinstance(num_samples, int) or num_samples < 10:
        raise ParameterError(f"num_samples must be an int >= 10, got {num_samples!r}")
    if not 0.0 < train_fraction < 1.0 or not 0 < int(num_samples // 10 * 10 * train_fraction) < num_samples // 10 * 10:
        raise ParameterError(f"train_fraction must leave both splits non-empty, got {train_fraction!r}")
    args = data.get_dataset_args()
    args.num_samples, args.seed, args.train_split = num_samples, seed, train_fraction
    np_state, py_state = np.random.get_state(), random.getstate()  # the generator reseeds both
    try:
        d = data.make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    f = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)[:, None]
    return Split(f(d["x"]), torch.as_tensor(d["y"], dtype=torch.long), f(d["x_test"]),
                 torch.as_tensor(d["y_test"], dtype=torch.long))


def spirals(*, n_train: int = 200, n_test: int = 1800, noise: float = 0.2, rotation: float = 720.0,
            seed: int = 0, n_arms: int = 2, standardize: bool = False) -> Split:
    """Interleaved spiral arms, the depth-search paper's toy task: ``[N, 2]`` inputs, ``n_arms`` classes.

    The reference generator (``src/datasets.py`` of the depth-search code, after DatCorno's
    N-Arm-Spiral-Dataset): ``n_train + n_test`` points split evenly over the arms; on an arm the
    angle is ``t = sqrt(U) * rotation`` (radians, ``U ~ U(0, 1)``), the point ``(t cos t, t sin t)``
    plus per-coordinate noise ``noise * U(0, 1)`` (uniform and non-centred, as in that code), and
    arm ``k`` is then rotated by ``360 / n_arms * k`` degrees. The points are shuffled and split
    (the reference: 2,000 points, 200 train / 1,800 test, 720 degrees, noise 0.2). Coordinates are
    divided by ``rotation_in_radians / 3`` so the noiseless outer radius is 3 (a global scale);
    ``standardize=True`` applies the reference's standardisation with the training mean and std.
    """
    if n_train < 2 or n_test < 2:
        raise ParameterError(f"n_train and n_test must be >= 2, got {n_train}, {n_test}")
    if not (isinstance(noise, (int, float)) and math.isfinite(noise) and noise >= 0):
        raise ParameterError(f"noise must be a finite number >= 0, got {noise!r}")
    if not (isinstance(rotation, (int, float)) and math.isfinite(rotation) and rotation > 0):
        raise ParameterError(f"rotation must be a positive number of degrees, got {rotation!r}")
    if isinstance(n_arms, bool) or not isinstance(n_arms, int) or n_arms < 2:
        raise ParameterError(f"n_arms must be an integer >= 2, got {n_arms!r}")
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    arm = np.repeat(np.arange(n_arms), [n // n_arms + (k < n % n_arms) for k in range(n_arms)])
    stop = math.radians(rotation)
    t = np.sqrt(rng.uniform(0, 1, n)) * stop
    pts = np.stack([t * np.cos(t), t * np.sin(t)], 1) + noise * rng.uniform(0, 1, (n, 2))
    theta = 2 * np.pi * arm / n_arms
    c, s = np.cos(theta), np.sin(theta)
    x = np.stack([c * pts[:, 0] - s * pts[:, 1], s * pts[:, 0] + c * pts[:, 1]], 1) * (3.0 / stop)
    order = rng.permutation(n)
    x, arm = x[order].astype(np.float32), arm[order].astype(np.int64)
    if standardize:
        mu, sd = x[:n_train].mean(0), x[:n_train].std(0)
        x = ((x - mu) / np.where(sd > 0, sd, 1.0)).astype(np.float32)
    return Split(torch.from_numpy(x[:n_train].copy()), torch.from_numpy(arm[:n_train].copy()),
                 torch.from_numpy(x[n_train:].copy()), torch.from_numpy(arm[n_train:].copy()))


def loader(x: torch.Tensor, y: torch.Tensor, batch_size: int = 64, *, shuffle: bool = True,
           seed: int = 0, drop_last: bool = False) -> DataLoader:
    """A seeded ``DataLoader`` over tensors (same batches on every run)."""
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise ParameterError(f"loader: {name} must be a torch.Tensor, got {type(t).__name__} "
                                 f"(convert with torch.as_tensor({name}))")
    if len(x) != len(y):
        raise ParameterError(f"loader: x and y must have the same length, got {len(x)} and {len(y)}")
    if len(x) == 0:
        raise ParameterError("loader: x and y are empty")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"loader: batch_size must be a positive integer, got {batch_size!r}")
    g = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, generator=g,
                      drop_last=drop_last)
