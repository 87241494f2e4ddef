"""Images: a folder layout (Pillow, or torchvision when installed), CIFAR-style arrays, augmentation,
and a model trained from a tiny folder of generated images."""

import sys
import types

import numpy as np
import pytest
import torch

from graphwire import data, generators, models
from graphwire.errors import ParameterError
from graphwire.train import evaluate, fit, recalibrate_bn

PIL = pytest.importorskip("PIL.Image")

COLOURS = {"blue": (20, 40, 220), "red": (230, 30, 10)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """root/<class>/<k>.png: 6 noisy 12 x 12 images per class, the class in the dominant colour."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for name, colour in COLOURS.items():
        (root / name).mkdir()
        for k in range(6):
            a = np.clip(np.array(colour)[None, None] + rng.integers(-20, 20, (12, 12, 3)), 0, 255).astype(np.uint8)
            PIL.fromarray(a).save(root / name / f"{k}.png")
    (root / "red" / "notes.txt").write_text("not an image")
    return root


def test_image_folder_reads_classes_in_sorted_order(folder):
    ds = data.image_folder(folder, backend="pillow")
    assert ds.classes == ["blue", "red"] and len(ds) == 12
    x, y = ds[0]
    raw = np.array(PIL.open(folder / "blue" / "0.png"))
    assert y == 0 and x.shape == (3, 12, 12) and x.dtype == torch.float32
    torch.testing.assert_close(x, torch.from_numpy(raw).permute(2, 0, 1).float() / 255)
    assert ds[6][1] == 1 and ds[6][0][0].mean() > ds[6][0][2].mean()  # red images are red
    small = data.image_folder(folder, backend="pillow", image_size=8, grayscale=True)
    assert small[0][0].shape == (1, 8, 8)


def test_image_folder_auto_uses_pillow_without_torchvision(folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    assert isinstance(data.image_folder(folder), data.ImageFolder)
    with pytest.raises(ImportError, match="needs torchvision"):
        data.image_folder(folder, backend="torchvision")


def test_image_folder_goes_through_torchvision_when_installed(folder, monkeypatch):
    """torchvision's ImageFolder (here a stand-in with its listing, loader and transform calls)
    gets graphwire's loader and transform, and yields what the Pillow reader yields."""
    calls = {}

    class FakeImageFolder:
        def __init__(self, root, transform=None, loader=None):
            calls["root"] = root
            self.classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
            self.samples = [(str(p), i) for i, c in enumerate(self.classes) for p in sorted((folder / c).glob("*.png"))]
            self.transform, self.loader = transform, loader

        def __getitem__(self, i):
            path, target = self.samples[i]
            return self.transform(self.loader(path)), target

    fake = types.ModuleType("torchvision")
    fake.datasets = types.ModuleType("torchvision.datasets")
    fake.datasets.ImageFolder = FakeImageFolder
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", fake.datasets)
    tv = data.image_folder(folder, image_size=8)
    assert isinstance(tv, FakeImageFolder) and calls["root"] == str(folder)
    ref = data.image_folder(folder, image_size=8, backend="pillow")
    for i in (0, 7):
        torch.testing.assert_close(tv[i][0], ref[i][0])
        assert tv[i][1] == ref[i][1]


def test_image_folder_bad_input(tmp_path, folder):
    with pytest.raises(ParameterError, match="is not a directory"):
        data.image_folder(tmp_path / "missing", backend="pillow")
    with pytest.raises(ParameterError, match="has no class folders"):
        data.image_folder(tmp_path, backend="pillow")
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(ParameterError, match="no image files"):
        data.image_folder(tmp_path, backend="pillow")
    with pytest.raises(ParameterError, match="backend must be"):
        data.image_folder(folder, backend="opencv")
    with pytest.raises(ParameterError, match="image_size must be"):
        data.image_folder(folder, image_size=0)


def test_image_arrays_cifar_style_layouts():
    rng = np.random.default_rng(0)
    hwc = rng.integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)
    ds = data.image_arrays(hwc, np.arange(5))
    x, y = ds[2]
    assert x.shape == (3, 6, 7) and int(y) == 2
    torch.testing.assert_close(x, torch.from_numpy(hwc[2]).permute(2, 0, 1).float() / 255)
    grey = data.image_arrays(hwc[..., 0], np.arange(5))
    assert grey[0][0].shape == (1, 6, 7)
    floats = data.image_arrays(torch.rand(5, 2, 4, 4), torch.arange(5))
    assert floats[1][0].shape == (2, 4, 4)
    with pytest.raises(ParameterError, match="y must be"):
        data.image_arrays(hwc, np.arange(4))
    with pytest.raises(ParameterError, match="x must be"):
        data.image_arrays(np.zeros((5, 3)), np.arange(5))


def test_augmentation_crops_padded_images_and_flips():
    x = torch.arange(16.0).reshape(1, 4, 4)
    torch.manual_seed(0)
    crops = [data.RandomCrop(4, padding=2)(x) for _ in range(50)]
    assert all(c.shape == (1, 4, 4) for c in crops)
    assert any(not torch.equal(c, x) for c in crops)  # shifted copies, zeros shifted in
    assert all(set(c.unique().tolist()) <= set(x.unique().tolist()) | {0.0} for c in crops)
    torch.manual_seed(0)
    again = [data.RandomCrop(4, padding=2)(x) for _ in range(50)]
    assert all(torch.equal(a, b) for a, b in zip(crops, again))  # seeded: the same crops
    flips = [data.RandomHorizontalFlip()(x) for _ in range(40)]
    assert any(torch.equal(f, x.flip(-1)) for f in flips) and any(torch.equal(f, x) for f in flips)
    norm = data.augmentation(4, padding=0, flip=False, mean=[1.0], std=[2.0])(x)
    torch.testing.assert_close(norm, (x - 1) / 2)
    with pytest.raises(ParameterError, match="give both mean and std"):
        data.augmentation(4, mean=[0.5])
    with pytest.raises(ParameterError, match="does not fit"):
        data.RandomCrop(8)(x)


def test_a_model_trains_from_an_image_folder(folder):
    torch.manual_seed(0)
    train = data.image_folder(folder, backend="pillow", transform=data.augmentation(12, padding=2))
    test = data.image_folder(folder, backend="pillow")
    m = models.wired_conv2d(generators.chain(2), in_channels=3, num_classes=2, channels=8)
    before = evaluate(m, data.dataset_loader(test, 12, shuffle=False))
    h = fit(m, data.dataset_loader(train, 4, seed=1), 6, lr=0.05, progress=False, label_smoothing=0.1)
    assert len(h.epochs) == 6 and h.epochs[-1]["loss"] < h.epochs[0]["loss"]
    recalibrate_bn(m, data.dataset_loader(test, 12, shuffle=False))
    after = evaluate(m, data.dataset_loader(test, 12, shuffle=False))
    assert after["acc"] == 1.0 and after["loss"] < before["loss"]


def test_dataset_loader_bad_input(folder):
    with pytest.raises(ParameterError, match="must be a torch Dataset"):
        data.dataset_loader([1, 2, 3])
    with pytest.raises(ParameterError, match="batch_size"):
        data.dataset_loader(data.image_folder(folder, backend="pillow"), 0)
