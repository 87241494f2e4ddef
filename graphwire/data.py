"""Local data only: scikit-learn's bundled digits, MNIST-1D generated on the spot, spirals, and
your own images (an image-folder layout or CIFAR-style arrays) with the usual augmentation.

Nothing here touches the network: digits ship inside scikit-learn, MNIST-1D is produced by its
reference generator (``mnist1d.data.make_dataset``) from the templates in the package, and image
folders are read from disk (through torchvision when it is installed, else with Pillow).
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from .errors import ParameterError

__all__ = ["Split", "digits", "mnist1d", "spirals", "loader", "image_folder", "ImageFolder", "image_arrays",
           "ImageArrays", "RandomCrop", "RandomHorizontalFlip", "Normalize", "Compose", "augmentation",
           "dataset_loader", "IMAGE_EXTENSIONS", "CIFAR10_MEAN", "CIFAR10_STD", "IMAGENET_MEAN", "IMAGENET_STD"]


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


# ------------------------------------------------------------------ images
#: File endings read as images by :func:`image_folder`.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
#: Per-channel mean and standard deviation of CIFAR-10's training images (as DARTS normalises them).
CIFAR10_MEAN, CIFAR10_STD = (0.49139968, 0.48215827, 0.44653124), (0.24703233, 0.24348505, 0.26158768)
#: ImageNet's per-channel mean and standard deviation (the usual normalisation).
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class RandomCrop:
    """Zero-pad an image ``[C, H, W]`` by ``padding`` on each side, then cut a random ``size`` crop
    (torch's global random state: seeded runs repeat, and ``fit``'s checkpoints capture it)."""

    def __init__(self, size: int | tuple[int, int], padding: int = 0):
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        if len(self.size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in self.size):
            raise ParameterError(f"RandomCrop: size must be a positive int or (height, width), got {size!r}")
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ParameterError(f"RandomCrop: padding must be an int >= 0, got {padding!r}")
        self.padding = padding

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding:
            x = torch.nn.functional.pad(x, (self.padding,) * 4)
        h, w = x.shape[-2:]
        th, tw = self.size
        if h < th or w < tw:
            raise ParameterError(f"RandomCrop: a {th}x{tw} crop does not fit a padded {h}x{w} image")
        i = int(torch.randint(0, h - th + 1, (1,)))
        j = int(torch.randint(0, w - tw + 1, (1,)))
        return x[..., i:i + th, j:j + tw]

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror an image left-right with probability ``p`` (torch's global random state)."""

    def __init__(self, p: float = 0.5):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ParameterError(f"RandomHorizontalFlip: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(-1) if float(torch.rand(())) < self.p else x

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Normalize:
    """``(x - mean) / std`` per channel."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        if len(mean) != len(std) or not all(s > 0 for s in std):
            raise ParameterError(f"Normalize: mean and std need one value per channel (std > 0), got {mean!r}, {std!r}")
        self.mean = torch.tensor(mean, dtype=torch.float32)[:, None, None]
        self.std = torch.tensor(std, dtype=torch.float32)[:, None, None]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != self.mean.shape[0]:
            raise ParameterError(f"Normalize: {self.mean.shape[0]} channel statistics for an image of "
                                 f"{x.shape[0]} channels")
        return (x - self.mean) / self.std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()})"


def augmentation(size: int | tuple[int, int], *, padding: int = 4, flip: bool = True,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> Compose:
    """The usual training augmentation: random ``size`` crop of the image zero-padded by ``padding``,
    random horizontal flip, then (with ``mean`` and ``std``) normalisation.

    >>> t = augmentation(32, padding=4)
    >>> t(torch.zeros(3, 32, 32)).shape
    torch.Size([3, 32, 32])
    """
    steps: list = [RandomCrop(size, padding)]
    if flip:
        steps.append(RandomHorizontalFlip())
    if mean is not None or std is not None:
        if mean is None or std is None:
            raise ParameterError("augmentation: give both mean and std (or neither)")
        steps.append(Normalize(mean, std))
    return Compose(steps)


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("reading image files needs Pillow (pip install pillow) or torchvision "
                          "(pip install 'graphwire[vision]')") from None
    return Image


def _to_tensor(img, image_size: int | tuple | None, mode: str) -> torch.Tensor:
    img = img.convert(mode)
    if image_size is not None:
        img = img.resize((image_size, image_size) if isinstance(image_size, int) else tuple(image_size)[::-1],
                         _pil().BILINEAR)
    a = np.array(img, dtype=np.uint8)  # a writable copy
    a = a[:, :, None] if a.ndim == 2 else a
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float().div_(255.0)


def _check_image_size(image_size) -> None:
    if image_size is None:
        return
    sizes = (image_size,) if isinstance(image_size, int) else tuple(image_size) \
        if isinstance(image_size, (tuple, list)) else (None,)
    if len(sizes) not in (1, 2) or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes):
        raise ParameterError(f"image_size must be a positive int or (height, width), got {image_size!r}")


class ImageFolder(Dataset):
    """Images in ``root/<class name>/<file>`` (torchvision's ``ImageFolder`` layout), read with
    Pillow: items are ``(x [C, H, W] float in [0, 1], label)``, classes numbered in sorted
    folder-name order. ``image_size`` resizes every image (bilinear); ``grayscale`` reads one
    channel instead of RGB; ``transform`` runs on the tensor (e.g. :func:`augmentation`)."""

    def __init__(self, root: str | os.PathLike, *, image_size: int | tuple | None = None,
                 transform: Callable | None = None, grayscale: bool = False):
        _check_image_size(image_size)
        self.root = Path(os.fspath(root))
        if not self.root.is_dir():
            raise ParameterError(f"image_folder: {os.fspath(root)!r} is not a directory")
        self.classes = sorted(d.name for d in self.root.iterdir() if d.is_dir() and not d.name.startswith("."))
        if not self.classes:
            raise ParameterError(f"image_folder: {os.fspath(root)!r} has no class folders "
                                 "(expected root/<class>/<image files>)")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples: list[tuple[str, int]] = []
        for c in self.classes:
            for dirpath, dirnames, files in sorted(os.walk(self.root / c)):
                dirnames.sort()
                for f in sorted(files):
                    if f.lower().endswith(IMAGE_EXTENSIONS):
                        self.samples.append((os.path.join(dirpath, f), self.class_to_idx[c]))
        if not self.samples:
            raise ParameterError(f"image_folder: no image files ({', '.join(IMAGE_EXTENSIONS)}) under "
                                 f"{os.fspath(root)!r}")
        self.targets = [t for _, t in self.samples]
        self.image_size, self.transform, self.mode = image_size, transform, "L" if grayscale else "RGB"

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        path, target = self.samples[i]
        with _pil().open(path) as img:
            x = _to_tensor(img, self.image_size, self.mode)
        return (self.transform(x) if self.transform is not None else x), target


def image_folder(root: str | os.PathLike, *, image_size: int | tuple | None = None,
                 transform: Callable | None = None, grayscale: bool = False, backend: str = "auto") -> Dataset:
    """A dataset of the images in ``root/<class name>/<file>``: items ``(x [C, H, W] float in [0, 1],
    label)``. ``backend="torchvision"`` reads them with ``torchvision.datasets.ImageFolder`` (imported
    only here), ``"pillow"`` with :class:`ImageFolder`; ``"auto"`` (default) takes torchvision when it
    is installed. Both give the same tensors and labels. Nothing is downloaded."""
    _check_image_size(image_size)
    if backend not in ("auto", "torchvision", "pillow"):
        raise ParameterError(f"image_folder: backend must be 'auto', 'torchvision' or 'pillow', got {backend!r}")
    tv = None
    if backend != "pillow":
        try:
            import torchvision.datasets as tv
        except ImportError:
            if backend == "torchvision":
                raise ImportError("image_folder(backend='torchvision') needs torchvision: "
                                  "pip install 'graphwire[vision]'") from None
    if tv is None:
        return ImageFolder(root, image_size=image_size, transform=transform, grayscale=grayscale)
    if not Path(os.fspath(root)).is_dir():
        raise ParameterError(f"image_folder: {os.fspath(root)!r} is not a directory")
    mode = "L" if grayscale else "RGB"

    def load(img):
        x = _to_tensor(img, image_size, mode)
        return transform(x) if transform is not None else x

    return tv.ImageFolder(os.fspath(root), transform=load, loader=_pil().open)


class ImageArrays(Dataset):
    """Images held in memory, CIFAR-style: ``x`` ``[N, H, W, C]`` uint8 (as the CIFAR arrays come),
    ``[N, H, W]`` grey, or ``[N, C, H, W]`` floats already in [0, 1]; labels ``y`` ``[N]``. Items are
    ``(x [C, H, W] float32, label)`` after ``transform``."""

    def __init__(self, x: Any, y: Any, *, transform: Callable | None = None):
        x = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
        y = torch.as_tensor(np.asarray(y)) if not isinstance(y, torch.Tensor) else y
        if x.dim() == 3:
            x = x[..., None] if x.dtype == torch.uint8 else x[:, None]
        if x.dim() != 4:
            raise ParameterError(f"image_arrays: x must be [N, H, W, C] uint8, [N, H, W] or [N, C, H, W] floats, "
                                 f"got shape {list(x.shape)}")
        if x.dtype == torch.uint8:
            x = x.permute(0, 3, 1, 2).contiguous()
        elif not x.is_floating_point():
            raise ParameterError(f"image_arrays: x must be uint8 (0..255) or floating point (0..1), got {x.dtype}")
        if y.dim() != 1 or len(y) != len(x) or y.is_floating_point():
            raise ParameterError(f"image_arrays: y must be [N] integer labels for the {len(x)} images, "
                                 f"got {y.dtype} of shape {list(y.shape)}")
        if len(x) == 0:
            raise ParameterError("image_arrays: no images")
        self.x, self.y, self.transform = x, y.long(), transform

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        x = self.x[i]
        x = x.float().div(255.0) if x.dtype == torch.uint8 else x.float()
        return (self.transform(x) if self.transform is not None else x), self.y[i]


def image_arrays(x: Any, y: Any, *, transform: Callable | None = None) -> ImageArrays:
    """CIFAR-style arrays as a dataset (see :class:`ImageArrays`).

    >>> ds = image_arrays(np.zeros((4, 32, 32, 3), np.uint8), [0, 1, 2, 3], transform=augmentation(32))
    >>> ds[0][0].shape, int(ds[3][1])
    (torch.Size([3, 32, 32]), 3)
    """
    return ImageArrays(x, y, transform=transform)


def dataset_loader(dataset: Dataset, batch_size: int = 64, *, shuffle: bool = True, seed: int = 0,
                   num_workers: int = 0, drop_last: bool = False) -> DataLoader:
    """A seeded ``DataLoader`` over any dataset (the same batches on every run; ``fit``'s
    checkpoints save its generator, so a resumed run sees the same data order)."""
    if not isinstance(dataset, Dataset):
        raise ParameterError(f"dataset_loader: dataset must be a torch Dataset, got {type(dataset).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"dataset_loader: batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ParameterError(f"dataset_loader: num_workers must be an integer >= 0, got {num_workers!r}")
    g = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=g, num_workers=num_workers,
                      drop_last=drop_last)
